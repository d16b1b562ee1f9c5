"""Live worklist updates: the stream is woken at once by a change, in this process or (PostgreSQL) another one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from maillage.monitoring import live
from tests.conftest import postgresql_only

T = TypeVar("T")


def run_in_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine in a fresh event loop on a thread of its own.

    The browser tests' sync Playwright keeps an event loop running in the main thread for the rest of the
    session, so ``asyncio.run`` there would refuse to start.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_a_bump_from_another_thread_wakes_the_waiting_stream() -> None:
    async def scenario() -> tuple[int, int]:
        seen = live.version()
        threading.Timer(0.05, live.bump).start()
        # A timeout far longer than the test: only the bump can make the version differ.
        return seen, await live.wait_for_change(seen, 30.0)

    seen, after = run_in_own_loop(scenario())
    assert after != seen


def test_waiting_without_change_returns_the_same_version() -> None:
    seen = live.version()
    assert run_in_own_loop(live.wait_for_change(seen, 0.01)) == seen
    assert not live._waiters  # the waiter is gone once it returns


def _pg_only(engine: Engine) -> str:
    assert engine.dialect.name == "postgresql"
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@postgresql_only
def test_a_committed_change_notifies_other_processes_and_a_rolled_back_one_does_not(engine: Engine) -> None:
    url = _pg_only(engine)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {live.CHANNEL}")
        with Session(bind=engine) as session:
            live.changed_on_commit(session)
            session.rollback()
        with Session(bind=engine) as session:
            live.changed_on_commit(session)
            session.commit()
        received = list(listener.notifies(timeout=3.0, stop_after=2))
    assert [n.channel for n in received] == [live.CHANNEL]


@postgresql_only
def test_the_listener_turns_another_connections_notification_into_a_bump(engine: Engine) -> None:
    url = _pg_only(engine)
    live.ensure_listener(engine)
    live.ensure_listener(engine)  # once per process and database
    assert sum(1 for t in threading.enumerate() if t.name == "monitoring-listen") >= 1

    async def scenario() -> bool:
        with psycopg.connect(url, autocommit=True) as other:  # another process's commit, as seen by PostgreSQL
            for _ in range(40):  # the listener thread may still be connecting: notify until it hears one
                seen = live.version()
                other.execute(f"NOTIFY {live.CHANNEL}")
                if await live.wait_for_change(seen, 0.5) != seen:
                    return True
        return False

    assert run_in_own_loop(scenario())


# Importing every monitoring module but the application, then committing a session that asked for a bump: the
# counter must not move until an application is built. Run in a fresh interpreter, since in this one create_app
# has long been called by other tests.
_IMPORT_ONLY = """
import importlib, pkgutil, sys
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
import maillage.monitoring
for module in pkgutil.walk_packages(maillage.monitoring.__path__, "maillage.monitoring."):
    importlib.import_module(module.name)
from maillage.monitoring import live

def commit_a_change():
    with Session(create_engine("sqlite://")) as session:
        session.info[live.CHANGED_KEY] = True
        session.commit()
    return live.version()

before = commit_a_change()
from maillage.app import create_app
from maillage.config import Settings
create_app(Settings(database_url=f"sqlite:///{sys.argv[1]}/m.sqlite3", var_dir=sys.argv[1]))
after = commit_a_change()
print(before, after)
"""


def test_importing_the_package_registers_no_listener_and_create_app_does(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORT_ONLY, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "0 1"
