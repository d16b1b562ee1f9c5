"""Background jobs of tele-expertise, run by ``maillage worker``: reminders before the due time and escalation once
it has passed. Each request is reminded and escalated at most once, whatever the number of runs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maillage.teleexpertise import service
from maillage.worker.registry import job, periodic

DEADLINE_CHECK_EVERY = dt.timedelta(minutes=5)


@job("teleexpertise.send_reminders")
def send_reminders(session: Session) -> int:
    """Remind the specialist (or the line's pool) when a quarter of the committed delay remains."""
    return service.send_reminders(session)


@job("teleexpertise.escalate_overdue")
def escalate_overdue(session: Session) -> int:
    """Escalate overdue requests to the line's coordinators and on-call backup."""
    return service.escalate_overdue(session)


periodic("teleexpertise.send_reminders", every=DEADLINE_CHECK_EVERY)
periodic("teleexpertise.escalate_overdue", every=DEADLINE_CHECK_EVERY)
