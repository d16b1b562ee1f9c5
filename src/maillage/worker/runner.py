"""``maillage worker``: run due jobs, retry with backoff, schedule periodic jobs.

One job, one transaction: claim, run the handler, mark done, commit. A failure rolls the effect back
and records the error in a second transaction, with the next attempt pushed back exponentially;
after ``max_attempts`` the job is marked failed and kept with its error for an administrator.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from maillage.kit.clock import now
from maillage.kit.logging import bound_context, get_logger
from maillage.models.job import Job, JobStatus
from maillage.worker import registry
from maillage.worker.queue import backoff_seconds, claim_next, enqueue_job

log = get_logger("maillage.worker")


@dataclass
class WorkerConfig:
    poll_seconds: float = 1.0
    max_attempts: int = 5
    backoff_base: float = 5.0
    backoff_max: float = 3600.0


@dataclass
class RunStats:
    done: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    ran_ids: list[int] = field(default_factory=list)


class Worker:
    def __init__(self, sessions: sessionmaker[Session], config: WorkerConfig | None = None):
        self.sessions = sessions
        self.config = config or WorkerConfig()
        self.worker_id = uuid.uuid4().hex[:12]
        self._stop = False

    # -- periodic ---------------------------------------------------------------------------------
    def schedule_periodic(self) -> list[str]:
        """Queue the current slot of every periodic job once, whatever the number of workers.

        Returns the names of the jobs this call queued.
        """
        queued: list[str] = []
        current = now()
        with self.sessions() as session:
            for spec in registry.periodic_specs():
                seconds = int(spec.every.total_seconds())
                slot = int(current.timestamp()) // seconds
                key = f"periodic:{spec.name}:{slot}"
                if enqueue_job(session, spec.name, dedupe_key=key, **dict(spec.args)) is not None:
                    queued.append(spec.name)
            session.commit()
        return queued

    # -- one job ----------------------------------------------------------------------------------
    def run_one(self) -> Job | None:
        """Run the next due job. Returns the job, or None when nothing was due."""
        session = self.sessions()
        try:
            job = claim_next(session)
            if job is None:
                session.rollback()
                return None
            job_id, name, args = job.id, job.name, dict(job.args or {})
            max_attempts = job.max_attempts or self.config.max_attempts
            spec = registry.get(name)
            with bound_context(job_id=job_id, job=name, request_id=job.request_id or f"job-{job_id}"):
                if spec is None:
                    job.status = JobStatus.FAILED
                    job.last_error = f"no handler registered for job {name!r}"
                    job.finished_at = now()
                    session.commit()
                    log.error("job.unknown")
                    return job
                if spec.max_attempts is not None:
                    max_attempts = spec.max_attempts
                try:
                    registry.call(spec, session, args)
                    job.status = JobStatus.DONE
                    job.attempts = job.attempts + 1
                    job.finished_at = now()
                    job.last_error = None
                    session.commit()
                    log.info("job.done", attempts=job.attempts)
                    return job
                except Exception as exc:
                    session.rollback()
                    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
                    return self._record_failure(job_id, error, max_attempts)
        finally:
            session.close()

    def _record_failure(self, job_id: int, error: str, max_attempts: int) -> Job:
        with self.sessions() as session:
            stmt = select(Job).where(Job.id == job_id)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            job = session.scalars(stmt).one()
            job.attempts = job.attempts + 1
            job.last_error = error
            if job.attempts >= max_attempts:
                job.status = JobStatus.FAILED
                job.finished_at = now()
                log.error("job.failed", attempts=job.attempts, error_type=error.split(":")[0])
            else:
                delay = backoff_seconds(job.attempts, self.config.backoff_base, self.config.backoff_max)
                job.run_at = now() + dt.timedelta(seconds=delay)
                log.warning("job.retry", attempts=job.attempts, delay_s=delay, error_type=error.split(":")[0])
            session.commit()
            return job

    # -- loop -------------------------------------------------------------------------------------
    def run_until_idle(self, limit: int = 10_000) -> RunStats:
        """Run due jobs until none is due (tests and the ``--once`` flag)."""
        stats = RunStats()
        for _ in range(limit):
            job = self.run_one()
            if job is None:
                break
            assert isinstance(job, Job)
            stats.ran_ids.append(job.id)
            if job.status == JobStatus.DONE:
                stats.done += 1
            elif job.status == JobStatus.FAILED:
                stats.failed += 1
            else:
                stats.retried += 1
        return stats

    def stop(self, *_: Any) -> None:
        self._stop = True

    def run_forever(self, sleep: Callable[[float], None] = time.sleep) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info("worker.started", worker_id=self.worker_id, jobs=registry.registered_names())
        last_schedule = 0.0
        while not self._stop:
            try:
                if time.monotonic() - last_schedule >= 1.0:
                    self.schedule_periodic()
                    last_schedule = time.monotonic()
                if self.run_one() is None:
                    sleep(self.config.poll_seconds)
            except OperationalError as exc:
                # Database busy or restarting: wait and try again, nothing is lost (the job stays queued).
                log.warning("worker.database_unavailable", error_type=type(exc.orig).__name__)
                sleep(self.config.poll_seconds)
        log.info("worker.stopped", worker_id=self.worker_id)

