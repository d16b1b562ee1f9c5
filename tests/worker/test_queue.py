"""enqueue_job and the worker loop, on both engines."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from maillage.kit import clock
from maillage.models import Job, JobStatus
from maillage.worker import enqueue_job, queue_depth
from maillage.worker.queue import backoff_seconds
from maillage.worker.runner import Worker, WorkerConfig
from tests.worker import jobs_for_tests


@pytest.fixture(autouse=True)
def _reset_calls():
    jobs_for_tests.CALLS.clear()
    yield
    jobs_for_tests.CALLS.clear()


def make_worker(sessions) -> Worker:
    return Worker(sessions, WorkerConfig(poll_seconds=0.01, max_attempts=5, backoff_base=10, backoff_max=60))


class TestEnqueueJob:
    def test_a_job_enqueued_in_a_committed_transaction_runs_once(self, sessions):
        with sessions() as s:
            enqueue_job(s, "test.record", marker="a")
            s.commit()
        stats = make_worker(sessions).run_until_idle()
        assert jobs_for_tests.CALLS == ["a"]
        assert stats.done == 1
        with sessions() as s:
            job = s.scalars(select(Job)).one()
            assert job.status == JobStatus.DONE and job.attempts == 1 and job.finished_at is not None

    def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(self, sessions):
        with sessions() as s:
            enqueue_job(s, "test.record", marker="ghost")
            s.flush()
            s.rollback()
        stats = make_worker(sessions).run_until_idle()
        assert jobs_for_tests.CALLS == []
        assert stats.done == 0
        with sessions() as s:
            assert s.scalars(select(Job)).all() == []

    def test_arguments_must_be_plain_ids(self, db):
        with pytest.raises(TypeError, match="plain id"):
            enqueue_job(db, "test.record", marker=object())

    def test_a_dedupe_key_queues_the_job_once(self, db):
        assert enqueue_job(db, "test.record", dedupe_key="k1", marker="a") is not None
        assert enqueue_job(db, "test.record", dedupe_key="k1", marker="b") is None
        db.flush()
        assert len(db.scalars(select(Job)).all()) == 1

    def test_a_job_due_later_waits_for_its_time(self, sessions):
        start = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
        with clock.frozen(start) as frozen:
            with sessions() as s:
                enqueue_job(s, "test.record", run_at=start + dt.timedelta(minutes=5), marker="later")
                s.commit()
                assert queue_depth(s) == 0
            assert make_worker(sessions).run_until_idle().done == 0
            frozen.advance(dt.timedelta(minutes=5))
            assert make_worker(sessions).run_until_idle().done == 1
        assert jobs_for_tests.CALLS == ["later"]


class TestRetries:
    def test_a_failing_job_is_retried_with_backoff_then_marked_failed_with_its_error(self, sessions):
        start = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
        worker = make_worker(sessions)
        with clock.frozen(start) as frozen:
            with sessions() as s:
                job_id = enqueue_job(s, "test.always_fails", marker="x").id  # type: ignore[union-attr]
                s.commit()
            # attempt 1 fails: retried after the base delay
            assert worker.run_until_idle().retried == 1
            with sessions() as s:
                job = s.get(Job, job_id)
                assert job.status == JobStatus.QUEUED and job.attempts == 1
                assert job.run_at == start + dt.timedelta(seconds=10)
                assert "RuntimeError: boom" in job.last_error
            assert worker.run_until_idle().retried == 0  # not due yet
            frozen.advance(dt.timedelta(seconds=10))
            assert worker.run_until_idle().retried == 1  # attempt 2, next in 20 s
            frozen.advance(dt.timedelta(seconds=20))
            assert worker.run_until_idle().failed == 1  # attempt 3 = max_attempts of this job
            with sessions() as s:
                job = s.get(Job, job_id)
                assert job.status == JobStatus.FAILED and job.attempts == 3
                assert job.last_error.startswith("RuntimeError")
        assert jobs_for_tests.CALLS == ["x", "x", "x"]

    def test_an_unknown_job_is_marked_failed_not_lost(self, sessions):
        with sessions() as s:
            enqueue_job(s, "nobody.handles.this")
            s.commit()
        assert make_worker(sessions).run_until_idle().failed == 1
        with sessions() as s:
            job = s.scalars(select(Job)).one()
            assert job.status == JobStatus.FAILED and "no handler" in job.last_error

    @pytest.mark.parametrize(("attempts", "expected"), [(1, 5.0), (2, 10.0), (3, 20.0), (10, 100.0)])
    def test_backoff_doubles_and_is_capped(self, attempts, expected):
        assert backoff_seconds(attempts, base=5, maximum=100) == expected


class TestPeriodic:
    def test_a_periodic_job_is_queued_once_per_slot_whatever_the_number_of_workers(self, sessions):
        from maillage.worker import registry

        registry.periodic("test.record", every=dt.timedelta(hours=1), marker="tick")
        try:
            at = dt.datetime(2026, 11, 28, 12, 10, tzinfo=dt.UTC)
            with clock.frozen(at) as frozen:
                first, second = make_worker(sessions), make_worker(sessions)
                assert "test.record" in first.schedule_periodic()
                assert "test.record" not in second.schedule_periodic()
                first.run_until_idle()
                assert "test.record" not in first.schedule_periodic()  # same slot, already done
                frozen.advance(dt.timedelta(hours=1))
                assert "test.record" in second.schedule_periodic()
                second.run_until_idle()
            assert jobs_for_tests.CALLS == ["tick", "tick"]
        finally:
            registry._periodic.pop("test.record", None)


class TestBuiltinJobs:
    def test_purge_keeps_failed_jobs_and_recent_done_jobs(self, db):
        from maillage.worker.builtin import purge_done_jobs
        from tests.fixtures.factories import make_job

        old = clock.now() - dt.timedelta(days=31)
        a = make_job(db, status=JobStatus.DONE)
        a.finished_at = old
        b = make_job(db, status=JobStatus.FAILED)
        b.finished_at = old
        c = make_job(db, status=JobStatus.DONE)
        c.finished_at = clock.now()
        db.flush()
        assert purge_done_jobs(db) == 1
        remaining = {j.id for j in db.scalars(select(Job))}
        assert remaining == {b.id, c.id}
