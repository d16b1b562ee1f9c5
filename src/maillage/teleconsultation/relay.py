"""The relay of teleconsultation's live messages between ``maillage serve`` processes: topics, subscribers, delivery.

A topic is a room (``room:<appointment id>``: the signalling between the practitioner and the patient, and the
appointment's state changes) or a practitioner's day (``day:<user id>``: the day view's live states). Subscribers
are asyncio queues of this process (one per WebSocket or server-sent events stream).

- On PostgreSQL every message goes through ``NOTIFY maillage_teleconsultation`` (a message published from a
  request's transaction with ``publish_on_commit`` is delivered only if it commits); each process that has
  subscribers runs one listener thread (``ensure_listener``) on a connection of its own, which hands each
  notification to the local subscribers of its topic. Two peers of one room on two processes meet through it.
- On SQLite (one process) a message is handed to the local subscribers directly, after the commit for
  ``publish_on_commit``.

A signalling message (``publish``, from a WebSocket) is handed at once to this process's subscribers, then queued
for the process's publisher thread, which sends the queued notifications in batches (one statement, one round trip,
for all the messages queued meanwhile) on a connection of its own; the listener skips the notifications this process
sent (their payload names the process), so a room whose peers share a process never waits on the database, and one
split over two processes waits one batched round trip. ``benchmarks/teleconsultation_signalling.md`` has the figures.

A notification's payload is limited to 8000 bytes by PostgreSQL: a larger message (an SDP offer can reach a few
kilobytes) is compressed (zlib then base64, prefix ``z:``); one still too large is refused (``TooLarge``). Each
payload carries a sequence number: PostgreSQL folds identical notifications of one transaction into one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import queue as queues
import threading
import time
import uuid
import zlib
from typing import Any

import orjson
from sqlalchemy import Engine, func, select
from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session, sessionmaker

from maillage.kit.logging import get_logger

log = get_logger("maillage.teleconsultation.relay")

CHANNEL = "maillage_teleconsultation"
PENDING_KEY = "maillage.teleconsultation.pending"
MAX_PAYLOAD = 7900
BATCH = 200  # notifications sent in one statement at most
ORIGIN = uuid.uuid4().hex[:12]  # this process, in the payloads it publishes itself

_lock = threading.Lock()
_subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]]] = {}
_listeners: dict[str, threading.Event] = {}
_publishers: dict[str, queues.SimpleQueue[str]] = {}
_sequence = itertools.count()


class TooLarge(ValueError):
    pass


def encode(topic: str, message: dict[str, Any], sender: str = "", origin: str = "") -> str:
    """The payload: ``<origin>|`` (the publishing process, empty for a message published from a transaction) then
    the JSON, compressed (``z:`` then base64) when over the limit."""
    raw = orjson.dumps({"t": topic, "s": sender, "m": message, "q": next(_sequence)})
    if len(raw) + len(origin) + 1 <= MAX_PAYLOAD:
        return f"{origin}|{raw.decode()}"
    packed = f"{origin}|z:" + base64.b64encode(zlib.compress(raw, 6)).decode()
    if len(packed) > MAX_PAYLOAD:
        raise TooLarge("message too large for the relay")
    return packed


def origin_of(payload: str) -> str:
    return payload.partition("|")[0]


def decode(payload: str) -> tuple[str, str, dict[str, Any]]:
    """(topic, sender, message) of a notification's payload."""
    body = payload.partition("|")[2]
    raw = zlib.decompress(base64.b64decode(body[2:])) if body.startswith("z:") else body.encode()
    data = orjson.loads(raw)
    return str(data["t"]), str(data.get("s", "")), dict(data["m"])


def subscribe(topic: str) -> asyncio.Queue[dict[str, Any]]:
    """A queue receiving the topic's messages as ``{"sender": …, **message}`` (call from the event loop)."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=512)
    with _lock:
        _subscribers.setdefault(topic, set()).add((asyncio.get_running_loop(), queue))
    return queue


def unsubscribe(topic: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
    with _lock:
        entries = _subscribers.get(topic, set())
        for entry in [e for e in entries if e[1] is queue]:
            entries.discard(entry)
        if not entries:
            _subscribers.pop(topic, None)


def deliver(topic: str, sender: str, message: dict[str, Any]) -> None:
    """Hand a message to this process's subscribers of ``topic`` (thread-safe; a full queue drops it)."""
    with _lock:
        entries = list(_subscribers.get(topic, ()))
    item = {**message, "sender": sender}
    for loop, queue in entries:
        with contextlib.suppress(RuntimeError):  # that subscriber's loop has closed
            loop.call_soon_threadsafe(_put, queue, item)


def _put(queue: asyncio.Queue[dict[str, Any]], item: dict[str, Any]) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(item)


def _is_postgres(session: Session) -> bool:
    """Whether the session's database is PostgreSQL reached through an engine (a session bound to one connection,
    as the tests' are, keeps its messages in process: its transaction never really commits)."""
    bind = session.get_bind()
    return isinstance(bind, Engine) and bind.dialect.name == "postgresql"


def publish_on_commit(session: Session, topic: str, message: dict[str, Any]) -> None:
    """Publish when, and only if, the session's transaction commits."""
    if _is_postgres(session):
        session.execute(select(func.pg_notify(CHANNEL, encode(topic, message))))
        return
    session.info.setdefault(PENDING_KEY, []).append((topic, message))
    if not orm_events.contains(Session, "after_commit", _after_commit):
        orm_events.listen(Session, "after_commit", _after_commit)
    if not orm_events.contains(Session, "after_rollback", _after_rollback):
        orm_events.listen(Session, "after_rollback", _after_rollback)


def _after_commit(session: Session) -> None:
    for topic, message in session.info.pop(PENDING_KEY, []):
        deliver(topic, "", message)


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


def _url(sessions: sessionmaker[Session]) -> str | None:
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return None
    return bind.url.set(drivername="postgresql").render_as_string(hide_password=False)


def publish(sessions: sessionmaker[Session], topic: str, message: dict[str, Any], sender: str) -> None:
    """Publish a signalling message at once, without blocking: to this process's subscribers now, to the other
    processes' through the publisher thread (PostgreSQL). ``TooLarge`` if the message cannot be notified."""
    url = _url(sessions)
    if url is None:
        deliver(topic, sender, message)
        return
    payload = encode(topic, message, sender, ORIGIN)
    deliver(topic, sender, message)
    _publisher(url).put(payload)


def _publisher(url: str) -> queues.SimpleQueue[str]:
    with _lock:
        pending = _publishers.get(url)
        if pending is None:
            pending = _publishers[url] = queues.SimpleQueue()
            threading.Thread(target=_publish, args=(url, pending), name="teleconsultation-publish",
                             daemon=True).start()
    return pending


def _publish(url: str, pending: queues.SimpleQueue[str]) -> None:
    """Send the queued notifications, in batches of what queued meanwhile (one statement each batch)."""
    import psycopg  # the PostgreSQL driver, present wherever the engine is PostgreSQL

    failures = 0
    batch: list[str] = []
    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                failures = 0
                while True:
                    if not batch:
                        batch.append(pending.get())
                    while len(batch) < BATCH:
                        try:
                            batch.append(pending.get_nowait())
                        except queues.Empty:
                            break
                    calls = ", ".join(["pg_notify(%s, %s)"] * len(batch))
                    conn.execute(f"SELECT {calls}", [x for p in batch for x in (CHANNEL, p)])
                    batch = []
        except Exception as exc:  # the database restarted or is unreachable: retry (the batch is kept)
            failures += 1
            if failures == 1:
                log.warning("teleconsultation.publish_lost", error=type(exc).__name__)
            time.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))


def ensure_listener(sessions: sessionmaker[Session], wait: float = 5.0) -> None:
    """Start, once per process and database, the thread that hands PostgreSQL notifications to local subscribers;
    return once it listens (or after ``wait`` seconds), so a message sent right after is not missed."""
    url = _url(sessions)
    if url is None:
        return
    with _lock:
        ready = _listeners.get(url)
        if ready is None:
            ready = _listeners[url] = threading.Event()
            threading.Thread(target=_listen, args=(url, ready), name="teleconsultation-listen", daemon=True).start()
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
                    if origin_of(note.payload) == ORIGIN:  # this process's own: delivered when published
                        continue
                    try:
                        topic, sender, message = decode(note.payload)
                    except (ValueError, KeyError, zlib.error, TypeError):
                        continue
                    deliver(topic, sender, message)
        except Exception as exc:  # the database restarted or is unreachable: retry
            failures += 1
            if failures == 1:
                log.warning("teleconsultation.listen_lost", error=type(exc).__name__)
            time.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
