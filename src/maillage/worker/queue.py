"""The job table as a queue.

``enqueue_job`` adds the job to the caller's session: the row becomes visible to workers only when
the caller's transaction commits, and disappears with it on rollback (a transactional outbox).

Claiming: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` so that concurrent workers never take
the same job; on SQLite a single-statement ``UPDATE … RETURNING`` under SQLite's database write lock.
The worker runs the handler inside the claiming transaction and marks the job done in it, so a job's
effect and its completion commit together: a worker killed mid-job leaves the job queued and its
effect invisible, and the next worker runs it again from the start.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maillage.kit.clock import now
from maillage.models.job import Job, JobStatus

_ARG_TYPES = (int, str, bool, float, type(None))


def enqueue_job(
    session: Session,
    name: str,
    *,
    run_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
    request_id: str | None = None,
    **ids: Any,
) -> Job | None:
    """Queue job ``name`` with plain ids as arguments, inside the caller's transaction.

    Arguments are ids, never objects or health data: the job re-loads what it needs.
    With ``dedupe_key``, a second job with the same key is not queued (returns None).
    """
    for key, value in ids.items():
        if not isinstance(value, _ARG_TYPES):
            raise TypeError(f"job argument {key!r} must be a plain id, not {type(value).__name__}")
    job = Job(
        name=name,
        args=dict(ids),
        run_at=run_at or now(),
        dedupe_key=dedupe_key,
        request_id=request_id,
        status=JobStatus.QUEUED,
        attempts=0,
    )
    if max_attempts is not None:
        job.max_attempts = max_attempts
    if dedupe_key is None:
        session.add(job)
        session.flush()
        return job
    if session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key)) is not None:
        return None
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        return None
    return job


def claim_next(session: Session, at: dt.datetime | None = None) -> Job | None:
    """Lock and return the next due job inside the session's transaction, or None."""
    at = at or now()
    if session.get_bind().dialect.name == "postgresql":
        stmt = (
            select(Job)
            .where(Job.status == JobStatus.QUEUED, Job.run_at <= at)
            .order_by(Job.run_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return session.scalars(stmt).first()
    # SQLite: the UPDATE takes the database write lock for the rest of the transaction.
    due = (
        select(Job.id)
        .where(Job.status == JobStatus.QUEUED, Job.run_at <= at)
        .order_by(Job.run_at, Job.id)
        .limit(1)
        .scalar_subquery()
    )
    job_id = session.execute(
        update(Job).where(Job.id == due, Job.status == JobStatus.QUEUED)
        .values(attempts=Job.attempts).returning(Job.id)
    ).scalar()
    if job_id is None:
        return None
    return session.get(Job, job_id, populate_existing=True)


def queue_depth(session: Session, at: dt.datetime | None = None) -> int:
    """Jobs due now and not yet run."""
    at = at or now()
    return int(
        session.scalar(
            select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED, Job.run_at <= at)
        )
        or 0
    )


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {str(status): int(count) for status, count in rows}


def backoff_seconds(attempts: int, base: float, maximum: float) -> float:
    """Exponential backoff: base, 2·base, 4·base… capped at ``maximum``."""
    return float(min(maximum, base * (2 ** max(0, attempts - 1))))
