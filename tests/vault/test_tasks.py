"""The vault's jobs run by the worker: blob files deleted after commit, orphans swept every hour."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from maillage.kit import clock
from maillage.models import Job, JobStatus
from maillage.vault import service, tasks
from maillage.worker import enqueue_job, registry
from maillage.worker.runner import Worker, WorkerConfig


def worker(sessions) -> Worker:
    return Worker(sessions, WorkerConfig(poll_seconds=0.01))


class TestRegistration:
    def test_both_jobs_are_registered_and_the_sweep_runs_every_hour(self):
        assert registry.get(service.DELETE_BLOB_FILE_JOB).handler is tasks.delete_blob_file
        assert registry.get("vault.sweep_orphans").handler is tasks.sweep_orphans
        spec = next(s for s in registry.periodic_specs() if s.name == "vault.sweep_orphans")
        assert spec.every == dt.timedelta(hours=1)


class TestDeleteBlobFile:
    def test_running_the_job_twice_is_harmless(self, sessions, keyring, blobs):
        with sessions() as s:
            ref = service.store_blob(s, object_type="document", object_id="d1", data=b"x", media_type="text/plain")
            s.commit()
        with sessions() as s:
            service.delete_object(s, object_type="document", object_id="d1")
            enqueue_job(s, service.DELETE_BLOB_FILE_JOB, blob_id=str(ref.id))  # a duplicate delivery
            s.commit()
        stats = worker(sessions).run_until_idle()
        assert stats.done == 2 and stats.failed == 0
        assert not blobs.exists(ref.id)


class TestSweepOrphans:
    def test_the_periodic_sweep_deletes_a_rolled_back_documents_file(self, sessions, keyring, blobs):
        with sessions() as s:
            orphan = service.store_blob(s, object_type="document", object_id="d1", data=b"x", media_type="text/plain")
            s.rollback()
        with clock.frozen(clock.now() + dt.timedelta(hours=2)):
            assert "vault.sweep_orphans" in worker(sessions).schedule_periodic()
            worker(sessions).run_until_idle()
        assert not blobs.exists(orphan.id)
        with sessions() as s:
            job = s.scalars(select(Job).where(Job.name == "vault.sweep_orphans")).one()
            assert job.status == JobStatus.DONE
