"""Background job of patient documents: the retention purge, once a day (the same use case as
``maillage documents purge``; held documents are skipped, each deletion is audited)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maillage.document import service
from maillage.worker.registry import job, periodic

PURGE_JOB = "document.purge_expired"


@job(PURGE_JOB, max_attempts=3)
def purge_expired(session: Session) -> int:
    """Delete the documents past their retention (idempotent: a purged document is no longer a candidate)."""
    return sum(1 for item in service.purge(session, dry_run=False) if not item.held)


periodic(PURGE_JOB, every=dt.timedelta(hours=24))
