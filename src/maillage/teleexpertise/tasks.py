"""Background jobs of tele-expertise, run by ``maillage worker``: reminders before the due time and escalation once
it has passed, the email of each notification, and the coordinator's board snapshot every few minutes. Each request
is reminded and escalated at most once, and each notification emailed at most once, whatever the number of runs."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from maillage.outbox import service as outbox
from maillage.teleexpertise import board, deadlines, notify
from maillage.worker.registry import job, periodic

DEADLINE_CHECK_EVERY = dt.timedelta(minutes=5)


@job("teleexpertise.send_reminders")
def send_reminders(session: Session) -> int:
    """Remind the specialist (or the line's pool) when a quarter of the committed delay remains."""
    return deadlines.send_reminders(session)


@job("teleexpertise.escalate_overdue")
def escalate_overdue(session: Session) -> int:
    """Escalate overdue requests to the line's coordinators and on-call backup."""
    return deadlines.escalate_overdue(session)


@job("teleexpertise.refresh_board")
def refresh_board(session: Session) -> int:
    """Recompute the coordinator's board snapshot of every tele-expertise line (the page reads it)."""
    return board.refresh_board(session)


@job(notify.EMAIL_JOB)
def email_notification(session: Session, notification_id: str) -> str:
    """Email one notification to its recipient through the configured mailer (queued with the notification)."""
    outcome = notify.email_notification(session, uuid.UUID(notification_id), outbox.current_mailer())
    return outcome.value if outcome is not None else "gone"


periodic("teleexpertise.send_reminders", every=DEADLINE_CHECK_EVERY)
periodic("teleexpertise.escalate_overdue", every=DEADLINE_CHECK_EVERY)
periodic("teleexpertise.refresh_board", every=board.BOARD_REFRESH_EVERY)
