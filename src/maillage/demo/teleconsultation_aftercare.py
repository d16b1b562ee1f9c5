"""Teleconsultation's scheduling and after-care in the demo, after its appointments (``demo.teleconsultation``):
the line's coordinator (the coordinating nurse), a coming appointment rescheduled by the GP with its reason, a
follow-up ordered after a held one, and the reminders the worker sends on the demo day's morning. The reports of the
held ones were sent to the médecin traitant and the requester when they were signed.

Every step goes through the services with the clock frozen; the new appointment's id comes from the territory plan,
so the same seed gives the same demo."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.kit.clock import frozen
from maillage.models.auth import UserAccount
from maillage.models.directory import SpecialtyLineMember
from maillage.models.teleconsultation import TeleconsultationAppointment
from maillage.teleconsultation import aftercare, availability, reminders, scheduling
from maillage.teleconsultation.rules import PARIS

COORDINATOR = "idec.bernard"
RESCHEDULED = "teleconsultation/8"  # a coming appointment of the GP (demo.teleconsultation.STORIES)
FOLLOWED_UP = "teleconsultation/6"  # the last held one
RESCHEDULE_REASON = "Le patient est retenu à l'heure prévue : il préfère le créneau suivant."
FOLLOW_UP_NOTE = "Revoir les lésions en téléconsultation dans un mois, après la fin du traitement."


def seed_demo_teleconsultation_aftercare(
    session: Session, id_for: Callable[[str], uuid.UUID], day: dt.datetime
) -> None:
    """Write the demo's scheduling and after-care from ``day`` (the demo day's midnight, UTC); the caller commits."""
    line_id = id_for("line/dermatologie")
    coordinator = session.scalar(select(UserAccount).where(UserAccount.username == COORDINATOR))
    if coordinator is not None and coordinator.person_id is not None:
        session.add(SpecialtyLineMember(line_id=line_id, professional_id=coordinator.person_id, role="coordinator"))
        session.flush()
    _reschedule(session, id_for)
    _follow_up(session, id_for)
    with frozen(day + dt.timedelta(hours=6, minutes=30)):
        reminders.send_due(session)
    session.flush()


def _reschedule(session: Session, id_for: Callable[[str], uuid.UUID]) -> None:
    appt = session.get(TeleconsultationAppointment, id_for(RESCHEDULED))
    user = session.get(UserAccount, appt.requester_id) if appt is not None else None
    if appt is None or user is None or appt.status != "booked":
        return
    requester = auth.actor_for(session, user)
    with frozen(appt.created_at + dt.timedelta(hours=2)):
        day = appt.starts_at.astimezone(PARIS).date()
        later = [
            s
            for s in availability.free_slots(session, appt.practitioner_id, line_id=appt.line_id, first_day=day, days=7)
            if s.starts_at > appt.starts_at
        ]
        if later:
            scheduling.reschedule(
                session,
                requester,
                appt.id,
                later[0].starts_at,
                RESCHEDULE_REASON,
                new_appointment_id=id_for(f"{RESCHEDULED}/rescheduled"),
            )


def _follow_up(session: Session, id_for: Callable[[str], uuid.UUID]) -> None:
    appt = session.get(TeleconsultationAppointment, id_for(FOLLOWED_UP))
    user = session.get(UserAccount, appt.practitioner_id) if appt is not None else None
    if appt is None or user is None or appt.status != "done" or appt.report_signed_at is None:
        return
    practitioner = auth.actor_for(session, user)
    with frozen(appt.report_signed_at + dt.timedelta(minutes=1)):
        aftercare.order_follow_up(
            session, practitioner, appt.id, aftercare.FollowUpIn("teleconsultation", FOLLOW_UP_NOTE)
        )
