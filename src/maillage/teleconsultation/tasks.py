"""Background jobs of teleconsultation, run by ``maillage worker``: the reminders of the appointments (every few
minutes) and the email of each notice. Each appointment is reminded once per reminder and each notice emailed once,
whatever the number of runs."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from maillage.outbox import service as outbox
from maillage.teleconsultation import notices, reminders
from maillage.worker.registry import job, periodic


@job("teleconsultation.send_reminders")
def send_reminders(session: Session) -> int:
    """The day-before and hour-before reminders now due."""
    return reminders.send_due(session)


@job(notices.EMAIL_JOB)
def email_notice(session: Session, notice_id: str) -> str:
    """Email one notice to its recipient through the configured mailer (queued with the notice)."""
    outcome = notices.email_notice(session, uuid.UUID(notice_id), outbox.current_mailer())
    return outcome.value if outcome is not None else "gone"


periodic("teleconsultation.send_reminders", every=reminders.CHECK_EVERY)
