"""A practitioner's availability: publish and withdraw ranges (weekly, one-off additions, absences), and the free
slots a requester may book. Availability holds no patient data: no patient access is checked or audited here."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.ids import as_uuid
from maillage.models.directory import SpecialtyLine
from maillage.models.teleconsultation import TeleconsultationAvailability
from maillage.security.actor import Actor
from maillage.security.policy import Permission, role_allows
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation import rules
from maillage.teleconsultation.rules import Kind, Range

MAX_DAYS = 31  # how far a slot search looks at once
PLACE_MAX = 100


@dataclass(frozen=True)
class RangeIn:
    kind: Kind
    start: str  # "HH:MM"
    end: str
    weekday: int | None = None
    day: dt.date | None = None
    slot_minutes: int | None = None
    line_id: uuid.UUID | None = None
    place: str = rules.REMOTE


def need_run(actor: Actor) -> None:
    if not role_allows(actor.role, Permission.TELECONSULTATION_RUN):
        raise PermissionDenied()


def my_lines(session: Session, actor: Actor) -> list[SpecialtyLine]:
    """The teleconsultation lines the actor answers: those they may publish availability for."""
    need_run(actor)
    return repo.lines_of_practitioner(session, actor.user_id)


def add_range(session: Session, actor: Actor, data: RangeIn) -> TeleconsultationAvailability:
    """Publish a range of the actor's own availability, on a teleconsultation line they answer."""
    need_run(actor)
    return publish(session, actor.user_id, {ln.id for ln in my_lines(session, actor)}, data, created_by=actor.user_id)


def publish(session: Session, practitioner_id: uuid.UUID, allowed_lines: set[uuid.UUID], data: RangeIn, *,
            created_by: uuid.UUID) -> TeleconsultationAvailability:
    """Publish a range of ``practitioner_id`` on one of ``allowed_lines`` (the caller decided who may)."""
    kind = Kind(data.kind)
    place = " ".join((data.place or rules.REMOTE).split())[:PLACE_MAX] or rules.REMOTE
    line_id = None
    if kind is not Kind.ABSENCE:
        if data.line_id is None or data.line_id not in allowed_lines:
            raise ValidationFailed("Choisissez une ligne de téléconsultation à laquelle vous répondez.",
                                   details=[{"field": "line_id", "message": "Ligne hors de vos lignes."}])
        line_id = data.line_id
    candidate = Range(kind, rules.minutes_of(data.start), rules.minutes_of(data.end),
                      weekday=data.weekday if kind is Kind.WEEKLY else None,
                      day=data.day if kind is not Kind.WEEKLY else None,
                      slot_minutes=data.slot_minutes if kind is not Kind.ABSENCE else None,
                      line=str(line_id) if line_id else None, place=place)
    problems = rules.range_problems(candidate)
    if problems:
        raise ValidationFailed(problems[0]["message"], details=problems)
    if candidate.day is not None and candidate.day < today_paris():
        raise ValidationFailed("La date est passée.", details=[{"field": "day", "message": "Date passée."}])
    existing = [repo.as_range(r) for r in repo.ranges_of(session, practitioner_id)]
    if rules.overlaps(candidate, existing):
        raise ValidationFailed("Cette plage chevauche une plage déjà publiée le même jour.",
                               details=[{"field": "start", "message": "Plage en chevauchement."}])
    row = TeleconsultationAvailability(
        practitioner_id=practitioner_id, line_id=line_id, place=place, kind=kind.value, weekday=candidate.weekday,
        day=candidate.day, start_minute=candidate.start_minute, end_minute=candidate.end_minute,
        slot_minutes=candidate.slot_minutes, created_by=created_by, created_at=now())
    session.add(row)
    session.flush()
    return row


def remove_range(session: Session, actor: Actor, range_id: uuid.UUID | str) -> None:
    """Withdraw one of the actor's ranges (appointments already booked in it stay)."""
    need_run(actor)
    row = session.get(TeleconsultationAvailability, as_uuid(range_id))
    if row is None or row.practitioner_id != actor.user_id:
        raise NotFound("Plage de disponibilité introuvable.")
    session.delete(row)
    session.flush()


def my_ranges(session: Session, actor: Actor) -> list[TeleconsultationAvailability]:
    need_run(actor)
    return repo.ranges_of(session, actor.user_id)


def free_slots(session: Session, practitioner_id: uuid.UUID, *, line_id: uuid.UUID | None = None,
               first_day: dt.date | None = None, days: int = 14) -> list[rules.Slot]:
    """The practitioner's free slots from ``first_day`` (today by default, Paris) over ``days`` days, after now;
    only those of ``line_id`` when given."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"Cherchez des créneaux sur 1 à {MAX_DAYS} jours.",
                               details=[{"field": "days", "message": "Nombre de jours hors limites."}])
    start_day = first_day or today_paris()
    ranges = [repo.as_range(r) for r in repo.ranges_of(session, practitioner_id)]
    window_start = dt.datetime.combine(start_day, dt.time(), rules.PARIS).astimezone(dt.UTC)
    window_end = window_start + dt.timedelta(days=days + 1)
    taken = repo.taken_starts(session, practitioner_id, window_start, window_end)
    found = rules.slots(ranges, start_day, days, after=now(), taken=taken)
    return [s for s in found if line_id is None or s.line == str(line_id)]


@dataclass(frozen=True)
class Offer:
    """A practitioner of a line and their next free slots on it."""

    practitioner_id: uuid.UUID
    practitioner: str
    slots: list[rules.Slot]


def line_offers(session: Session, line_id: uuid.UUID | str, *, days: int = 14,
                per_practitioner: int = 40) -> list[Offer]:
    """The free slots of each practitioner answering a teleconsultation line."""
    line = repo.line(session, as_uuid(line_id))
    if line is None or not (line.active and line.published and line.teleconsultation):
        raise NotFound("Ligne de spécialité introuvable ou fermée à la téléconsultation.")
    offers = []
    for user in repo.line_practitioners(session, line.id):
        found = free_slots(session, user.id, line_id=line.id, days=days)[:per_practitioner]
        offers.append(Offer(user.id, user.display_name, found))
    return offers
