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

from maillage.auth.tokens import DeviceActor
from maillage.config import Settings
from maillage.exceptions import MaillageError, ServiceUnavailable
from maillage.monitoring.ingest import Incoming, IngestResult, compact_items, ingest
from maillage.security.context import AuditContext

SMALL_BATCH = 50  # readings: at most this many are evaluated in the serve process itself
# A compact batch up to this size is parsed in the serve process (and evaluated there if it has at most SMALL_BATCH
# readings); a larger one goes to a child as it is, however few readings it holds (50 readings of over 160 bytes).
SMALL_BODY_BYTES = 8192
CHILD_NICE = 5
PARENT_CHECK_SECONDS = 0.5
FULL_COLLECT_EVERY = 200  # batches: a child's whole-heap garbage collection (see ``_start_child``)

# State of a batch child (one per child process, set by ``_start_child``).
_sessions: Any = None
_batches = 0


class BatchRunner:
    """Where one application's device batches are evaluated: in the request's own session, or, for a large batch,
    in a pool of ``processes`` child processes of the serve process, each with its own engine on ``url``.

    Built once per application by ``for_app`` and kept on ``app.state``; the HTTP routes hand it the batch, never
    the request. The pool starts at the first large batch (a serve process has one app, so one database)."""

    def __init__(self, processes: int = 0, url: str = "", statement_timeout_ms: int = 0) -> None:
        self.processes = processes
        self.url = url
        self.statement_timeout_ms = statement_timeout_ms
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None

    @classmethod
    def for_app(cls, settings: Settings, owns_engine: bool) -> BatchRunner:
        """Children only for an app that opened its own PostgreSQL engine (an app handed the sessions of a test's
        transaction keeps everything in that transaction)."""
        url = settings.effective_database_url
        processes = settings.monitoring_batch_processes if owns_engine and url.startswith("postgresql") else 0
        return cls(processes, url, settings.statement_timeout_ms)

    def ingest_batch(self, session: Any, device: DeviceActor, items: Sequence[Incoming], *,
                     all_or_nothing: bool = False, context: AuditContext | None = None,
                     channel: str = "batch") -> IngestResult:
        """``ingest`` in a child process for a large batch when there are children, otherwise in ``session`` (which
        the caller's unit of work commits)."""
        if len(items) <= SMALL_BATCH or self.processes <= 0:
            return ingest(session, device, items, all_or_nothing=all_or_nothing, context=context, channel=channel)
        return self.ingest_in_child(device, items, all_or_nothing=all_or_nothing, context=context, channel=channel)

    def ingest_compact(self, session: Any, device: DeviceActor, raw: bytes, *,
                       context: AuditContext | None = None) -> bytes:
        """A compact batch (``schemas.BatchIn`` as JSON bytes) checked, stored and evaluated; the reply's JSON bytes.
        Raises ``BatchInvalid`` when the document does not match the schema (nothing stored)."""
        if len(raw) <= SMALL_BODY_BYTES or self.processes <= 0:
            items = _parse_compact(raw)
            if len(items) > SMALL_BATCH and self.processes > 0:  # a small document of many short readings
                result = self.ingest_in_child(device, items, context=context, channel="batch")
            else:
                result = ingest(session, device, items, context=context, channel="batch")
            return orjson.dumps(result.to_reply())
        reply: bytes = self._submit(_compact_in_child, device, raw, context)
        return reply

    def ingest_in_child(self, device: DeviceActor, items: Sequence[Incoming], *, all_or_nothing: bool = False,
                        context: AuditContext | None = None, channel: str = "batch") -> IngestResult:
        """``ingest`` and its commit in a child process; the result once committed, or the child's refusal raised.

        A child that died (killed, out of memory) breaks its pool for good: the pool is dropped, the next large
        batch starts a new one, and this batch is answered 503. Whether or not it was committed, the sender's retry
        is safe: a reading already stored is acknowledged as a duplicate."""
        # The readings go as plain tuples: pickling a thousand dataclasses one by one cost ten times more.
        packed = [item.packed() for item in items]
        result: IngestResult = self._submit(_in_child, device, packed, all_or_nothing, context, channel)
        return result

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=mp.get_context("spawn"), initializer=_start_child,
                    initargs=(self.url, self.statement_timeout_ms))
            return self._pool

    def _drop(self, pool: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, function: Callable[..., tuple[str, Any]], *args: Any) -> Any:
        """``function(*args)`` in a child of the pool: its value once committed, or its refusal raised here."""
        pool = self._executor()
        try:
            kind, value = pool.submit(function, *args).result()
        except cf.process.BrokenProcessPool:
            self._drop(pool)
            raise ServiceUnavailable("Le lot de mesures n'a pas pu être traité : renvoyez-le (une mesure déjà "
                                     "enregistrée sera reconnue).") from None
        if kind == "ok":
            return value
        if kind == "invalid":
            raise BatchInvalid(value)
        module, name, message, details, status_code = value
        error_class = getattr(importlib.import_module(module), name)
        raise error_class(message, details=details, status_code=status_code)


INLINE = BatchRunner()  # every batch in the caller's session: an app that was not given a runner


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
