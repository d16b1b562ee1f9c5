"""After the consultation: the signed report sent to the patient's médecin traitant and to the requester, the
follow-up the practitioner orders, and the billing context shown to the practitioner (the act code, the care-pathway
flags, the yearly teleconsultation share).

Sending the report (CSP R6316-4, avenant 9: established by the teleconsulting doctor and sent to the médecin traitant
and the requesting doctor; DOMAIN.md §2.1 and §4) happens when it is signed: the médecin traitant declared on the
patient's record, when they have an account, gets a care relationship for the appointment (``attending``, so the PDF
opens for them through ``authz``) and both get a notice (in-app, and an email with a link only). The médecin
traitant then reads the appointment's page like its requester (``repo.appointment_readers``), audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind
from maillage.exceptions import Conflict, PermissionDenied, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.models.teleconsultation import TeleconsultationActivity, TeleconsultationAppointment
from maillage.patient import labels as patient_labels
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.teleconsultation import availability, booking, notices, pathway, rules
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import FollowUp

NOTE_MAX = 2000


def act_code_for(session: Session, practitioner_id: uuid.UUID) -> str:
    """TCG or TC, from the practitioner's conventional fee sector in the directory."""
    professional = repo.professional_of(session, practitioner_id)
    return pathway.act_code(professional.fee_sector if professional else None)


def send_report(session: Session, actor: Actor, appt: TeleconsultationAppointment) -> set[uuid.UUID]:
    """Address the signed report to the médecin traitant and the requester (called when it is signed); returns the
    accounts notified. Once per appointment (a conditional UPDATE on ``report_sent_at``)."""
    if appt.report_signed_at is None:
        raise Conflict("Le compte rendu n'est pas signé.")
    at = now()
    if not repo.stamp_once(session, appt.id, "report_sent_at", at):
        return set()
    session.refresh(appt)
    attending = repo.attending_account_ids(session, appt.patient_id)
    for user_id in sorted(attending - {appt.practitioner_id, appt.requester_id}):
        authz.grant_relationship(
            session,
            user_id=user_id,
            patient_id=appt.patient_id,
            kind=RelationshipKind.ATTENDING,
            source_type=booking.SOURCE_TYPE,
            source_id=str(appt.id),
        )
    recipients = (attending | {appt.requester_id}) - {appt.practitioner_id}
    notices.notify(session, recipients, appt.id, "report_sent")
    notices.event(session, appt.id, "report_sent", actor.user_id)
    return recipients


@dataclass(frozen=True)
class FollowUpIn:
    kind: str
    note: str = ""


def order_follow_up(
    session: Session,
    actor: Actor,
    appointment_id: uuid.UUID | str,
    data: FollowUpIn,
    context: AuditContext | None = None,
) -> TeleconsultationAppointment:
    """The practitioner orders what comes next (another teleconsultation to book, an in-person consultation, a
    tele-expertise request), once the consultation is done; recorded with the appointment (the note sealed) and
    shown to the requester, who gets a notice."""
    appt = booking.load(session, actor, appointment_id, action="update", context=context)
    if appt.practitioner_id != actor.user_id:
        raise PermissionDenied("Seul le praticien de la téléconsultation demande une suite.")
    kind = rules.follow_up_kind(data.kind)
    rules.check_follow_up(rules.Status(appt.status), already=appt.follow_up_kind)
    note = " ".join(data.note.split())
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            f"Précision trop longue ({NOTE_MAX} caractères au plus).",
            details=[{"field": "note", "message": "Trop long."}],
        )
    at = now()
    if not repo.stamp_once(session, appt.id, "follow_up_at", at):  # of two concurrent orders, one wins
        raise Conflict("Une suite est déjà demandée pour cette téléconsultation.")
    session.refresh(appt)
    appt.follow_up_kind = kind.value
    appt.follow_up_note = note or None  # sealed: written through the ORM
    appt.updated_at = at
    session.flush()
    notices.notify(session, [appt.requester_id], appt.id, "follow_up")
    notices.event(session, appt.id, "follow_up", actor.user_id)
    return appt


# --- What the practitioner sees: act code, pathway flags, yearly share ---------------------------------------------


def flags_of(session: Session, appt: TeleconsultationAppointment) -> list[pathway.Flag]:
    """The care-pathway exceptions of an appointment (never blocking). Detainee and EHPAD resident are read from
    the requester's establishments (a USMP or an EHPAD books for its own patients)."""
    patient = patient_labels.pathway_facts_for_audited_acts(session, [appt.patient_id]).get(appt.patient_id)
    line = repo.line(session, appt.line_id)
    if patient is None:
        return []
    kinds = repo.establishment_kinds_of(session, appt.requester_id)
    return pathway.pathway_flags(
        specialty_code=line.specialty_code if line else None,
        birth_date=patient.birth_date,
        on=appt.starts_at.astimezone(rules.PARIS).date(),
        detainee="usmp" in kinds,
        ehpad_resident="ehpad" in kinds,
        has_attending=patient.attending_professional_id is not None,
    )


def share_of(session: Session, actor: Actor, year: int | None = None) -> pathway.Share:
    """The actor's teleconsultation share of a calendar year (by default the current one)."""
    availability.need_run(actor)
    year = year or today_paris().year
    acts = repo.acts_of_year(session, actor.user_id, year)
    excluded = sum(1 for _, own in acts if own)
    declared = repo.activity(session, actor.user_id, year)
    professional = repo.professional_of(session, actor.user_id)
    return pathway.yearly_share(
        year=year,
        platform_counted=len(acts) - excluded,
        platform_excluded=excluded,
        declared_in_person=declared.in_person_count if declared else None,
        declared_other_teleconsultations=declared.other_teleconsultations if declared else 0,
        specialty_code=professional.specialty_code if professional else None,
    )


YEAR_MIN = 2018  # teleconsultation reimbursed since 15 September 2018
COUNT_MAX = 1_000_000


def declare_activity(
    session: Session, actor: Actor, *, year: int, in_person: int, other_teleconsultations: int = 0
) -> TeleconsultationActivity:
    """The practitioner declares the year's in-person consultations (and teleconsultations made elsewhere), which the
    platform cannot see; a later declaration replaces the earlier one."""
    availability.need_run(actor)
    if not YEAR_MIN <= year <= today_paris().year:
        raise ValidationFailed("Année hors bornes.", details=[{"field": "year", "message": "Année invalide."}])
    for field, value in (("in_person", in_person), ("other_teleconsultations", other_teleconsultations)):
        if not 0 <= value <= COUNT_MAX:
            raise ValidationFailed(
                "Indiquez un nombre d'actes positif ou nul.", details=[{"field": field, "message": "Nombre invalide."}]
            )
    row = repo.activity(session, actor.user_id, year)
    if row is None:
        row = TeleconsultationActivity(
            user_id=actor.user_id,
            year=year,
            in_person_count=in_person,
            other_teleconsultations=other_teleconsultations,
            declared_at=now(),
        )
        session.add(row)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise Conflict("Une déclaration vient d'être enregistrée : rechargez la page.") from None
        return row
    row.in_person_count, row.other_teleconsultations, row.declared_at = in_person, other_teleconsultations, now()
    session.flush()
    return row


@dataclass(frozen=True)
class TimelineLine:
    at: dt.datetime
    label: str
    other_appointment_id: uuid.UUID | None


def timeline(session: Session, appt: TeleconsultationAppointment) -> list[TimelineLine]:
    """The appointment's timeline (its access was checked by whoever loaded it)."""
    return [
        TimelineLine(e.at, notices.EVENT_LABELS.get(e.kind, e.kind), e.other_appointment_id)
        for e in repo.events_of(session, [appt.id])
    ]


def page_context(session: Session, actor: Actor, appt: TeleconsultationAppointment) -> dict[str, object]:
    """What the appointment's page shows of scheduling and after-care (the appointment was loaded through authz)."""
    notices.mark_read(session, actor, appt.id)
    is_practitioner = appt.practitioner_id == actor.user_id
    return {
        "timeline": timeline(session, appt),
        "follow_up_labels": FollowUp.labels(),
        "pathway_flags": flags_of(session, appt) if is_practitioner else [],
        "act_code": act_code_for(session, appt.practitioner_id) if is_practitioner else None,
        "can_reschedule": appt.status in ("booked", "waiting"),
        "reschedule_slots": (
            availability.free_slots(
                session, appt.practitioner_id, line_id=appt.line_id, first_day=today_paris(), days=14
            )[:40]
            if appt.status in ("booked", "waiting")
            else []
        ),
    }
