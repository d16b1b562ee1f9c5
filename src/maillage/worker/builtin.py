"""Jobs every installation has, whatever capabilities are enabled."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.orm import Session

from maillage.kit.clock import now
from maillage.models.job import Job, JobStatus
from maillage.worker.registry import job, periodic

DONE_JOBS_KEPT_DAYS = 30


@job("worker.purge_done_jobs")
def purge_done_jobs(session: Session) -> int:
    """Delete jobs finished successfully more than 30 days ago (failed ones are kept for review)."""
    cutoff = now() - dt.timedelta(days=DONE_JOBS_KEPT_DAYS)
    result = session.execute(delete(Job).where(Job.status == JobStatus.DONE, Job.finished_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


periodic("worker.purge_done_jobs", every=dt.timedelta(hours=24))
