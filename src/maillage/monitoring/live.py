"""Live updates of the worklist without holding a database session open.

An in-process counter is bumped after each commit that changed alerts (ingestion, triage, the silence check run
by a worker in another process is seen through the cheap database mark). The server-sent events loop watches
the counter every fraction of a second and, every few seconds, the database mark (``repository.change_mark``)
in a short session of its own: several ``serve`` processes and the worker all end up visible.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

CHANGED_KEY = "maillage.monitoring.changed"

_lock = threading.Lock()
_version = 0


def changed_on_commit(session: Session) -> None:
    """Ask for a bump once this session's transaction commits (nothing if it rolls back)."""
    session.info[CHANGED_KEY] = True


def bump() -> None:
    global _version
    with _lock:
        _version += 1


def version() -> int:
    return _version
