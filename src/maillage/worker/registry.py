"""Registry of job handlers and periodic schedules.

A handler is ``fn(session, **args)``: it re-loads what it needs by id, may flush but never commits
(the worker commits the job's effect and its completion together), and tolerates running twice.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[..., Any]


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: Handler
    max_attempts: int | None = None


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    every: dt.timedelta
    args: tuple[tuple[str, Any], ...] = ()


_jobs: dict[str, JobSpec] = {}
_periodic: dict[str, PeriodicSpec] = {}


def job(name: str, *, max_attempts: int | None = None) -> Callable[[Handler], Handler]:
    """Register ``fn(session, **args)`` as the handler of jobs called ``name``."""

    def decorate(fn: Handler) -> Handler:
        existing = _jobs.get(name)
        if existing is not None and existing.handler is not fn:
            raise ValueError(f"job {name!r} is already registered")
        _jobs[name] = JobSpec(name, fn, max_attempts)
        return fn

    return decorate


def periodic(name: str, every: dt.timedelta, **args: Any) -> None:
    """Ask the worker to run job ``name`` once per ``every`` (slots aligned on the epoch)."""
    if every.total_seconds() < 1:
        raise ValueError("a periodic job runs at most once per second")
    _periodic[name] = PeriodicSpec(name, every, tuple(sorted(args.items())))


def get(name: str) -> JobSpec | None:
    return _jobs.get(name)


def registered_names() -> list[str]:
    return sorted(_jobs)


def periodic_specs() -> list[PeriodicSpec]:
    return list(_periodic.values())


def load_modules(modules: Iterable[str]) -> None:
    for module in modules:
        importlib.import_module(module)


def call(spec: JobSpec, session: Session, args: dict[str, Any]) -> Any:
    return spec.handler(session, **args)
