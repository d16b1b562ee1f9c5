"""Live updates of the inbox and of an open thread (server-sent events), across ``maillage serve`` processes.

A change in a thread (a message, a correction, a read receipt, a participant) is published after commit to the
topics of its current participants: ``user:<id>`` for a person, ``team:<id>`` for a team mailbox. A person's stream
listens to their own topic and to their teams'. The payload names the thread only (an id, never a subject or a
body): the page then reloads its fragment through the ordinary, authorised and audited routes.

- On PostgreSQL a change goes through ``NOTIFY maillage_messaging``, sent by the changing transaction (so only if it
  commits); each streaming process runs one listener thread (``ensure_listener``) on a connection of its own.
- Elsewhere (SQLite: one process, or a session bound to one connection as in the tests) the change is handed to the
  local subscribers after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable

from sqlalchemy import Engine, func, select
from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session, sessionmaker

from maillage.kit.logging import get_logger

log = get_logger("maillage.messaging.live")

CHANNEL = "maillage_messaging"
PENDING_KEY = "maillage.messaging.pending"

_lock = threading.Lock()
_subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]]] = {}
_listeners: dict[str, threading.Event] = {}


def user_topic(user_id: object) -> str:
    return f"user:{user_id}"


def team_topic(team_id: object) -> str:
    return f"team:{team_id}"


def subscribe(topics: Iterable[str]) -> asyncio.Queue[str]:
    """One queue receiving the thread ids changed in any of ``topics`` (call from the event loop)."""
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=256)
    entry = (asyncio.get_running_loop(), queue)
    with _lock:
        for topic in topics:
            _subscribers.setdefault(topic, set()).add(entry)
    return queue


def unsubscribe(topics: Iterable[str], queue: asyncio.Queue[str]) -> None:
    with _lock:
        for topic in topics:
            entries = _subscribers.get(topic, set())
            for entry in [e for e in entries if e[1] is queue]:
                entries.discard(entry)
            if not entries:
                _subscribers.pop(topic, None)


def deliver(topic: str, thread_id: str) -> None:
    with _lock:
        entries = list(_subscribers.get(topic, ()))
    for loop, queue in entries:
        with contextlib.suppress(RuntimeError):  # that stream's loop has closed
            loop.call_soon_threadsafe(_put, queue, thread_id)


def _put(queue: asyncio.Queue[str], item: str) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(item)


def _through_postgres(session: Session) -> bool:
    bind = session.get_bind()
    return isinstance(bind, Engine) and bind.dialect.name == "postgresql"


def publish_on_commit(session: Session, topics: Iterable[str], thread_id: object) -> None:
    """Tell the topics' streams that this thread changed, when and only if the transaction commits."""
    wanted = sorted(set(topics))
    if _through_postgres(session):
        for topic in wanted:
            session.execute(select(func.pg_notify(CHANNEL, f"{topic}|{thread_id}")))
        return
    session.info.setdefault(PENDING_KEY, []).extend((t, str(thread_id)) for t in wanted)
    if not orm_events.contains(Session, "after_commit", _after_commit):
        orm_events.listen(Session, "after_commit", _after_commit)
        orm_events.listen(Session, "after_rollback", _after_rollback)


def _after_commit(session: Session) -> None:
    for topic, thread_id in session.info.pop(PENDING_KEY, []):
        deliver(topic, thread_id)


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


def ensure_listener(sessions: sessionmaker[Session], wait: float = 5.0) -> None:
    """Start, once per process and database, the thread that hands PostgreSQL notifications to local streams."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return
    url = bind.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with _lock:
        ready = _listeners.get(url)
        if ready is None:
            ready = _listeners[url] = threading.Event()
            threading.Thread(target=_listen, args=(url, ready), name="messaging-listen", daemon=True).start()
    ready.wait(wait)


def _listen(url: str, ready: threading.Event) -> None:
    import psycopg  # the PostgreSQL driver, present wherever the engine is PostgreSQL

    failures = 0
    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                ready.set()
                failures = 0
                for note in conn.notifies():
                    topic, _, thread_id = note.payload.partition("|")
                    if thread_id:
                        deliver(topic, thread_id)
        except Exception as exc:  # the database restarted or is unreachable: retry
            failures += 1
            if failures == 1:
                log.warning("messaging.listen_lost", error=type(exc).__name__)
            time.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
