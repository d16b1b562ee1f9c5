"""Live updates of the worklist without holding a database session open.

An in-process counter is bumped after each commit that changed alerts (ingestion, triage, the silence check).
The server-sent events loop waits on that counter (``wait_for_change``: woken at once, no polling interval).

Other processes (a second ``serve`` worker, the worker running the silence check) are seen in two ways:

- on PostgreSQL, the changing transaction also sends ``NOTIFY maillage_monitoring`` (delivered only if it
  commits); each server process that streams runs one listener thread (``ensure_listener``) on a connection of
  its own, which bumps the local counter: an alert written by another process is pushed within milliseconds;
- on every database, the stream still reads a cheap indexed mark (``repository.change_mark``) every few
  seconds in a short session of its own: the safety net if a notification was lost (listener reconnecting).

The bump after commit is a listener on every ``Session`` (``after_commit``), registered by ``install`` when an
application is built (``create_app``), not when this module is imported: a process that only imports the package
(a test, the worker, a batch child, a script) gets no global hook it did not ask for. Only a process that serves
the worklist stream needs the in-process bump; the others reach it through ``NOTIFY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session

from maillage.kit.logging import get_logger

log = get_logger("maillage.monitoring.live")

CHANGED_KEY = "maillage.monitoring.changed"
CHANNEL = "maillage_monitoring"

_lock = threading.Lock()
_version = 0
_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
_listeners: set[str] = set()


def changed_on_commit(session: Session) -> None:
    """Ask for a bump once this session's transaction commits (nothing if it rolls back).

    On PostgreSQL the transaction also notifies the other processes; PostgreSQL delivers a notification only
    when its transaction commits, and folds identical ones of one transaction into one."""
    session.info[CHANGED_KEY] = True
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


def install() -> None:
    """Bump the counter after each commit that asked for it (``changed_on_commit``). Idempotent: an application
    built twice in one process (the tests) registers the listener once."""
    if not orm_events.contains(Session, "after_commit", _bump_after_commit):
        orm_events.listen(Session, "after_commit", _bump_after_commit)


def installed() -> bool:
    return orm_events.contains(Session, "after_commit", _bump_after_commit)


def _bump_after_commit(session: Session) -> None:
    if session.info.pop(CHANGED_KEY, False):
        bump()


def bump() -> None:
    global _version
    with _lock:
        _version += 1
        waiters = list(_waiters)
    for loop, event in waiters:
        with contextlib.suppress(RuntimeError):  # that stream's event loop has closed
            loop.call_soon_threadsafe(event.set)


def version() -> int:
    return _version


async def wait_for_change(seen: int, timeout: float) -> int:
    """The counter once it differs from ``seen``, or after ``timeout`` seconds, whichever comes first."""
    if _version != seen:
        return _version
    entry = (asyncio.get_running_loop(), asyncio.Event())
    with _lock:
        _waiters.add(entry)
    try:
        if _version == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry[1].wait(), timeout)
    finally:
        with _lock:
            _waiters.discard(entry)
    return _version


def ensure_listener(bind: Engine | Connection) -> None:
    """Start, once per process and database, the thread that turns PostgreSQL notifications into bumps."""
    engine = bind.engine
    if engine.dialect.name != "postgresql":
        return
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with _lock:
        if url in _listeners:
            return
        _listeners.add(url)
    threading.Thread(target=_listen, args=(url,), name="monitoring-listen", daemon=True).start()


def _listen(url: str) -> None:
    import psycopg  # the PostgreSQL driver, present wherever the engine is PostgreSQL

    failures = 0
    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                failures = 0
                bump()  # whatever changed while not listening
                notifies: Any = conn.notifies()
                for _ in notifies:
                    bump()
        except Exception as exc:  # the database restarted or is unreachable: retry, the mark covers the gap
            failures += 1
            if failures == 1:
                log.warning("monitoring.listen_lost", error=type(exc).__name__)
            time.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
