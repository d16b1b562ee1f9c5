"""The daily ``audit.purge`` job: registered, scheduled once a day, purging under the configured retention."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from maillage import config
from maillage.audit import service, tasks
from maillage.exceptions import Conflict
from maillage.kit import clock
from maillage.models.audit import AuditAnchor, AuditEntry
from maillage.models.job import Job, JobStatus
from maillage.worker import enqueue_job, registry
from maillage.worker.runner import Worker, WorkerConfig

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def old_and_new(session) -> dt.datetime:
    with clock.frozen(START) as c:
        for _ in range(3):
            service.record(session, action="read", object_type="patient")
        session.commit()
        c.advance(dt.timedelta(days=200))
        service.record(session, action="read", object_type="patient")
        session.commit()
        return c.now


class TestRegistration:
    def test_the_purge_job_is_registered_and_runs_daily(self):
        assert registry.get("audit.purge") is not None
        spec = next(p for p in registry.periodic_specs() if p.name == "audit.purge")
        assert spec.every == dt.timedelta(hours=24)

    def test_the_checkpoint_job_is_registered_and_runs_every_few_minutes(self):
        assert registry.get("audit.checkpoint") is not None
        spec = next(p for p in registry.periodic_specs() if p.name == "audit.checkpoint")
        assert spec.every == dt.timedelta(minutes=config.get_settings().audit_checkpoint_minutes) == dt.timedelta(
            minutes=10)


class TestWriteCheckpoint:
    def test_the_worker_signs_the_head_and_a_second_run_writes_nothing(self, sessions, checkpoints):
        with sessions() as s:
            for _ in range(3):
                service.record(s, action="read", object_type="patient")
            s.commit()
            head = s.scalar(select(func.max(AuditEntry.seq)))
        for _ in range(2):
            with sessions() as s:
                enqueue_job(s, tasks.CHECKPOINT_JOB)
                s.commit()
            stats = Worker(sessions, WorkerConfig(poll_seconds=0.01)).run_until_idle()
            assert stats.done == 1
        assert [(r["n"], r["seq"]) for r in checkpoints.records] == [(1, head)]
        with sessions() as s:
            report = service.verify_chain(s)
        assert report.ok and report.last_checkpoint is not None and report.last_checkpoint.seq == head

    def test_an_altered_register_fails_the_job_and_nothing_more_is_signed(self, sessions, checkpoints):
        with sessions() as s:
            service.record(s, action="read", object_type="patient")
            s.commit()
        with sessions() as s:
            assert tasks.write_checkpoint(s) is not None
        checkpoints.records[0]["hash"] = "f" * 64   # the register no longer verifies
        with sessions() as s, pytest.raises(Conflict, match="registre des points de contrôle altéré"):
            tasks.write_checkpoint(s)
        assert len(checkpoints.records) == 1


class TestPurgeExpired:
    @pytest.fixture(autouse=True)
    def _settings(self, monkeypatch):
        monkeypatch.setenv("MAILLAGE_AUDIT_RETENTION_DAYS", "183")
        config.get_settings.cache_clear()
        yield
        config.get_settings.cache_clear()

    def test_the_worker_purges_old_entries_as_the_system(self, sessions):
        with sessions() as s:
            at = old_and_new(s)
        with clock.frozen(at):
            with sessions() as s:
                enqueue_job(s, tasks.PURGE_JOB)
                s.commit()
            stats = Worker(sessions, WorkerConfig(poll_seconds=0.01)).run_until_idle()
        assert stats.done == 1
        with sessions() as s:
            assert s.scalar(select(func.count()).select_from(AuditAnchor)) == 1
            purge = s.scalars(select(AuditEntry).where(AuditEntry.action == "purge")).one()
            assert (purge.actor_id, purge.actor_role) == ("worker", "system")
            assert purge.request_id and purge.request_id.startswith("job-")
            assert service.verify_chain(s).ok

    def test_running_twice_purges_nothing_more(self, db):
        at = old_and_new(db)
        with clock.frozen(at):
            assert tasks.purge_expired(db) == 3
            db.commit()
            assert tasks.purge_expired(db) == 0
            db.commit()
        assert db.scalar(select(func.count()).select_from(AuditAnchor)) == 1

    def test_a_retention_under_six_months_makes_the_job_fail_instead_of_purging(self, sessions, monkeypatch):
        monkeypatch.setenv("MAILLAGE_AUDIT_RETENTION_DAYS", "30")
        config.get_settings.cache_clear()
        with sessions() as s:
            at = old_and_new(s)
        with clock.frozen(at):
            with sessions() as s:
                enqueue_job(s, tasks.PURGE_JOB)
                s.commit()
            Worker(sessions, WorkerConfig(poll_seconds=0.01, backoff_base=0.0)).run_until_idle()
        with sessions() as s:
            job = s.scalars(select(Job).where(Job.name == tasks.PURGE_JOB)).one()
            assert job.status in (JobStatus.QUEUED, JobStatus.FAILED) and "ValidationFailed" in (job.last_error or "")
            assert s.scalar(select(func.count()).select_from(AuditEntry)) == 4
