"""Pooled PostgreSQL connections are checked only after sitting idle (kit/db.py ``ping_when_idle``): a connection
that died while idle is replaced before a request gets it, and a connection handed back a moment ago goes out again
without a round trip. Both pools: the routes' engine and who-is-calling's engine on the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import event, exc, text

from maillage.kit import db as kitdb
from tests.conftest import postgres_url, skip_or_fail


@pytest.fixture
def url() -> str:
    found = postgres_url()
    if found is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    return str(found)


def count_pings(engine: Any) -> list[int]:
    pings: list[int] = []
    original = engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(original(dbapi_connection))

    engine.dialect.do_ping = counting
    return pings


def terminate(url: str, pid: int) -> None:
    killer = kitdb.make_engine(url, pool=False)
    with killer.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    killer.dispose()


class TestRoutesEngine:
    def test_a_connection_used_a_moment_ago_is_not_pinged(self, url):
        engine = kitdb.make_engine(url, pool_size=1)
        pings = count_pings(engine)
        try:
            for _ in range(5):
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            assert pings == []  # a new connection counts as just used
        finally:
            engine.dispose()

    def test_a_connection_that_died_while_idle_is_replaced_before_use(self, url):
        engine = kitdb.make_engine(url, pool_size=1)
        try:
            with engine.connect() as conn:
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            terminate(url, pid)
            # Make the pooled connection look idle for long: its check-in time far in the past.
            engine.pool._pool.queue[0].info[kitdb._CHECKED_IN] = -1e9  # type: ignore[attr-defined]
            with engine.connect() as conn:
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        finally:
            engine.dispose()

    def test_without_the_ping_the_dead_connection_would_have_been_used(self, url):
        # The attack on the test itself: the same sequence with a connection checked in just now reaches the dead
        # backend, so the test above shows the ping, not luck.
        engine = kitdb.make_engine(url, pool_size=1)
        try:
            with engine.connect() as conn:
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            terminate(url, pid)
            with pytest.raises(exc.DBAPIError), engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            with engine.connect() as conn:  # the pool was dropped on the disconnect: the next one is fresh
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        finally:
            engine.dispose()


class TestCallerEngine:
    def test_a_fixed_pool_without_overflow_and_no_ping_between_close_requests(self, url):
        engine = kitdb.make_autocommit_async_engine(url)
        assert engine is not None
        pool: Any = engine.sync_engine.pool
        assert pool.size() == kitdb.CALLER_POOL_SIZE and pool._max_overflow == 0
        pings = count_pings(engine.sync_engine)
        opened: list[int] = []
        event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))

        async def burst() -> None:
            async def one() -> None:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            for _ in range(3):
                await asyncio.gather(*(one() for _ in range(16)))
            await engine.dispose()

        # In a thread of its own: the test process may already run an event loop in this one (a browser test's).
        runner = threading.Thread(target=asyncio.run, args=(burst(),))
        runner.start()
        runner.join()
        # 48 reads, 16 at once: never more than the pool's connections opened, and none pinged.
        assert 1 <= len(opened) <= kitdb.CALLER_POOL_SIZE
        assert pings == []
