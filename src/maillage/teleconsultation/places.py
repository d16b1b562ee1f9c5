"""Teleconsultation places: the room of an establishment (a USMP's teleconsultation room, an EHPAD's dedicated
room), managed by the accounts acting for that establishment, open on ranges like a practitioner's availability
(weekly, one-off additions, closures). A booking that holds a place needs the place open and free over the slot
(``rules.place_open``, ``rules.place_free``): two concurrent bookings of one place at one time, on PostgreSQL, are
serialised by a lock on the place's row, so exactly one wins.

A place holds no patient data: no patient access is checked or audited here. Who manages a place is decided by the
establishments the account acts for (``Actor.establishment_ids``): anyone else gets NotFound, as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maillage.exceptions import Conflict, NotFound, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.ids import as_uuid
from maillage.models.directory import CareUnit, Establishment
from maillage.models.teleconsultation import (
    TeleconsultationAppointment,
    TeleconsultationPlace,
    TeleconsultationPlaceRange,
)
from maillage.security.actor import Actor
from maillage.teleconsultation import availability, rules
from maillage.teleconsultation.repository import HOLDING
from maillage.teleconsultation.rules import Kind, Range

NAME_MAX = 100
NOT_FOUND = "Salle de téléconsultation introuvable."


@dataclass(frozen=True)
class PlaceRangeIn:
    kind: Kind
    start: str  # "HH:MM"
    end: str
    weekday: int | None = None
    day: dt.date | None = None


@dataclass(frozen=True)
class PlaceView:
    place: TeleconsultationPlace
    establishment: str
    unit: str | None
    ranges: list[TeleconsultationPlaceRange]


def as_range(row: TeleconsultationPlaceRange) -> Range:
    return Range(Kind(row.kind), row.start_minute, row.end_minute, weekday=row.weekday, day=row.day)


def _establishments(session: Session, actor: Actor) -> list[Establishment]:
    if not actor.establishment_ids:
        return []
    return list(session.scalars(select(Establishment).where(Establishment.id.in_(actor.establishment_ids))
                                .order_by(Establishment.name)))


def manageable_establishments(session: Session, actor: Actor) -> list[Establishment]:
    """The establishments whose rooms the actor manages: those they act for."""
    availability.need_run(actor)
    return _establishments(session, actor)


def units_of(session: Session, establishment_ids: list[uuid.UUID]) -> list[CareUnit]:
    if not establishment_ids:
        return []
    return list(session.scalars(select(CareUnit).where(CareUnit.establishment_id.in_(establishment_ids))
                                .order_by(CareUnit.name)))


def create_place(session: Session, actor: Actor, *, establishment_id: uuid.UUID, name: str,
                 care_unit_id: uuid.UUID | None = None) -> TeleconsultationPlace:
    """A new room of an establishment the actor acts for (a unit of it, if given)."""
    availability.need_run(actor)
    if establishment_id not in actor.establishment_ids:
        raise NotFound("Établissement introuvable ou hors de vos établissements.")
    text = " ".join((name or "").split())
    if not 3 <= len(text) <= NAME_MAX:
        raise ValidationFailed("Nommez la salle (3 à 100 caractères).",
                               details=[{"field": "name", "message": "Nom de 3 à 100 caractères."}])
    if care_unit_id is not None:
        unit = session.get(CareUnit, care_unit_id)
        if unit is None or unit.establishment_id != establishment_id:
            raise ValidationFailed("Choisissez une unité de cet établissement.",
                                   details=[{"field": "care_unit_id", "message": "Unité d'un autre établissement."}])
    taken = ValidationFailed("Cet établissement a déjà une salle de ce nom.",
                             details=[{"field": "name", "message": "Nom déjà pris."}])
    if session.scalar(select(TeleconsultationPlace.id).where(TeleconsultationPlace.establishment_id == establishment_id,
                                                             TeleconsultationPlace.name == text)):
        raise taken
    place = TeleconsultationPlace(establishment_id=establishment_id, care_unit_id=care_unit_id, name=text,
                                  active=True, created_by=actor.user_id, created_at=now())
    try:
        with session.begin_nested():
            session.add(place)
            session.flush()
    except IntegrityError:  # the same name created concurrently
        raise taken from None
    return place


def managed_place(session: Session, actor: Actor, place_id: uuid.UUID | str) -> TeleconsultationPlace:
    """A place of one of the actor's establishments, else NotFound (the answer for a place that does not exist)."""
    availability.need_run(actor)
    place = session.get(TeleconsultationPlace, as_uuid(place_id))
    if place is None or place.establishment_id not in actor.establishment_ids:
        raise NotFound(NOT_FOUND)
    return place


def ranges_of(session: Session, place_id: uuid.UUID) -> list[TeleconsultationPlaceRange]:
    return list(session.scalars(
        select(TeleconsultationPlaceRange).where(TeleconsultationPlaceRange.place_id == place_id)
        .order_by(TeleconsultationPlaceRange.kind.desc(), TeleconsultationPlaceRange.weekday,
                  TeleconsultationPlaceRange.day, TeleconsultationPlaceRange.start_minute)))


def add_range(session: Session, actor: Actor, place_id: uuid.UUID | str,
              data: PlaceRangeIn) -> TeleconsultationPlaceRange:
    """Open the place on a weekly range or one day, or close it (``absence``) one day between two times."""
    place = managed_place(session, actor, place_id)
    kind = Kind(data.kind)
    candidate = Range(kind, rules.minutes_of(data.start), rules.minutes_of(data.end),
                      weekday=data.weekday if kind is Kind.WEEKLY else None,
                      day=data.day if kind is not Kind.WEEKLY else None)
    problems = rules.place_range_problems(candidate)
    if problems:
        raise ValidationFailed(problems[0]["message"], details=problems)
    if candidate.day is not None and candidate.day < today_paris():
        raise ValidationFailed("La date est passée.", details=[{"field": "day", "message": "Date passée."}])
    row = TeleconsultationPlaceRange(place_id=place.id, kind=kind.value, weekday=candidate.weekday,
                                     day=candidate.day, start_minute=candidate.start_minute,
                                     end_minute=candidate.end_minute, created_by=actor.user_id, created_at=now())
    session.add(row)
    session.flush()
    return row


def remove_range(session: Session, actor: Actor, place_id: uuid.UUID | str, range_id: uuid.UUID | str) -> None:
    """Withdraw a range of a place (the appointments already booked in it stay)."""
    place = managed_place(session, actor, place_id)
    row = session.get(TeleconsultationPlaceRange, as_uuid(range_id))
    if row is None or row.place_id != place.id:
        raise NotFound("Plage d'ouverture introuvable.")
    session.delete(row)
    session.flush()


def my_places(session: Session, actor: Actor, *, active_only: bool = False) -> list[PlaceView]:
    """The rooms of the establishments the actor acts for, with their ranges."""
    availability.need_run(actor)
    if not actor.establishment_ids:
        return []
    query = select(TeleconsultationPlace).where(TeleconsultationPlace.establishment_id.in_(actor.establishment_ids))
    if active_only:
        query = query.where(TeleconsultationPlace.active.is_(True))
    found = list(session.scalars(query.order_by(TeleconsultationPlace.name, TeleconsultationPlace.id)))
    names = {e.id: e.name for e in _establishments(session, actor)}
    units = {u.id: u.name for u in units_of(session, list(names))}
    return [PlaceView(p, names.get(p.establishment_id, "—"), units.get(p.care_unit_id) if p.care_unit_id else None,
                      ranges_of(session, p.id)) for p in found]


def is_open(session: Session, place_id: uuid.UUID, starts_at: dt.datetime, ends_at: dt.datetime) -> bool:
    return rules.place_open([as_range(r) for r in ranges_of(session, place_id)], starts_at, ends_at)


def held(session: Session, place_id: uuid.UUID, start: dt.datetime, end: dt.datetime, *,
         besides: uuid.UUID | None = None) -> list[tuple[dt.datetime, dt.datetime]]:
    """The slots of the appointments holding the place that meet ``[start, end)`` (but ``besides``)."""
    query = select(TeleconsultationAppointment.starts_at, TeleconsultationAppointment.ends_at).where(
        TeleconsultationAppointment.place_id == place_id, TeleconsultationAppointment.status.in_(HOLDING),
        TeleconsultationAppointment.starts_at < end, TeleconsultationAppointment.ends_at > start)
    if besides is not None:
        query = query.where(TeleconsultationAppointment.id != besides)
    return [(row[0], row[1]) for row in session.execute(query)]


def hold(session: Session, place: TeleconsultationPlace, appt: TeleconsultationAppointment) -> None:
    """Make the appointment hold the place over its slot, or Conflict. The place's row is locked first (``SELECT …
    FOR UPDATE`` on PostgreSQL): a concurrent booking of the place waits for this transaction, then sees its
    appointment and is refused."""
    session.execute(select(TeleconsultationPlace.id).where(TeleconsultationPlace.id == place.id).with_for_update())
    if not place.active:
        raise Conflict("Cette salle n'est plus ouverte à la téléconsultation.")
    if not is_open(session, place.id, appt.starts_at, appt.ends_at):
        raise Conflict(f"La salle « {place.name} » n'est pas ouverte à cette heure : choisissez un autre créneau.")
    if not rules.place_free(appt.starts_at, appt.ends_at,
                            held(session, place.id, appt.starts_at, appt.ends_at, besides=appt.id)):
        raise Conflict(f"La salle « {place.name} » est déjà réservée à cette heure : choisissez un autre créneau.")
    appt.place_id = place.id
    appt.place = place.name
    session.flush()


def open_free_slots(session: Session, place_id: uuid.UUID, found: list[rules.Slot]) -> list[rules.Slot]:
    """Those of a practitioner's free slots during which the place is open and free."""
    if not found:
        return []
    ranges = [as_range(r) for r in ranges_of(session, place_id)]
    taken = held(session, place_id, found[0].starts_at, max(s.ends_at for s in found))
    return [s for s in found if rules.place_open(ranges, s.starts_at, s.ends_at)
            and rules.place_free(s.starts_at, s.ends_at, taken)]
