"""Background jobs of billing, run by ``maillage worker``. Each is idempotent and safe to run twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maillage.billing import service
from maillage.kit.clock import today_paris
from maillage.worker.registry import job, periodic

COLLECT_EVERY = dt.timedelta(minutes=10)


@job("billing.collect")
def collect(session: Session) -> int:
    """Bring into the ledger the acts the capabilities recorded since the last run."""
    return service.collect(session)


@job("billing.monthly_statements")
def monthly_statements(session: Session, month: str | None = None) -> int:
    """On the 1st (Paris), the statements of the month that ended, per establishment and per professional; with
    ``month`` (AAAA-MM), that month's, on demand. Recomputing replaces the stored statement."""
    today = today_paris()
    if month is None:
        if today.day != 1:
            return 0
        target = (today - dt.timedelta(days=1)).replace(day=1)
    else:
        target = dt.date.fromisoformat(f"{month}-01")
    return service.compute_statements(session, target)


periodic("billing.collect", every=COLLECT_EVERY)
periodic("billing.monthly_statements", every=dt.timedelta(hours=24))
