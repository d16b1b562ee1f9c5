"""Assisted and escorted teleconsultations in the demo: the USMP's teleconsultation room (open on weekdays, and on
the demo day whatever its weekday), and dr.martin's assisted consultations played through the services: the EHPAD
nurse (ide.leroy) with one of her residents, one held weeks ago (TLS recorded, report signed) and one today; the
USMP's nurse (ide.usmp) with the detainee in the unit's room, one held (TLL recorded, the report addressed to the
unit's physician) and one today, one coming.

The clock is frozen at past times as in ``maillage.demo.teleconsultation``; ids come from the territory plan, slots
from a seeded RNG. In a département without a prison the USMP part is skipped (``territory`` says there is no USMP).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.kit.clock import frozen
from maillage.models.auth import UserAccount
from maillage.models.directory import Establishment
from maillage.security.actor import Actor
from maillage.teleconsultation import assisted, booking, places, report
from maillage.teleconsultation import service as tc
from maillage.teleconsultation.rules import PARIS, Assistance, Kind

ROOM = "Salle de téléconsultation"
ROOM_HOURS = ("08:00", "19:00")
WEEKDAYS = range(5)
# (nurse, days from the demo day, minimum hour, kind, what happens)
STORIES = (("ide.leroy", -16, 0, Assistance.TLS, "done"), ("ide.leroy", 0, 11, Assistance.TLS, "booked"),
           ("ide.usmp", -9, 0, Assistance.TLL, "done"), ("ide.usmp", 0, 16, Assistance.TLL, "booked"),
           ("ide.usmp", 6, 0, Assistance.TLL, "booked"))
REASONS = {"ide.leroy": ("Escarre du talon : avis sur l'évolution sous pansement.",
                         "Lésion cutanée du dos apparue depuis un mois chez une résidente."),
           "ide.usmp": ("Éruption prurigineuse diffuse depuis deux semaines.",
                        "Lésion pigmentée du bras à examiner.")}
REPORTS = ("Examen réalisé avec l'aide de l'infirmière : évolution favorable, poursuite des soins locaux.",
           "Aspect rassurant à l'examen vidéo assisté ; surveillance, nouvel avis si modification.")


def seed_demo_assisted(session: Session, id_for: Callable[[str], uuid.UUID], seed: int, specialist: Actor,
                       line_id: uuid.UUID, day: dt.datetime) -> int:
    """Write the USMP's room and the assisted appointments (the caller commits). Returns how many appointments."""
    rng = random.Random(f"maillage-demo-teleconsultation-assisted:{seed}")
    users = {u.username: u for u in session.scalars(select(UserAccount).where(
        UserAccount.username.in_(sorted({s[0] for s in STORIES}))))}
    nurses = {name: auth.actor_for(session, user) for name, user in users.items()}
    room = _room(session, id_for, nurses.get("ide.usmp"), day)
    count = 0
    for n, (name, offset, hour, kind, outcome) in enumerate(STORIES):
        nurse = nurses.get(name)
        if nurse is None or (name == "ide.usmp" and room is None):
            continue
        patient_id = (id_for("patient-15") if name == "ide.usmp" else id_for("patient-9"))
        first_day = (day + dt.timedelta(days=offset)).date()
        with frozen(day + dt.timedelta(days=offset - 1, hours=7)) as clock:
            found = [s for s in tc.free_slots(session, specialist.user_id, line_id=line_id, first_day=first_day,
                                              days=7) if s.starts_at.astimezone(PARIS).hour >= hour]
            if room is not None and name == "ide.usmp":
                found = places.open_free_slots(session, room, found)
            if not found:
                continue
            slot = found[0] if offset >= 0 else found[rng.randrange(min(len(found), 4))]
            appt = assisted.book_assisted(session, nurse, booking.BookingIn(
                patient_id=patient_id, practitioner_id=specialist.user_id, line_id=line_id, starts_at=slot.starts_at,
                reason=rng.choice(REASONS[name])), assisted.AssistIn(
                nurse_id=nurse.user_id, assistance=kind, place_id=room if name == "ide.usmp" else None),
                appointment_id=id_for(f"teleconsultation/assisted-{n}"))
            count += 1
            if outcome == "done":
                clock.advance(slot.starts_at - clock.now - dt.timedelta(minutes=rng.randint(2, 8)))
                assisted.consent(session, nurse, appt.id, teleconsultation=True, third_party=name == "ide.usmp")
                clock.advance(slot.starts_at - clock.now + dt.timedelta(minutes=rng.randint(0, 3)))
                tc.admit(session, specialist, appt.id)
                clock.advance(dt.timedelta(minutes=rng.randint(10, 16)))
                tc.end(session, specialist, appt.id)
                clock.advance(dt.timedelta(minutes=rng.randint(2, 6)))
                report.sign(session, specialist, appt.id, report.ReportIn(report=rng.choice(REPORTS)))
    session.flush()
    return count


def _room(session: Session, id_for: Callable[[str], uuid.UUID], nurse: Actor | None,
          day: dt.datetime) -> uuid.UUID | None:
    """The first USMP's teleconsultation room, created by its nurse, open on weekdays (and the demo day)."""
    usmp = session.get(Establishment, id_for("usmp-1"))
    if usmp is None or nurse is None or usmp.id not in nurse.establishment_ids:
        return None
    with frozen(day - dt.timedelta(days=40)):
        place = places.create_place(session, nurse, establishment_id=usmp.id, name=ROOM)
        for weekday in WEEKDAYS:
            places.add_range(session, nurse, place.id, places.PlaceRangeIn(
                kind=Kind.WEEKLY, start=ROOM_HOURS[0], end=ROOM_HOURS[1], weekday=weekday))
    if day.weekday() not in WEEKDAYS:
        with frozen(day - dt.timedelta(days=1)):
            places.add_range(session, nurse, place.id, places.PlaceRangeIn(
                kind=Kind.EXTRA, start=ROOM_HOURS[0], end=ROOM_HOURS[1], day=day.date()))
    return place.id
