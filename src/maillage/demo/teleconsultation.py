"""Teleconsultation's part of the demo: dr.martin's weekly availability on the dermatology line, and appointments
booked in it by dr.dupont for their patients: held and ended in the past weeks, one cancelled with its reason, one
no-show, and the coming ones (booked, waiting for their day); two on the demo day itself (a one-off range of that
day, whatever its weekday), and one each booked by the midwife and the EHPAD nurse for a patient they follow. Each
held one has its signed report (a PDF document
of the patient) and its act (TCG), and the connection's quality figures the two browsers sampled during it (one
sample every 30 seconds each, from their own seeded RNG). The assisted and escorted ones (the EHPAD's and the
USMP's nurses) are in ``maillage.demo.teleconsultation_assisted``.

Every step goes through the teleconsultation services with the clock frozen at a past time (the booking the day
before the slot, the link opened and the consent given a few minutes before it, the admission and the end), so the
audit trail and the care relationships are those real use writes. Appointment ids come from the territory plan
(``id_for``), slots and reasons from a seeded RNG: the same département and seed give the same appointments, dated
from the day the demo is built. The coming appointments' links are not kept (only their hashes exist): the GP gives
a new one from the appointment's page.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.demo.teleconsultation_assisted import seed_demo_assisted
from maillage.kit.clock import frozen
from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
from maillage.security.actor import Actor
from maillage.teleconsultation import quality
from maillage.teleconsultation import service as tc
from maillage.teleconsultation.rules import PARIS, Kind

SPECIALIST = "dr.martin"
REQUESTER = "dr.dupont"
WEEKLY = ((0, "14:00", "17:00"), (2, "09:00", "12:00"), (3, "14:00", "17:00"))  # Monday, Wednesday, Thursday
SLOT_MINUTES = 20
HISTORY_DAYS = 28
# (days from the demo day, what happens): negative is past.
STORIES = ((-26, "done"), (-21, "done"), (-19, "cancelled"), (-14, "done"), (-12, "no_show"), (-7, "done"),
           (-5, "done"), (2, "booked"), (5, "booked"), (9, "booked"))
REASONS = ("Contrôle d'un eczéma de contact sous traitement local.",
           "Suivi d'un psoriasis en plaques après changement de traitement.",
           "Réévaluation d'une acné sous isotrétinoïne.",
           "Suivi d'une lésion traitée par cryothérapie.")
REPORTS = ("Lésions en nette amélioration sous traitement local ; poursuite huit jours puis espacement.",
           "Évolution favorable, pas de nouvelle lésion ; arrêt progressif du traitement, contrôle dans trois mois.",
           "Réponse partielle au traitement : majoration proposée, revoir en téléconsultation dans un mois.")
PRESCRIPTIONS = ("Émollient matin et soir.", "Dermocorticoïde d'activité modérée, une application par jour.", "")
CANCELLED = "Le patient a été hospitalisé : rendez-vous à reprogrammer à sa sortie."
# The demo day's own consultations, on a one-off range of that day (whatever its weekday), and the coming ones the
# midwife and the EHPAD nurse booked for the patients they follow: (booker, days from the demo day, minimum hour).
TODAY_RANGE = ("08:00", "19:00")
MORE_BOOKINGS = (("dr.dupont", 0, 9), ("dr.dupont", 0, 15), ("sf.garnier", 3, 0), ("ide.leroy", 4, 0))


def seed_demo_teleconsultation(session: Session, id_for: Callable[[str], uuid.UUID], seed: int,
                               day: dt.datetime) -> int:
    """Write the demo's availability and appointments through the services, from ``day`` (the demo day's midnight,
    UTC); the caller commits. Returns how many appointments."""
    rng = random.Random(f"maillage-demo-teleconsultation:{seed}")
    users = {u.username: u for u in session.scalars(select(UserAccount).where(
        UserAccount.username.in_((SPECIALIST, REQUESTER))))}
    specialist, gp = (auth.actor_for(session, users[name]) for name in (SPECIALIST, REQUESTER))
    line_id = id_for("line/dermatologie")
    with frozen(day - dt.timedelta(days=HISTORY_DAYS + 2)):
        for weekday, start, end in WEEKLY:
            tc.add_range(session, specialist, tc.RangeIn(kind=Kind.WEEKLY, start=start, end=end, weekday=weekday,
                                                         slot_minutes=SLOT_MINUTES, line_id=line_id))
    count = 0
    for n, (offset, outcome) in enumerate(STORIES):
        with frozen(day + dt.timedelta(days=offset - 1, hours=7)) as clock:
            slots = tc.free_slots(session, specialist.user_id, line_id=line_id, days=7)
            if not slots:
                continue
            slot = slots[rng.randrange(min(len(slots), 6))]
            booked = tc.book(session, gp, tc.BookingIn(
                patient_id=id_for(f"patient-{1 + n % 6}"), practitioner_id=specialist.user_id, line_id=line_id,
                starts_at=slot.starts_at, reason=rng.choice(REASONS)), appointment_id=id_for(f"teleconsultation/{n}"))
            count += 1
            appointment = booked.appointment.id
            if outcome == "cancelled":
                clock.advance(dt.timedelta(hours=3))
                tc.cancel(session, gp, appointment, CANCELLED)
            elif outcome == "no_show":
                clock.advance(slot.starts_at - clock.now + dt.timedelta(minutes=12))
                tc.no_show(session, specialist, appointment)
            elif outcome == "done":
                clock.advance(slot.starts_at - clock.now - dt.timedelta(minutes=rng.randint(2, 9)))
                _, secret = tc.open_link(session, booked.link)
                tc.consent(session, secret, teleconsultation=True, third_party=rng.random() < 0.25)
                clock.advance(slot.starts_at - clock.now + dt.timedelta(minutes=rng.randint(0, 4)))
                tc.admit(session, specialist, appointment)
                held = dt.timedelta(minutes=rng.randint(9, 18))
                _quality_samples(session, appointment, clock.now, held, random.Random(f"{seed}:quality:{n}"))
                clock.advance(held)
                tc.end(session, specialist, appointment)
                clock.advance(dt.timedelta(minutes=rng.randint(2, 6)))
                tc.sign(session, specialist, appointment, tc.ReportIn(report=rng.choice(REPORTS),
                                                                      prescriptions=rng.choice(PRESCRIPTIONS)))
    count += _more_bookings(session, id_for, rng, specialist, line_id, day)
    count += seed_demo_assisted(session, id_for, seed, specialist, line_id, day)
    session.flush()
    return count


def _quality_samples(session: Session, appointment: uuid.UUID, start: dt.datetime, held: dt.timedelta,
                     rng: random.Random) -> None:
    """What the two browsers would have sampled: a steady connection, now and then a burst of loss."""
    at = start + dt.timedelta(seconds=20)
    while at < start + held:
        for role, size in (("practitioner", (1280, 720)), ("patient", (640, 480))):
            burst = rng.random() < 0.05
            quality.keep(session, appointment, role, quality.Sample(
                rtt_ms=round(rng.uniform(18, 45) * (3 if burst else 1), 1),
                loss_pct=round(rng.uniform(2, 6) if burst else rng.uniform(0, 0.4), 2),
                jitter_ms=round(rng.uniform(2, 9), 1), width=size[0], height=size[1]), at=at)
        at += dt.timedelta(seconds=30)


def _more_bookings(session: Session, id_for: Callable[[str], uuid.UUID], rng: random.Random, specialist: Actor,
                   line_id: uuid.UUID, day: dt.datetime) -> int:
    """The demo day's appointments (so the specialist's day is not empty whatever the weekday) and the coming ones
    of the other bookers, each for a patient they care for."""
    if day.weekday() not in {weekday for weekday, _, _ in WEEKLY}:  # a weekly day has its slots already
        with frozen(day - dt.timedelta(days=1)):
            tc.add_range(session, specialist, tc.RangeIn(kind=Kind.EXTRA, start=TODAY_RANGE[0], end=TODAY_RANGE[1],
                                                         day=day.date(), slot_minutes=SLOT_MINUTES, line_id=line_id))
    names = sorted({name for name, _, _ in MORE_BOOKINGS})
    users = {u.username: u for u in session.scalars(select(UserAccount).where(UserAccount.username.in_(names)))}
    count = 0
    for n, (name, offset, hour) in enumerate(MORE_BOOKINGS):
        booker = auth.actor_for(session, users[name])
        patient_id = session.scalar(select(CareRelationship.patient_id).where(
            CareRelationship.user_id == booker.user_id, CareRelationship.ends_at.is_(None))
            .order_by(CareRelationship.patient_id).limit(1))
        if patient_id is None:
            continue
        with frozen(day + dt.timedelta(hours=6)):
            first_day = (day + dt.timedelta(days=offset)).date()
            slots = [s for s in tc.free_slots(session, specialist.user_id, line_id=line_id, first_day=first_day,
                                              days=7) if s.starts_at.astimezone(PARIS).hour >= hour]
            if not slots:
                continue
            tc.book(session, booker, tc.BookingIn(
                patient_id=patient_id, practitioner_id=specialist.user_id, line_id=line_id,
                starts_at=slots[0].starts_at, reason=rng.choice(REASONS)),
                appointment_id=id_for(f"teleconsultation/more-{n}"))
            count += 1
    return count
