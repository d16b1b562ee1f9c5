"""Large batches evaluated in child processes of the serve process, at a lower scheduling priority.

A batch of a thousand readings is a quarter of a second of CPU-bound Python. Evaluated in a thread of the serve
process, it holds that process's interpreter lock, and every small request the process is serving meanwhile (a
single reading whose red alert must reach the nurse now, the event loop itself) waits for the lock after each of
its database round trips. With ``MAILLAGE_MONITORING_BATCH_PROCESSES`` > 0 (PostgreSQL only), each serve process
hands batches of more than ``SMALL_BATCH`` readings to that many child processes of its own: the child opens its own
session, runs the same ``ingest`` and commits; the serve process answers once the child has committed, so an
acknowledged reading is still durable. A compact batch (``ingest_compact``) of more than ``SMALL_BODY_BYTES`` goes
to the child as the bytes received: the child parses and validates them (one pass of pydantic-core) and sends back
the reply's bytes, so the serve process neither parses the thousand readings nor builds their thousand outcomes.
The children run at ``nice`` +5: when the cores are busy, the small requests of the serve processes are scheduled
first. A refusal raised in the child (403, 422) reaches the caller as it would have in process.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import importlib
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from maillage.audit.service import AuditContext
from maillage.auth.service import DeviceActor
from maillage.config import Settings
from maillage.exceptions import MaillageError, ServiceUnavailable
from maillage.monitoring.ingest import Incoming, IngestResult, compact_items, ingest

SMALL_BATCH = 50  # readings: at most this many are evaluated in the serve process itself
# A compact batch up to this size is parsed in the serve process (and evaluated there if it has at most SMALL_BATCH
# readings); a larger one goes to a child as it is, however few readings it holds (50 readings of over 160 bytes).
SMALL_BODY_BYTES = 8192
CHILD_NICE = 5
PARENT_CHECK_SECONDS = 0.5
FULL_COLLECT_EVERY = 200  # batches: a child's whole-heap garbage collection (see ``_start_child``)

_lock = threading.Lock()
_pool: cf.ProcessPoolExecutor | None = None
_sessions: Any = None
_batches = 0


def configure(app: Any, settings: Settings, owns_engine: bool) -> None:
    """Record on the app whether its large batches go to child processes: only for an app that opened its own
    PostgreSQL engine (an app handed the sessions of a test's transaction keeps everything in that transaction)."""
    url = settings.effective_database_url
    processes = settings.monitoring_batch_processes if owns_engine and url.startswith("postgresql") else 0
    app.state.monitoring_batch = (processes, url, settings.statement_timeout_ms)


def ingest_batch(request: Any, session: Any, device: DeviceActor, items: Sequence[Incoming], *,
                 all_or_nothing: bool = False, context: AuditContext | None = None,
                 channel: str = "batch") -> IngestResult:
    """``ingest`` for an HTTP request: in a child process for a large batch when the app has children, otherwise in
    the request's own session (which the request's unit of work commits)."""
    processes = getattr(request.app.state, "monitoring_batch", (0, "", 0))[0]
    if len(items) <= SMALL_BATCH or processes <= 0:
        return ingest(session, device, items, all_or_nothing=all_or_nothing, context=context, channel=channel)
    return ingest_in_child(request, device, items, all_or_nothing=all_or_nothing, context=context, channel=channel)


class BatchInvalid(Exception):  # a refusal, not a failure: the HTTP layer answers 422
    """The compact batch does not match its schema: ``errors`` as (location, message, type) for each error."""

    def __init__(self, errors: list[tuple[tuple[int | str, ...], str, str]]) -> None:
        super().__init__("invalid compact batch")
        self.errors = errors


def _schema_errors(exc: ValidationError) -> list[tuple[tuple[int | str, ...], str, str]]:
    """Picklable, and without the input (a whole batch, readings of patients) that pydantic keeps in its errors."""
    return [(tuple(e["loc"]), e["msg"], e["type"])
            for e in exc.errors(include_url=False, include_context=False, include_input=False)]


def _parse_compact(raw: bytes) -> list[Incoming]:
    try:
        return compact_items(raw)
    except ValidationError as exc:
        raise BatchInvalid(_schema_errors(exc)) from None


def ingest_compact(request: Any, session: Any, device: DeviceActor, raw: bytes, *,
                   context: AuditContext | None = None) -> bytes:
    """A compact batch (``schemas.BatchIn`` as JSON bytes) checked, stored and evaluated; the reply's JSON bytes.
    Raises ``BatchInvalid`` when the document does not match the schema (nothing stored)."""
    processes = getattr(request.app.state, "monitoring_batch", (0, "", 0))[0]
    if len(raw) <= SMALL_BODY_BYTES or processes <= 0:
        items = _parse_compact(raw)
        if len(items) > SMALL_BATCH and processes > 0:  # a small document of many short readings
            result = ingest_in_child(request, device, items, context=context, channel="batch")
        else:
            result = ingest(session, device, items, context=context, channel="batch")
        return orjson.dumps(result.to_reply())
    reply: bytes = _submit(request, _compact_in_child, device, raw, context)
    return reply


def _start_child(url: str, statement_timeout_ms: int) -> None:
    from maillage.kit.db import make_engine, make_sessionmaker

    global _sessions
    os.nice(CHILD_NICE)
    _sessions = make_sessionmaker(make_engine(url, statement_timeout_ms=statement_timeout_ms))
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="batchpool-parent", daemon=True).start()
    # Garbage collection by the batch, not by the allocation count. A batch allocates tens of thousands of objects,
    # most freed by reference counting; left automatic, the collector ran several times per batch and walked the
    # survivors, imported modules included (about a fifth of the child's CPU, docs/monitoring.md). The startup's
    # objects are frozen out of the collector's reach; the collector is off while a batch runs, and the young
    # generations (what the batch left in reference cycles) are collected once after each batch, the whole heap
    # every ``FULL_COLLECT_EVERY`` batches.
    gc.collect()
    gc.freeze()
    gc.disable()


def _exit_with_parent(parent: int) -> None:
    """A child outlives nothing: once its serve process is gone (stopped, or killed with SIGKILL), it exits. A batch
    it was evaluating is rolled back with its connection, or committed and never acknowledged: the sender retries
    and the replay is recognised (idempotent ingestion)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _in_child(device: DeviceActor, packed: Sequence[tuple[Any, ...]], all_or_nothing: bool,
              context: AuditContext | None, channel: str) -> tuple[str, Any]:
    def run(db: Any) -> IngestResult:
        items = [Incoming(*fields) for fields in packed]
        return ingest(db, device, items, all_or_nothing=all_or_nothing, context=context, channel=channel)

    return _committed(run)


def _compact_in_child(device: DeviceActor, raw: bytes, context: AuditContext | None) -> tuple[str, Any]:
    def run(db: Any) -> bytes:
        result = ingest(db, device, _parse_compact(raw), context=context, channel="batch")
        return orjson.dumps(result.to_reply())

    return _committed(run)


def _committed(run: Callable[[Any], Any]) -> tuple[str, Any]:
    """``run`` in a session of the child, committed: ("ok", its value), or the refusal it raised, as data (an
    exception's own pickling would lose its details)."""
    global _batches
    try:
        with _sessions() as db:
            value = run(db)
            db.commit()
            return "ok", value
    except BatchInvalid as exc:
        return "invalid", exc.errors
    except MaillageError as exc:
        return "refused", (type(exc).__module__, type(exc).__qualname__, exc.message, exc.details, exc.status_code)
    finally:
        _batches += 1
        gc.collect(2 if _batches % FULL_COLLECT_EVERY == 0 else 1)


def _executor(request: Any) -> cf.ProcessPoolExecutor:
    """The process's pool, started at its first large batch (a serve process has one app, so one database)."""
    global _pool
    processes, url, statement_timeout_ms = request.app.state.monitoring_batch
    with _lock:
        if _pool is None:
            _pool = cf.ProcessPoolExecutor(max_workers=processes, mp_context=mp.get_context("spawn"),
                                           initializer=_start_child, initargs=(url, statement_timeout_ms))
        return _pool


def _drop(pool: cf.ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def ingest_in_child(request: Any, device: DeviceActor, items: Sequence[Incoming], *, all_or_nothing: bool = False,
                    context: AuditContext | None = None, channel: str = "batch") -> IngestResult:
    """``ingest`` and its commit in a child process; the result once committed, or the child's refusal raised.

    A child that died (killed, out of memory) breaks its pool for good: the pool is dropped, the next large batch
    starts a new one, and this batch is answered 503. Whether or not it was committed, the sender's retry is safe:
    a reading already stored is acknowledged as a duplicate."""
    # The readings go as plain tuples: pickling a thousand dataclasses one by one cost ten times more.
    packed = [item.packed() for item in items]
    result: IngestResult = _submit(request, _in_child, device, packed, all_or_nothing, context, channel)
    return result


def _submit(request: Any, function: Callable[..., tuple[str, Any]], *args: Any) -> Any:
    """``function(*args)`` in a child of the pool: its value once committed, or its refusal raised here."""
    pool = _executor(request)
    try:
        kind, value = pool.submit(function, *args).result()
    except cf.process.BrokenProcessPool:
        _drop(pool)
        raise ServiceUnavailable("Le lot de mesures n'a pas pu être traité : renvoyez-le (une mesure déjà "
                                 "enregistrée sera reconnue).") from None
    if kind == "ok":
        return value
    if kind == "invalid":
        raise BatchInvalid(value)
    module, name, message, details, status_code = value
    error_class = getattr(importlib.import_module(module), name)
    raise error_class(message, details=details, status_code=status_code)
