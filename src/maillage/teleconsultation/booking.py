"""The life of an appointment on the professionals' side: book a free slot for a patient one cares for, cancel or
declare a no-show with a reason, admit the waiting patient, end the consultation; the practitioner's day and the
requester's bookings.

Who reaches an appointment is decided in ``authz`` (``access_request``): its requester and its practitioner. Anyone
else gets ``NotFound``, the answer for an appointment that does not exist, and the refused attempt is audited.
Booking needs a care relationship with the patient (``authz.access_patient``); it grants the practitioner a
participant relationship for the appointment, ended if it is cancelled.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind, RequestParties
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.ids import as_uuid
from maillage.kit.tokens import hash_token, new_token
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationLink
from maillage.models.teleexpertise import TeleexpertiseRequest
from maillage.patient import labels as patient_labels
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose
from maillage.teleconsultation import acts, availability, relay, rules
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Action, Status

OBJECT_TYPE = repo.OBJECT_TYPE
SOURCE_TYPE = repo.OBJECT_TYPE
NOT_FOUND = "Rendez-vous de téléconsultation introuvable."
REASON_MAX = 2000
LINK_PREFIX = "mlg_tc_"


@dataclass(frozen=True)
class BookingIn:
    patient_id: uuid.UUID
    practitioner_id: uuid.UUID
    line_id: uuid.UUID
    starts_at: dt.datetime
    reason: str = ""
    teleexpertise_request_id: uuid.UUID | None = None  # the opinion that oriented to this teleconsultation


@dataclass(frozen=True)
class Booked:
    appointment: TeleconsultationAppointment
    link: str  # the patient's link token: shown once to the requester, only its hash is stored


def room_topic(appointment_id: uuid.UUID) -> str:
    return f"room:{appointment_id}"


def day_topic(practitioner_id: uuid.UUID) -> str:
    return f"day:{practitioner_id}"


def announce(session: Session, appt: TeleconsultationAppointment) -> None:
    """Tell the room and the practitioner's day view the appointment's new state, once the transaction commits."""
    message = {"type": "state", "status": appt.status}
    relay.publish_on_commit(session, room_topic(appt.id), message)
    relay.publish_on_commit(session, day_topic(appt.practitioner_id), {**message, "appointment": str(appt.id)})


def parties(appt: TeleconsultationAppointment, session: Session | None = None) -> RequestParties:
    """The requester and the practitioner; the assisting nurse (``assisted``: they open the patient's side of the
    room); with a session, also the line's coordinators and, once the signed report was sent, the patient's médecin
    traitant (``repo.appointment_readers``)."""
    nurse = {appt.assisting_nurse_id} if appt.assisting_nurse_id else set()

    def staff() -> set[uuid.UUID]:
        return (repo.appointment_readers(session, appt) | nurse) if session is not None else nurse

    return RequestParties(patient_id=appt.patient_id, draft=False, requester_id=appt.requester_id,
                          assignee_id=appt.practitioner_id, named_expert_id=None, line_staff=staff)


def load(session: Session, actor: Actor, appointment_id: uuid.UUID | str, *, action: str,
         context: AuditContext | None) -> TeleconsultationAppointment:
    """The appointment if the actor is its requester or practitioner (audited), else NotFound (audited as denied
    after the rollback), the same answer as an appointment that does not exist."""
    availability.need_run(actor)
    appt = repo.appointment(session, as_uuid(appointment_id))
    if appt is None:
        raise NotFound(NOT_FOUND)
    authz.access_request(session, actor, parties(appt, session), action=action, object_type=OBJECT_TYPE,
                         object_id=str(appt.id), purpose=Purpose.TELECONSULTATION, context=context,
                         not_found=NOT_FOUND)
    return appt


def issue_link(session: Session, appt: TeleconsultationAppointment, actor: Actor) -> str:
    """A fresh link for the patient (the earlier ones stop working): 256 random bits, only the hash kept."""
    at = now()
    repo.revoke_links(session, appt.id, at)
    token = new_token(LINK_PREFIX)
    session.add(TeleconsultationLink(appointment_id=appt.id, token_hash=hash_token(token), created_by=actor.user_id,
                                     created_at=at))
    session.flush()
    return token


def book(session: Session, actor: Actor, data: BookingIn, context: AuditContext | None = None, *,
         appointment_id: uuid.UUID | None = None, as_coordinator: bool = False, patient_link: bool = True) -> Booked:
    """Book a free slot of a practitioner for a patient the actor cares for; two bookings of one slot: one wins,
    the other gets Conflict (the partial unique index on the practitioner and start). ``as_coordinator``: the
    line's coordinator books (``scheduling.book_for`` checked it), who need not hold the teleconsultation role.
    ``patient_link=False``: an assisted consultation (``assisted``), the patient gets no link (``Booked.link`` is
    empty)."""
    if not as_coordinator:
        availability.need_run(actor)
    reason = " ".join(data.reason.split())
    if len(reason) > REASON_MAX:
        raise ValidationFailed("Motif trop long.", details=[{"field": "reason", "message": "2000 caractères au plus."}])
    starts_at = data.starts_at if data.starts_at.tzinfo else data.starts_at.replace(tzinfo=dt.UTC)
    appointment_id = appointment_id or uuid.uuid4()
    grant = authz.access_patient(session, actor, data.patient_id, Purpose.TELECONSULTATION, action="create",
                                 object_type=OBJECT_TYPE, object_id=str(appointment_id), context=context)
    first_day = starts_at.astimezone(rules.PARIS).date()
    if first_day < today_paris():
        raise Conflict("Ce créneau est passé : choisissez-en un autre.")
    offered = availability.free_slots(session, data.practitioner_id, line_id=data.line_id, first_day=first_day,
                                      days=1)
    slot = next((s for s in offered if s.starts_at == starts_at), None)
    if slot is None:
        raise Conflict("Ce créneau n'est plus libre : choisissez-en un autre.")
    origin = _opinion(session, actor, data) if data.teleexpertise_request_id else None
    appt = TeleconsultationAppointment(
        id=appointment_id, patient_id=grant.patient_id, teleexpertise_request_id=origin,
        practitioner_id=data.practitioner_id, line_id=data.line_id,
        requester_id=actor.user_id, place=slot.place, starts_at=slot.starts_at, ends_at=slot.ends_at,
        status=Status.BOOKED.value, reason=reason, booked_by_coordinator=as_coordinator, created_at=now(),
        updated_at=now())
    session.add(appt)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("Ce créneau vient d'être réservé par quelqu'un d'autre : choisissez-en un autre.") from None
    authz.grant_relationship(session, user_id=data.practitioner_id, patient_id=appt.patient_id,
                             kind=RelationshipKind.PARTICIPANT, source_type=SOURCE_TYPE, source_id=str(appt.id))
    token = issue_link(session, appt, actor) if patient_link else ""
    announce(session, appt)
    return Booked(appt, token)


def _opinion(session: Session, actor: Actor, data: BookingIn) -> uuid.UUID:
    """The tele-expertise request a booking follows: the actor's own, for this patient, answered with the orientation
    "teleconsultation to schedule"; else a French error (another's request is NotFound, as if it did not exist)."""
    req = session.get(TeleexpertiseRequest, data.teleexpertise_request_id)
    if req is None or req.requester_id != actor.user_id:
        raise NotFound("Demande de téléexpertise introuvable.")
    if req.patient_id != data.patient_id or req.status != "completed" or req.orientation != "teleconsultation":
        raise ValidationFailed("Cette demande de téléexpertise n'oriente pas ce patient vers une téléconsultation.",
                               details=[{"field": "teleexpertise_request_id", "message": "Demande non liée."}])
    return req.id


def new_link(session: Session, actor: Actor, appointment_id: uuid.UUID | str,
             context: AuditContext | None = None) -> str:
    """A new link for the patient (the requester lost it, or it was opened on another device)."""
    appt = load(session, actor, appointment_id, action="update", context=context)
    if Status(appt.status) in rules.TERMINAL:
        raise Conflict("Ce rendez-vous n'a plus lieu : aucun lien ne peut être donné.")
    if appt.assisting_nurse_id is not None:
        raise Conflict("Téléconsultation assistée : le patient n'a pas de lien, l'infirmier(ère) qui l'accompagne "
                       "ouvre la consultation depuis son compte.")
    return issue_link(session, appt, actor)


def _move(session: Session, appt: TeleconsultationAppointment, action: Action, values: dict[str, object]) -> None:
    current = Status(appt.status)
    target = rules.next_status(current, action)
    if not repo.transition(session, appt, expect_status=current.value,
                           values={"status": target.value, "updated_at": now(), **values}):
        raise Conflict("Le rendez-vous vient d'être modifié : rechargez la page avant d'agir.")
    announce(session, appt)


def cancel(session: Session, actor: Actor, appointment_id: uuid.UUID | str, reason: str,
           context: AuditContext | None = None) -> TeleconsultationAppointment:
    """Cancel before the consultation, with a reason (requester or practitioner); the patient's link stops."""
    appt = load(session, actor, appointment_id, action="cancel", context=context)
    if actor.user_id not in (appt.requester_id, appt.practitioner_id):
        raise PermissionDenied("Seuls le demandeur et le praticien du rendez-vous peuvent l'annuler.")
    text = rules.reason_text(reason, Action.CANCEL)[:REASON_MAX]
    _move(session, appt, Action.CANCEL, {"closing_reason": text})
    repo.revoke_links(session, appt.id, now())
    authz.end_relationships(session, source_type=SOURCE_TYPE, source_id=str(appt.id), user_id=appt.practitioner_id)
    return appt


def _practitioner(actor: Actor, appt: TeleconsultationAppointment) -> None:
    if appt.practitioner_id != actor.user_id:
        raise PermissionDenied("Seul le praticien du rendez-vous peut faire cela.")


def no_show(session: Session, actor: Actor, appointment_id: uuid.UUID | str,
            context: AuditContext | None = None) -> TeleconsultationAppointment:
    appt = load(session, actor, appointment_id, action="update", context=context)
    _practitioner(actor, appt)
    rules.check_no_show(appt.starts_at, now())
    _move(session, appt, Action.NO_SHOW, {})
    return appt


def admit(session: Session, actor: Actor, appointment_id: uuid.UUID | str,
          context: AuditContext | None = None) -> TeleconsultationAppointment:
    """The practitioner admits the waiting patient: the room opens between them."""
    appt = load(session, actor, appointment_id, action="admit", context=context)
    _practitioner(actor, appt)
    _move(session, appt, Action.ADMIT, {"admitted_at": now()})
    return appt


def end(session: Session, actor: Actor, appointment_id: uuid.UUID | str,
        context: AuditContext | None = None) -> TeleconsultationAppointment:
    appt = load(session, actor, appointment_id, action="end", context=context)
    _practitioner(actor, appt)
    _move(session, appt, Action.END, {"ended_at": now()})
    acts.record_assistance(session, appt)
    return appt


# --- Lists ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    appointment: TeleconsultationAppointment
    patient: str | None  # the name, where the actor may see the patient now
    other: str  # the practitioner (for the requester) or the requester (for the practitioner)
    line: str


def _rows(session: Session, actor: Actor, found: list[TeleconsultationAppointment], *, requester_view: bool,
          context: AuditContext | None) -> list[Row]:
    authz.audit_list(session, actor, object_type=OBJECT_TYPE, count=len(found), purpose=Purpose.TELECONSULTATION,
                     patient_ids=[a.patient_id for a in found], context=context)
    names = patient_labels.short_labels(session, actor, {a.patient_id for a in found})
    users = repo.users_by_ids(session, [a.practitioner_id if requester_view else a.requester_id for a in found])
    lines = {lid: repo.line(session, lid) for lid in {a.line_id for a in found}}
    out = []
    for a in found:
        other = users.get(a.practitioner_id if requester_view else a.requester_id)
        line = lines.get(a.line_id)
        out.append(Row(a, names.get(a.patient_id), other.display_name if other else "—", line.title if line else "—"))
    return out


rows_for = _rows  # for the other views of the package (``assisted``)


def day(session: Session, actor: Actor, on: dt.date | None = None, context: AuditContext | None = None) -> list[Row]:
    """The practitioner's appointments of a day (Paris), in time order (one audit entry for the list)."""
    availability.need_run(actor)
    date = on or today_paris()
    start = dt.datetime.combine(date, dt.time(), rules.PARIS).astimezone(dt.UTC)
    found = repo.practitioner_day(session, actor.user_id, start, start + dt.timedelta(days=1))
    return _rows(session, actor, found, requester_view=False, context=context)


def my_bookings(session: Session, actor: Actor, *, limit: int = 100,
                context: AuditContext | None = None) -> list[Row]:
    """The appointments the actor booked, from today on (one audit entry for the list)."""
    availability.need_run(actor)
    since = dt.datetime.combine(today_paris(), dt.time(), rules.PARIS).astimezone(dt.UTC)
    return _rows(session, actor, repo.booked_by(session, actor.user_id, since, limit), requester_view=True,
                 context=context)
