"""The kit's database plumbing, on both engines."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from maillage.kit.clock import now
from maillage.models import Job
from tests.fixtures.factories import make_job


class TestUTCDateTime:
    def test_an_aware_datetime_comes_back_aware_and_equal(self, db):
        at = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        job = make_job(db, run_at=at)
        db.expire_all()
        loaded = db.get(Job, job.id)
        assert loaded.run_at.tzinfo is not None
        assert loaded.run_at == at

    def test_a_naive_datetime_is_refused(self, db):
        db.add(Job(name="x", args={}, run_at=dt.datetime(2026, 1, 1), status="queued"))
        with pytest.raises(Exception, match="naive"):
            db.flush()


class TestConstraints:
    def test_check_constraints_are_enforced(self, db):
        from sqlalchemy.exc import IntegrityError

        with pytest.raises(IntegrityError), db.begin_nested():
            db.add(Job(name="x", args={}, run_at=now(), status="bogus"))
            db.flush()



class TestSqlitePragmas:
    def test_sqlite_enforces_foreign_keys_and_uses_wal(self, tmp_path):
        from maillage.kit.db import make_engine

        eng = make_engine(f"sqlite:///{tmp_path / 'p.sqlite3'}")
        with eng.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
        eng.dispose()


class TestRollbackPerTest:
    """Two tests that write the same unique key: the second passes only if the first was rolled back."""

    @pytest.mark.parametrize("attempt", [1, 2])
    def test_each_test_starts_from_an_empty_job_table(self, db, attempt):
        assert db.scalar(select(Job).where(Job.dedupe_key == "rollback-probe")) is None
        db.add(Job(name="x", args={}, run_at=now(), status="queued", dedupe_key="rollback-probe"))
        db.commit()  # a savepoint release inside the test transaction
        assert db.scalar(select(Job).where(Job.dedupe_key == "rollback-probe")) is not None


class TestSqliteConcurrency:
    def test_concurrent_read_then_write_transactions_wait_instead_of_failing(self, tmp_path):
        """Audited reads write at commit: four threads that read then write must all succeed on SQLite."""
        import threading

        from maillage.kit.db import make_engine, make_sessionmaker
        from maillage.models import Job
        from tests.conftest import run_migrations

        engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
        with engine.begin() as conn:
            run_migrations(conn)
        sessions = make_sessionmaker(engine)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(25):
                    with sessions() as s:
                        s.query(Job).count()
                        s.add(Job(name="x", args={}, run_at=now(), status="queued", attempts=0, max_attempts=1))
                        s.commit()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        with sessions() as s:
            assert s.query(Job).count() == 100
        engine.dispose()
