"""Prometheus metrics: request counts and latencies per route template, and the job queue depth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maillage.worker.queue import counts_by_status, queue_depth


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


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static") else "other")
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
