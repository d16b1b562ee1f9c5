"""Scheduling beyond the first booking: rescheduling an appointment to another free slot with a reason, and the line
coordinator, who books for the line's practitioners, sees the line's appointments and manages their availability.

Rescheduling (requester, practitioner or the line's coordinator): the appointment moves to ``rescheduled`` (a
conditional UPDATE on the status read: of two concurrent reschedulings, exactly one wins, the other gets Conflict) and
a new appointment of the same practitioner, line, patient and requester holds the new slot (the partial unique index
on the practitioner and start: a slot taken meanwhile gives Conflict and nothing changes). The patient's live link
follows to the new appointment (its window is the new slot's); the practitioner's participant relationship moves
with it; the other parties get a notice; both appointments keep a line of timeline.

A line's coordinator is a member of the line with the role ``coordinator`` (``specialty_line_member``). They reach
the line's appointments through ``authz`` like its requester and practitioner (audited), book for a practitioner who
answers the line (for a patient they care for: ``authz.access_patient``), and publish or withdraw ranges for them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind
from maillage.exceptions import Conflict, NotFound, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.ids import as_uuid
from maillage.models.directory import SpecialtyLine
from maillage.models.teleconsultation import (
    TeleconsultationAppointment,
    TeleconsultationAvailability,
    TeleconsultationPlace,
)
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.teleconsultation import availability, booking, notices, places, rules
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Action, Status

LINE_NOT_FOUND = "Ligne de téléconsultation introuvable."
LINE_DAYS_MAX = 31
HORIZON = dt.timedelta(days=366)  # a new slot, or a list's first day, within a year (and no date arithmetic overflow)


def reschedule(
    session: Session,
    actor: Actor,
    appointment_id: uuid.UUID | str,
    starts_at: dt.datetime,
    reason: str,
    context: AuditContext | None = None,
    *,
    new_appointment_id: uuid.UUID | None = None,
) -> TeleconsultationAppointment:
    """Move an appointment not yet held to another free slot of its practitioner on its line; returns the new
    appointment. The patient's link follows."""
    appt = booking.load(session, actor, appointment_id, action="update", context=context)
    text = rules.reason_text(reason, Action.RESCHEDULE)[: booking.REASON_MAX]
    rules.next_status(Status(appt.status), Action.RESCHEDULE)  # a held or closed appointment: 409 before anything
    starts_at = starts_at if starts_at.tzinfo else starts_at.replace(tzinfo=dt.UTC)
    if not appt.starts_at - HORIZON <= starts_at <= appt.starts_at + HORIZON:
        raise ValidationFailed("Choisissez un créneau dans l'année du rendez-vous.",
                               details=[{"field": "starts_at", "message": "Créneau hors bornes."}])
    if starts_at == appt.starts_at:
        raise ValidationFailed(
            "Choisissez un autre créneau que celui du rendez-vous.",
            details=[{"field": "starts_at", "message": "Même créneau."}],
        )
    day = starts_at.astimezone(rules.PARIS).date()
    if day < today_paris():
        raise Conflict("Ce créneau est passé : choisissez-en un autre.")
    offered = availability.free_slots(session, appt.practitioner_id, line_id=appt.line_id, first_day=day, days=1)
    slot = next((s for s in offered if s.starts_at == starts_at), None)
    if slot is None:
        raise Conflict("Ce créneau n'est plus libre : choisissez-en un autre.")
    new_id = new_appointment_id or uuid.uuid4()
    booking._move(session, appt, Action.RESCHEDULE, {"closing_reason": text, "rescheduled_to_id": new_id})
    moved = TeleconsultationAppointment(
        id=new_id,
        patient_id=appt.patient_id,
        practitioner_id=appt.practitioner_id,
        line_id=appt.line_id,
        requester_id=appt.requester_id,
        teleexpertise_request_id=appt.teleexpertise_request_id,
        place=slot.place,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        status=Status.BOOKED.value,
        reason=appt.reason,
        rescheduled_from_id=appt.id,
        booked_by_coordinator=appt.booked_by_coordinator,
        assistance=appt.assistance,  # an assisted consultation stays assisted, by the same nurse
        assisting_nurse_id=appt.assisting_nurse_id,
        created_at=now(),
        updated_at=now(),
    )
    session.add(moved)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("Ce créneau vient d'être réservé par quelqu'un d'autre : choisissez-en un autre.") from None
    if appt.place_id is not None:  # the unit's room moves too: open and free at the new slot, else Conflict
        room = session.get(TeleconsultationPlace, appt.place_id)
        if room is not None:
            places.hold(session, room, moved)
    repo.move_links(session, appt.id, moved.id)
    authz.end_relationships(
        session, source_type=booking.SOURCE_TYPE, source_id=str(appt.id), user_id=appt.practitioner_id
    )
    authz.grant_relationship(
        session,
        user_id=moved.practitioner_id,
        patient_id=moved.patient_id,
        kind=RelationshipKind.PARTICIPANT,
        source_type=booking.SOURCE_TYPE,
        source_id=str(moved.id),
    )
    notices.event(session, appt.id, "rescheduled", actor.user_id, other_appointment_id=moved.id)
    notices.event(session, moved.id, "rescheduled_from", actor.user_id, other_appointment_id=appt.id)
    others = {moved.practitioner_id, moved.requester_id} - {actor.user_id}
    notices.notify(session, others, moved.id, "rescheduled")
    booking.announce(session, moved)
    return moved


# --- The line coordinator ------------------------------------------------------------------------------------------


def my_coordinated_lines(session: Session, actor: Actor) -> list[SpecialtyLine]:
    return repo.coordinated_lines(session, actor.user_id)


def _coordinated_line(session: Session, actor: Actor, line_id: uuid.UUID | str) -> SpecialtyLine:
    """One of the actor's coordinated lines, else NotFound (a line one does not coordinate is not there)."""
    wanted = as_uuid(line_id)
    line = next((ln for ln in repo.coordinated_lines(session, actor.user_id) if ln.id == wanted), None)
    if line is None:
        raise NotFound(LINE_NOT_FOUND)
    return line


def _line_practitioner(session: Session, line: SpecialtyLine, practitioner_id: uuid.UUID) -> None:
    if practitioner_id not in {u.id for u in repo.line_practitioners(session, line.id)}:
        raise ValidationFailed(
            "Ce praticien ne répond pas à cette ligne.",
            details=[{"field": "practitioner_id", "message": "Praticien hors de la ligne."}],
        )


def book_for(
    session: Session, actor: Actor, data: booking.BookingIn, context: AuditContext | None = None
) -> booking.Booked:
    """The line's coordinator books a free slot of one of the line's practitioners for a patient they care for; the
    coordinator is the requester (they hand the link over); the practitioner gets a notice."""
    line = _coordinated_line(session, actor, data.line_id)
    _line_practitioner(session, line, data.practitioner_id)
    booked = booking.book(session, actor, data, context, as_coordinator=True)
    notices.event(session, booked.appointment.id, "booked_by_coordinator", actor.user_id)
    notices.notify(session, [data.practitioner_id], booked.appointment.id, "booked_for_you")
    return booked


def line_appointments(
    session: Session,
    actor: Actor,
    line_id: uuid.UUID | str,
    *,
    first_day: dt.date | None = None,
    days: int = 7,
    context: AuditContext | None = None,
) -> tuple[SpecialtyLine, list[booking.Row]]:
    """The appointments of a line the actor coordinates, over ``days`` days from ``first_day`` (one audit entry for
    the list, naming its patients)."""
    line = _coordinated_line(session, actor, line_id)
    if first_day is not None and abs((first_day - today_paris()).days) > HORIZON.days:
        raise ValidationFailed("Choisissez une date dans l'année.", details=[{"field": "first_day",
                                                                           "message": "Date hors bornes."}])
    if not 1 <= days <= LINE_DAYS_MAX:
        raise ValidationFailed(f"De 1 à {LINE_DAYS_MAX} jours.", details=[{"field": "days", "message": "Hors bornes."}])
    start_day = first_day or today_paris()
    start = dt.datetime.combine(start_day, dt.time(), rules.PARIS).astimezone(dt.UTC)
    found = repo.line_appointments(session, line.id, start, start + dt.timedelta(days=days), 500)
    rows = booking._rows(session, actor, found, requester_view=True, context=context)
    return line, rows


def _practitioner_of_my_lines(session: Session, actor: Actor, practitioner_id: uuid.UUID) -> set[uuid.UUID]:
    """The lines the actor coordinates that the practitioner answers (NotFound when none)."""
    lines = {ln.id for ln in repo.coordinated_lines(session, actor.user_id)}
    theirs = {ln.id for ln in repo.lines_of_practitioner(session, practitioner_id)} & lines
    if not theirs:
        raise NotFound("Praticien introuvable parmi ceux de vos lignes.")
    return theirs


def practitioner_ranges(
    session: Session, actor: Actor, practitioner_id: uuid.UUID
) -> list[TeleconsultationAvailability]:
    _practitioner_of_my_lines(session, actor, practitioner_id)
    return repo.ranges_of(session, practitioner_id)


def add_range_for(
    session: Session, actor: Actor, practitioner_id: uuid.UUID, data: availability.RangeIn
) -> TeleconsultationAvailability:
    """The coordinator publishes a range for a practitioner of their line, on one of the lines they coordinate."""
    lines = _practitioner_of_my_lines(session, actor, practitioner_id)
    return availability.publish(session, practitioner_id, lines, data, created_by=actor.user_id)


def remove_range_for(session: Session, actor: Actor, practitioner_id: uuid.UUID, range_id: uuid.UUID | str) -> None:
    _practitioner_of_my_lines(session, actor, practitioner_id)
    row = session.get(TeleconsultationAvailability, as_uuid(range_id))
    if row is None or row.practitioner_id != practitioner_id:
        raise NotFound("Plage de disponibilité introuvable.")
    session.delete(row)
    session.flush()


@dataclass(frozen=True)
class LinePractitioner:
    user_id: uuid.UUID
    name: str


def line_team(session: Session, actor: Actor, line_id: uuid.UUID | str) -> list[LinePractitioner]:
    line = _coordinated_line(session, actor, line_id)
    return [LinePractitioner(u.id, u.display_name) for u in repo.line_practitioners(session, line.id)]


def coming_on_my_lines(session: Session, actor: Actor, days: int = 7) -> int:
    """How many appointments not yet held the actor's coordinated lines hold over the coming ``days`` days."""
    lines = repo.coordinated_lines(session, actor.user_id)
    start = now()
    return repo.count_line_appointments(session, [ln.id for ln in lines], start, start + dt.timedelta(days=days))
