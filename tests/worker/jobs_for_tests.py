"""Job handlers used by the worker tests (imported with ``maillage worker --import``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from maillage.worker.registry import job

CALLS: list[str] = []


@job("test.record")
def record(session: Session, marker: str) -> None:
    CALLS.append(marker)


@job("test.always_fails", max_attempts=3)
def always_fails(session: Session, marker: str) -> None:
    CALLS.append(marker)
    raise RuntimeError("boom")


@job("test.effect")
def effect(session: Session, marker: str) -> None:
    """Write the effect, then, when asked, announce it and wait to be killed before committing."""
    session.execute(text("INSERT INTO test_effect (marker) VALUES (:m)"), {"m": marker})
    session.flush()
    announce = os.environ.get("MAILLAGE_TEST_JOB_ANNOUNCE")
    if announce:
        Path(announce).write_text(str(os.getpid()))
        time.sleep(60)
