"""Prometheus metrics: request counts and latencies per route template, the SQL statements each route sends, and
the job queue depth.

SQL per request: a listener on every ``Engine`` (``install_statement_counter``, registered by ``create_app``) counts
the statements a request sends and their time into a ``DbUse`` held in a context variable that the request's
middleware (``web.middleware.RequestContextMiddleware``) sets; the threads that run sync routes inherit it (anyio
copies the context), and so does who is calling awaited on the event loop (SQLAlchemy's greenlets carry the context).
Besides the Prometheus counter, ``settings.server_timing`` puts them in a ``Server-Timing: sql;dur=…;desc="N"``
response header (off by default), which is how ``benchmarks/web_load.py`` counts statements per route with any
number of serve processes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from starlette.types import Scope

from maillage.worker.queue import counts_by_status, queue_depth


@dataclass
class DbUse:
    """The SQL statements one request sent, and the time they took (seconds, as the driver saw them)."""

    statements: int = 0
    seconds: float = 0.0


_current: ContextVar[DbUse | None] = ContextVar("maillage_request_db_use", default=None)
_STARTED = "maillage.metrics.statement_started"


def _before_cursor_execute(conn: Any, _cursor: Any, _statement: Any, _parameters: Any, _context: Any,
                           _executemany: bool) -> None:
    use = _current.get()
    if use is not None:
        use.statements += 1
        conn.info[_STARTED] = time.perf_counter()


def _after_cursor_execute(conn: Any, _cursor: Any, _statement: Any, _parameters: Any, _context: Any,
                          _executemany: bool) -> None:
    use = _current.get()
    started = conn.info.pop(_STARTED, None)
    if use is not None and started is not None:
        use.seconds += time.perf_counter() - started


def install_statement_counter() -> None:
    """Count each request's SQL statements (on every engine of the process). Idempotent."""
    for name, listener in (("before_cursor_execute", _before_cursor_execute),
                           ("after_cursor_execute", _after_cursor_execute)):
        if not event.contains(Engine, name, listener):
            event.listen(Engine, name, listener)


def current_db_use() -> DbUse | None:
    """What the current request has sent to the database so far (None outside a request)."""
    return _current.get()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "maillage_http_requests_total", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "maillage_http_request_duration_seconds", "HTTP request duration", ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.statements = Counter(
            "maillage_db_statements_total", "SQL statements sent while serving requests", ["method", "route"],
            registry=self.registry,
        )

    def observe(self, scope: Scope, template: str | None, status: int, seconds: float, statements: int) -> None:
        """One request served: its count, its latency and its SQL statements, by route template."""
        template = template or ("/static" if scope["path"].startswith("/static") else "other")
        method = scope.get("method", "GET")
        self.requests.labels(method, template, str(status)).inc()
        self.latency.labels(method, template).observe(seconds)
        self.statements.labels(method, template).inc(statements)

    def add_queue_collector(self, sessionmaker: Any) -> None:
        self.registry.register(_QueueCollector(sessionmaker))


class _QueueCollector(Collector):
    def __init__(self, sessionmaker: Any) -> None:
        self.sessionmaker = sessionmaker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("maillage_job_queue_depth", "Jobs due and not yet run")
        by_status = GaugeMetricFamily("maillage_jobs", "Jobs by status", labels=["status"])
        try:
            with self.sessionmaker() as session:
                depth.add_metric([], queue_depth(session))
                for status, count in counts_by_status(session).items():
                    by_status.add_metric([status], count)
        except Exception:
            depth.add_metric([], float("nan"))
        yield depth
        yield by_status


@contextmanager
def db_use_of_request(use: DbUse) -> Iterator[None]:
    """Count the SQL statements sent while the block runs (a request: ``RequestContextMiddleware``) into ``use``."""
    token = _current.set(use)
    try:
        yield
    finally:
        _current.reset(token)
