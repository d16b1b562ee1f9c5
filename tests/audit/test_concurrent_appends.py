"""Appends under load (docs/adr/0012-web-tier-under-load.md): several serve processes, each with several threads,
commit audited transactions at once; some callers roll back. The chain lock and the head are read in one round trip
on PostgreSQL: every committed entry is in the chain exactly once, in its caller's transaction, the chain verifies,
and a rolled-back caller leaves nothing."""

from __future__ import annotations

import multiprocessing as mp
import threading

from sqlalchemy import text

from maillage.audit import repository, service
from tests.audit.conftest import TEST_KEYS, ChainDb

THREADS = 3
COMMITS = 40


def _append(url: str, process: int, failures: list[str]) -> None:
    """One process's threads: each commits COMMITS transactions (a patient row and its audit entry), and rolls
    back every fifth one after recording."""
    from maillage.audit.keys import use_audit_keys
    from maillage.kit.db import make_engine, make_sessionmaker

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    barrier = threading.Barrier(THREADS)

    def work(thread: int) -> None:
        try:
            barrier.wait(30)
            for i in range(COMMITS):
                tag = f"p{process}-t{thread}-{i}"
                with sessions() as session:
                    session.execute(text("INSERT INTO load_probe (tag) VALUES (:t)"), {"t": tag})
                    service.record(session, action="read", object_type="patient", object_id=tag)
                    if i % 5 == 4:
                        session.rollback()
                    else:
                        session.commit()
        except BaseException as exc:  # reported to the parent
            failures.append(f"{tag}: {exc!r}")

    with use_audit_keys(TEST_KEYS):
        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    engine.dispose()


def _child(url: str, process: int, queue: mp.Queue) -> None:
    failures: list[str] = []
    _append(url, process, failures)
    queue.put(failures)


class TestSeveralProcessesAndThreads:
    def test_every_committed_access_once_in_a_verified_chain_and_no_rolled_back_one(self, pg_chain_url):
        from maillage.kit.db import make_engine, make_sessionmaker

        engine = make_engine(pg_chain_url)
        chain_db = ChainDb("postgresql", pg_chain_url, engine, make_sessionmaker(engine))
        try:
            chain_db.as_dba("CREATE TABLE load_probe (tag text PRIMARY KEY)")
            context = mp.get_context("spawn")
            queue: mp.Queue = context.Queue()
            children = [context.Process(target=_child, args=(pg_chain_url, n, queue)) for n in (1, 2)]
            for child in children:
                child.start()
            failures: list[str] = []
            _append(pg_chain_url, 0, failures)  # this process too: three processes, three threads each
            for _ in children:
                failures += queue.get(timeout=300)
            for child in children:
                child.join(60)
                assert child.exitcode == 0
            assert not failures, failures

            committed = 3 * THREADS * (COMMITS - COMMITS // 5)
            probes = {r[0] for r in chain_db.rows("SELECT tag FROM load_probe")}
            traced = [r[0] for r in chain_db.rows("SELECT object_id FROM audit_entry ORDER BY seq")]
            assert len(probes) == committed
            assert sorted(traced) == sorted(probes), "one entry per committed access, none for a rolled-back one"
            seqs = [r[0] for r in chain_db.rows("SELECT seq FROM audit_entry ORDER BY seq")]
            assert seqs == list(range(1, committed + 1))
            report = chain_db.verify()
            assert report.ok and report.checked == committed
        finally:
            engine.dispose()

    def test_the_one_round_trip_lock_takes_the_same_lock_key(self, pg_chain_url):
        """The literal in the two-statement query is the namespace the other lock path uses."""
        assert "1096107092" in repository._PG_LOCK_THEN_HEAD
        assert repository.AUDIT_LOCK_NAMESPACE == 1096107092
