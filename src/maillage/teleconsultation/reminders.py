"""Reminders of the appointments, run by the worker: the day before (within 24 hours of the start) and one hour
before, to the practitioner and the requester, in the application and by email through the outbox (a link only, no
health data). Each reminder goes out once per appointment whatever the number of runs or workers: a conditional
UPDATE stamps the appointment before the notices are written, and the notices are unique per recipient and kind.

The patient is not reminded by the platform: their link is stored as a hash only and cannot be sent again; the
requester who handed it over reminds them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maillage.kit.clock import now
from maillage.teleconsultation import notices
from maillage.teleconsultation import repository as repo

DAY_BEFORE = dt.timedelta(hours=24)
HOUR_BEFORE = dt.timedelta(hours=1)
CHECK_EVERY = dt.timedelta(minutes=5)


def send_due(session: Session) -> int:
    """Send the reminders now due; returns how many appointments were reminded. An appointment within the hour that
    had no day-before reminder gets the hour's only (two reminders at once would say the same thing)."""
    at = now()
    sent = 0
    for appt in repo.due_reminders(session, "reminder_hour_sent_at", at, at + HOUR_BEFORE):
        if not repo.stamp_once(session, appt.id, "reminder_hour_sent_at", at):
            continue
        repo.stamp_once(session, appt.id, "reminder_day_sent_at", at)
        notices.notify(session, [appt.practitioner_id, appt.requester_id], appt.id, "reminder_hour")
        notices.event(session, appt.id, "reminder_hour")
        sent += 1
    for appt in repo.due_reminders(session, "reminder_day_sent_at", at + HOUR_BEFORE, at + DAY_BEFORE):
        if not repo.stamp_once(session, appt.id, "reminder_day_sent_at", at):
            continue
        notices.notify(session, [appt.practitioner_id, appt.requester_id], appt.id, "reminder_day")
        notices.event(session, appt.id, "reminder_day")
        sent += 1
    return sent
