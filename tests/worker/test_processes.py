"""The worker as real processes and real connections: concurrency on PostgreSQL, SIGKILL mid-job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models import Job, JobStatus
from maillage.worker import enqueue_job
from maillage.worker.runner import Worker, WorkerConfig
from tests.conftest import CHILD_PYTHONPATH, ROOT, postgres_url, run_migrations, skip_or_fail
from tests.worker import jobs_for_tests

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_schema():
    """A private PostgreSQL schema, migrated, so these committing tests leave the shared schema alone."""
    url = postgres_url()
    if url is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    schema = f"worker_{os.getpid()}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options=-csearch_path%3D{schema}"
    eng = make_engine(scoped)
    with eng.begin() as conn:
        run_migrations(conn)
        conn.execute(text("CREATE TABLE test_effect (id SERIAL PRIMARY KEY, marker TEXT NOT NULL)"))
    eng.dispose()
    yield scoped
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    eng = make_engine(url)
    with eng.begin() as conn:
        run_migrations(conn)
        conn.execute(text("CREATE TABLE test_effect (id INTEGER PRIMARY KEY, marker TEXT NOT NULL)"))
    eng.dispose()
    return url


class TestConcurrentWorkers:
    def test_two_workers_never_run_the_same_job_twice_on_postgresql(self, pg_schema):
        """200 jobs, two workers on their own connections racing: every job runs exactly once."""
        jobs_for_tests.CALLS.clear()
        sessions = make_sessionmaker(make_engine(pg_schema))
        with sessions() as s:
            for i in range(200):
                enqueue_job(s, "test.record", marker=str(i))
            s.commit()
        workers = [Worker(sessions, WorkerConfig(poll_seconds=0.01)) for _ in range(2)]
        ran: list[list[int]] = [[], []]

        def drain(i: int) -> None:
            ran[i] = workers[i].run_until_idle().ran_ids

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not set(ran[0]) & set(ran[1]), "a job ran in both workers"
        assert len(ran[0]) + len(ran[1]) == 200
        assert ran[0] and ran[1], "both workers should have taken part"
        assert sorted(jobs_for_tests.CALLS, key=int) == [str(i) for i in range(200)]
        with sessions() as s:
            assert s.query(Job).filter(Job.status == JobStatus.DONE).count() == 200
        jobs_for_tests.CALLS.clear()


def _start_worker(url: str, announce: Path | None, once: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MAILLAGE_DATABASE_URL": url, "MAILLAGE_WORKER_POLL_SECONDS": "0.05",
           "PYTHONPATH": CHILD_PYTHONPATH}
    env.pop("MAILLAGE_TEST_JOB_ANNOUNCE", None)
    if announce is not None:
        env["MAILLAGE_TEST_JOB_ANNOUNCE"] = str(announce)
    args = [sys.executable, "-m", "maillage.cli", "worker", "--import", "tests.worker.jobs_for_tests"]
    if once:
        args.append("--once")
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _effects(url: str) -> list[str]:
    eng = make_engine(url)
    with eng.connect() as conn:
        rows = [r[0] for r in conn.execute(text("SELECT marker FROM test_effect"))]
    eng.dispose()
    return rows


def _job(url: str) -> Job:
    sessions = make_sessionmaker(make_engine(url))
    with sessions() as s:
        return s.query(Job).filter(Job.name == "test.effect").one()


@pytest.mark.parametrize("which", ["sqlite", "postgresql"])
class TestKilledWorker:
    def test_a_job_killed_mid_run_completes_exactly_once_after_restart(self, which, request, tmp_path):
        url = request.getfixturevalue("sqlite_file" if which == "sqlite" else "pg_schema")
        sessions = make_sessionmaker(make_engine(url))
        with sessions() as s:
            enqueue_job(s, "test.effect", marker="once")
            s.commit()

        announce = tmp_path / "started"
        first = _start_worker(url, announce, once=False)
        try:
            deadline = time.monotonic() + 60
            while not announce.exists():
                assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
                assert time.monotonic() < deadline, "the worker never started the job"
                time.sleep(0.05)
            # The effect is written but not committed: kill the worker now.
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        assert _effects(url) == []
        assert _job(url).status == JobStatus.QUEUED

        # PostgreSQL notices the dead connection and frees the row lock; retry until the job is done.
        deadline = time.monotonic() + 60
        while _job(url).status != JobStatus.DONE:
            assert time.monotonic() < deadline, "the job never completed after the restart"
            second = _start_worker(url, None, once=True)
            second.wait(60)
            assert second.returncode == 0, second.stderr.read().decode() if second.stderr else ""
            time.sleep(0.2)
        assert _effects(url) == ["once"]
        job = _job(url)
        assert job.attempts == 1 and job.status == JobStatus.DONE
