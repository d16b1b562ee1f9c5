"""Background jobs of telesurveillance, run by ``maillage worker``. Each is idempotent and safe to run twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maillage.kit.clock import today_paris
from maillage.kit.months import month_start
from maillage.monitoring import service
from maillage.worker.registry import job, periodic

SILENCE_CHECK_EVERY = dt.timedelta(minutes=5)


@job("monitoring.check_silences")
def check_silences(session: Session) -> int:
    """Raise the non-transmission alerts that fell due (cannot be disabled for any programme)."""
    return service.check_silences(session)


@job("monitoring.record_forfaits")
def record_forfaits(session: Session) -> int:
    """Record last month's operator forfaits (billed at the end of each month); a rerun records nothing twice."""
    last_month = month_start(today_paris()) - dt.timedelta(days=1)
    return service.record_forfaits(session, last_month)


@job("monitoring.end_expired")
def end_expired(session: Session) -> int:
    """End the enrolments whose prescription ran out (at most one year, CSS R162-100)."""
    return service.end_expired(session)


periodic("monitoring.check_silences", every=SILENCE_CHECK_EVERY)
periodic("monitoring.record_forfaits", every=dt.timedelta(hours=24))
periodic("monitoring.end_expired", every=dt.timedelta(hours=24))
