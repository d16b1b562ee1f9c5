"""Assisted and escorted teleconsultations: a nurse beside the patient (an EHPAD resident, a patient at home, a
detainee escorted to the USMP's room) opens the patient's side of the room from their own account and device.

- The nurse is named when booking (``book_assisted``) or later (``name_nurse``), with the accompaniment code
  (``rules.Assistance``: TLS during a planned visit, TLL in a dedicated place, TLD at a home visit organised for it).
  The nurse must already care for the patient. The patient then has no link: none is issued, the earlier ones stop
  and ``booking.new_link`` refuses.
- A booking may hold a place of the booker's establishment (``places``): the USMP books its own room, which must be
  open and free over the slot.
- The nurse records the patient's consent on their behalf (``consent``: who recorded it is kept), which brings the
  patient to the waiting room; the room admits the nurse on the patient's side (``enter_room``) within the window a
  patient's link would have (``rules.assisted_refusal``).
- When the consultation ends the nurse's act is recorded for them (``acts.record_assistance``); a consultation held
  in an establishment's room sends its report to that establishment's physicians too (``report_recipients``).

Who reaches an assisted appointment: its requester, its practitioner and its nurse (``booking.parties``); anyone
else gets NotFound, audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
from maillage.models.directory import Establishment, Professional, ProfessionalRole
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationPlace
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose
from maillage.security.roles import Role
from maillage.teleconsultation import availability, booking, places, rules
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Action, Assistance, Status

NURSE_NOT_FOUND = "Choisissez un infirmier ou une infirmière qui suit ce patient."
PHYSICIAN_PROFESSION = "10"


@dataclass(frozen=True)
class AssistIn:
    nurse_id: uuid.UUID
    assistance: Assistance
    place_id: uuid.UUID | None = None


def nurses_for(session: Session, patient_id: uuid.UUID) -> list[UserAccount]:
    """The active nurses' accounts caring for the patient now: those who may assist their teleconsultation."""
    at = now()
    return list(session.scalars(
        select(UserAccount).join(CareRelationship, CareRelationship.user_id == UserAccount.id)
        .where(CareRelationship.patient_id == patient_id, CareRelationship.starts_at <= at,
               or_(CareRelationship.ends_at.is_(None), CareRelationship.ends_at > at),
               UserAccount.role == Role.NURSE.value, UserAccount.status == "active")
        .order_by(UserAccount.display_name, UserAccount.id).distinct()))


def _check_nurse(session: Session, patient_id: uuid.UUID, nurse_id: uuid.UUID) -> None:
    if nurse_id not in {u.id for u in nurses_for(session, patient_id)}:
        raise ValidationFailed(NURSE_NOT_FOUND, details=[{"field": "nurse_id", "message": "Infirmier(ère) non "
                                                                                          "lié(e) au patient."}])


def _bookable_place(session: Session, actor: Actor, place_id: uuid.UUID) -> TeleconsultationPlace:
    place = session.get(TeleconsultationPlace, place_id)
    if place is None or place.establishment_id not in actor.establishment_ids:
        raise NotFound(places.NOT_FOUND)
    return place


def book_assisted(session: Session, actor: Actor, data: booking.BookingIn, assist: AssistIn,
                  context: AuditContext | None = None, *,
                  appointment_id: uuid.UUID | None = None) -> TeleconsultationAppointment:
    """Book a slot for an assisted consultation: the nurse named (caring for the patient), no patient link, and the
    booker's room held over the slot when a place is given (open and free, else Conflict)."""
    availability.need_run(actor)
    kind = Assistance(assist.assistance)
    place = _bookable_place(session, actor, assist.place_id) if assist.place_id else None
    booked = booking.book(session, actor, data, context, appointment_id=appointment_id, patient_link=False)
    appt = booked.appointment
    _check_nurse(session, appt.patient_id, assist.nurse_id)
    if place is not None:
        places.hold(session, place, appt)
    appt.assistance = kind.value
    appt.assisting_nurse_id = assist.nurse_id
    session.flush()
    return appt


def name_nurse(session: Session, actor: Actor, appointment_id: uuid.UUID | str, nurse_id: uuid.UUID,
               assistance: Assistance, context: AuditContext | None = None) -> TeleconsultationAppointment:
    """The requester names (or changes) the nurse who will be with the patient, before the patient has arrived: the
    patient's links stop working (the nurse opens the consultation)."""
    appt = booking.load(session, actor, appointment_id, action="update", context=context)
    if appt.requester_id != actor.user_id:
        raise PermissionDenied("Seul le demandeur du rendez-vous nomme l'infirmier(ère) qui accompagne le patient.")
    if appt.status != Status.BOOKED:
        raise Conflict("L'accompagnement se décide avant l'arrivée du patient en salle d'attente.")
    kind = Assistance(assistance)
    _check_nurse(session, appt.patient_id, nurse_id)
    if not repo.transition(session, appt, expect_status=Status.BOOKED.value,
                           values={"assistance": kind.value, "assisting_nurse_id": nurse_id, "updated_at": now()}):
        raise Conflict("Le rendez-vous vient d'être modifié : rechargez la page avant d'agir.")
    repo.revoke_links(session, appt.id, now())
    return appt


def load_as_nurse(session: Session, actor: Actor, appointment_id: uuid.UUID | str, *, action: str,
                  context: AuditContext | None) -> TeleconsultationAppointment:
    appt = booking.load(session, actor, appointment_id, action=action, context=context)
    if appt.assisting_nurse_id != actor.user_id:
        raise PermissionDenied("Seul l'infirmier(ère) qui accompagne le patient fait cela.")
    return appt


# What the nurse reads when the consultation cannot be opened now.
REFUSALS = {
    rules.LinkRefusal.TOO_EARLY: "Il est trop tôt : la consultation s'ouvre 15 minutes avant l'heure du rendez-vous.",
    rules.LinkRefusal.EXPIRED: "L'heure de ce rendez-vous est passée : la consultation ne s'ouvre plus.",
    rules.LinkRefusal.CLOSED: "Ce rendez-vous n'a plus lieu (annulé, reporté ou patient absent).",
    rules.LinkRefusal.NO_CONSENT: "Recueillez d'abord le consentement du patient.",
}


def _window(appt: TeleconsultationAppointment) -> None:
    refusal = rules.assisted_refusal(at=now(), starts_at=appt.starts_at, ends_at=appt.ends_at,
                                     status=Status(appt.status))
    if refusal is not None:
        raise Conflict(REFUSALS.get(refusal, refusal.label))


def consent(session: Session, actor: Actor, appointment_id: uuid.UUID | str, *, teleconsultation: bool,
            third_party: bool, context: AuditContext | None = None) -> TeleconsultationAppointment:
    """The nurse records the patient's consent on their behalf (who recorded it is kept; the nurse is the third
    person of ``third_party`` only if someone else is present too): the patient enters the waiting room."""
    appt = load_as_nurse(session, actor, appointment_id, action="consent", context=context)
    _window(appt)
    if not teleconsultation:
        raise ValidationFailed("Pour entrer en salle d'attente, le patient doit accepter la téléconsultation.",
                               details=[{"field": "consent", "message": "Consentement requis."}])
    current = Status(appt.status)
    target = rules.next_status(current, Action.ARRIVE)
    values = {"status": target.value, "updated_at": now(), "consent_at": appt.consent_at or now(),
              "consent_recorded_by": appt.consent_recorded_by or actor.user_id, "third_party_present": third_party,
              "arrived_at": appt.arrived_at or now()}
    if not repo.transition(session, appt, expect_status=current.value, values=values):
        raise Conflict("Le rendez-vous vient d'être modifié : rechargez la page avant d'agir.")
    booking.announce(session, appt)
    return appt


def enter_room(session: Session, actor: Actor, appointment_id: uuid.UUID, *,
               context: AuditContext | None) -> TeleconsultationAppointment:
    """The nurse enters the room on the patient's side (audited ``join``): within the window, consent recorded;
    else a refusal (audited after the rollback)."""
    appt = load_as_nurse(session, actor, appointment_id, action="join", context=context)
    refusal = rules.assisted_refusal(at=now(), starts_at=appt.starts_at, ends_at=appt.ends_at,
                                     status=Status(appt.status))
    if refusal is None and appt.consent_at is None:
        refusal = rules.LinkRefusal.NO_CONSENT
    if refusal is not None:
        authz.record_refusal(session, actor, action="join", object_type=booking.OBJECT_TYPE, object_id=str(appt.id),
                             patient_id=appt.patient_id, purpose=Purpose.TELECONSULTATION, context=context,
                             details={"refusal": refusal.value})
        raise PermissionDenied(REFUSALS.get(refusal, refusal.label))
    return appt


# --- Report recipients ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    name: str
    establishment: str
    user_id: uuid.UUID | None  # their account, when they have one


def report_recipients(session: Session, appt: TeleconsultationAppointment) -> list[Recipient]:
    """Whom the report of a consultation held in an establishment's room goes to, besides the requester: the
    physicians of that establishment (the USMP's physician for a detainee), from the directory."""
    if appt.place_id is None:
        return []
    place = session.get(TeleconsultationPlace, appt.place_id)
    if place is None:
        return []
    establishment = session.get(Establishment, place.establishment_id)
    rows = session.execute(
        select(Professional, UserAccount.id)
        .join(ProfessionalRole, ProfessionalRole.professional_id == Professional.id)
        .outerjoin(UserAccount, (UserAccount.person_id == Professional.id) & (UserAccount.status == "active"))
        .where(ProfessionalRole.establishment_id == place.establishment_id,
               Professional.profession_code == PHYSICIAN_PROFESSION, Professional.active.is_(True))
        .order_by(Professional.last_name, Professional.first_name, Professional.id))
    out = []
    for person, user_id in rows:
        name = " ".join(part for part in ("Dr", person.first_name, person.last_name) if part)
        out.append(Recipient(name, establishment.name if establishment else "—", user_id))
    return out


def send_report(session: Session, appt: TeleconsultationAppointment) -> list[Recipient]:
    """The report's recipients with an account get a care relationship for this appointment, so they read its PDF
    (a document of the patient, through ``authz``)."""
    found = report_recipients(session, appt)
    for r in found:
        if r.user_id is not None:
            authz.grant_relationship(session, user_id=r.user_id, patient_id=appt.patient_id,
                                     kind=RelationshipKind.PARTICIPANT, source_type=booking.SOURCE_TYPE,
                                     source_id=str(appt.id))
    return found


# --- Views ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssistedView:
    """What an appointment page shows of the assistance."""

    assistance: str | None  # the code's label
    code: str | None
    nurse: str | None
    is_nurse: bool
    consent_by: str | None
    place: str | None
    recipients: list[Recipient]


def view(session: Session, actor: Actor, appt: TeleconsultationAppointment) -> AssistedView:
    users = repo.users_by_ids(session, [u for u in (appt.assisting_nurse_id, appt.consent_recorded_by) if u])
    nurse = users.get(appt.assisting_nurse_id) if appt.assisting_nurse_id else None
    by = users.get(appt.consent_recorded_by) if appt.consent_recorded_by else None
    place = session.get(TeleconsultationPlace, appt.place_id) if appt.place_id else None
    establishment = session.get(Establishment, place.establishment_id) if place else None
    return AssistedView(
        assistance=Assistance(appt.assistance).label if appt.assistance else None, code=appt.assistance,
        nurse=nurse.display_name if nurse else None, is_nurse=appt.assisting_nurse_id == actor.user_id,
        consent_by=by.display_name if by else None,
        place=f"{place.name} — {establishment.name}" if place and establishment else None,
        recipients=report_recipients(session, appt))


def my_assisted(session: Session, actor: Actor, *, day: dt.date | None = None,
                context: AuditContext | None = None) -> list[booking.Row]:
    """The appointments where the actor is the assisting nurse, from today on (or of ``day``), in time order (one
    audit entry for the list)."""
    availability.need_run(actor)
    start = dt.datetime.combine(day or today_paris(), dt.time(), rules.PARIS).astimezone(dt.UTC)
    query = select(TeleconsultationAppointment).where(TeleconsultationAppointment.assisting_nurse_id == actor.user_id,
                                                      TeleconsultationAppointment.starts_at >= start)
    if day is not None:
        query = query.where(TeleconsultationAppointment.starts_at < start + dt.timedelta(days=1))
    found = list(session.scalars(query.order_by(TeleconsultationAppointment.starts_at,
                                                TeleconsultationAppointment.id).limit(100)))
    return booking.rows_for(session, actor, found, requester_view=True, context=context)
