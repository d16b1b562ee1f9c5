"""Throughput of the audit hash chain on PostgreSQL: appends by 1 and 4 concurrent writers, and verification.

Run: `.venv/bin/python benchmarks/audit_chain.py`. The database is `MAILLAGE_BENCH_DATABASE_URL`
(default postgresql://postgres@127.0.0.1:5432/audit_test); the benchmark works in a private schema it
creates, migrates and drops, so it leaves the database as it found it.

Appends: each writer has its own connection and commits one unit of work per audited access (one entry
per commit, as a request reading one record would), so the figure includes the chain lock, the head read,
the insert and the commit (fsync) of every entry. Verify: the whole chain streamed and every hash recomputed.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
import uuid
from pathlib import Path

from _machine import cpu_model
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from maillage.audit import service
from maillage.kit.clock import now
from maillage.kit.db import make_engine, make_sessionmaker, normalise_url
from maillage.kit.logging import configure_logging
from maillage.security.context import AuditContext

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/audit_test"
SECONDS_PER_RUN = float(os.environ.get("MAILLAGE_BENCH_SECONDS", "8"))
VERIFY_ENTRIES = int(os.environ.get("MAILLAGE_BENCH_VERIFY_ENTRIES", "200000"))


def migrate(engine: Engine) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def appends(sessions: sessionmaker[Session], writers: int, seconds: float) -> tuple[int, float]:
    """Each writer commits one entry per transaction for ``seconds``; returns (entries, elapsed)."""
    counts = [0] * writers
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers + 1)
    deadline = [0.0]

    def write(n: int) -> None:
        try:
            barrier.wait()
            i = 0
            while time.perf_counter() < deadline[0]:
                with sessions() as session:
                    service.record(session, action="read", object_type="observation", object_id=f"obs-{n}-{i}",
                                   patient_id=str(uuid.uuid4()), actor_id=str(uuid.uuid4()), actor_role="physician",
                                   purpose="care", context=AuditContext(f"bench-{n}-{i}", "127.0.0.1"),
                                   details={"count": 1})
                    session.commit()
                i += 1
            counts[n] = i
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return sum(counts), elapsed


def fill(sessions: sessionmaker[Session], total: int, per_commit: int = 5000) -> None:
    """Append ``total`` entries quickly (large transactions) for the verification figure."""
    written = 0
    while written < total:
        batch = min(per_commit, total - written)
        with sessions() as session:
            rows = [{
                "id": uuid.uuid4(), "occurred_at": now(), "actor_id": str(uuid.uuid4()), "actor_role": "nurse",
                "establishment_id": None, "action": "read", "object_type": "observation", "object_id": f"o-{i}",
                "patient_id": str(uuid.uuid4()), "purpose": "care", "break_glass": False, "reason": None,
                "outcome": "success", "request_id": f"fill-{written + i}", "address": "127.0.0.1",
                "details": {"count": i},
            } for i in range(batch)]
            service.append_to_chain(session, rows)
            session.commit()
        written += batch


def main() -> int:
    configure_logging("WARNING", json=True)
    url = normalise_url(os.environ.get("MAILLAGE_BENCH_DATABASE_URL", DEFAULT_URL))
    if not url.startswith("postgresql"):
        print("Ce benchmark mesure PostgreSQL : MAILLAGE_BENCH_DATABASE_URL doit être une URL postgresql://",
              file=sys.stderr)
        return 2
    schema = f"bench_audit_{os.getpid()}"
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        print(f"PostgreSQL injoignable ({type(exc.orig).__name__}) : mesure de la chaîne d'audit non faite. "
              "Indiquez MAILLAGE_BENCH_DATABASE_URL.", file=sys.stderr)
        return 0
    engine = make_engine(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    try:
        migrate(engine)
        sessions = make_sessionmaker(engine)
        with engine.connect() as conn:
            server = conn.execute(text("SHOW server_version")).scalar()
        print(f"Machine : {cpu_model()}, {os.cpu_count()} cœur(s) ; Python {platform.python_version()} ; "
              f"PostgreSQL {server} (local)")
        print(f"Ajouts : une entrée par transaction validée, {SECONDS_PER_RUN:.0f} s par mesure")
        for writers in (1, 4):
            entries, elapsed = appends(sessions, writers, SECONDS_PER_RUN)
            print(f"  {writers} écrivain(s) concurrent(s) : {entries / elapsed:8.0f} entrées/s "
                  f"({entries} entrées en {elapsed:.1f} s)")
        with sessions() as session:
            report = service.verify_chain(session)
        assert report.ok, report.broken
        fill(sessions, VERIFY_ENTRIES)
        with sessions() as session:
            started = time.perf_counter()
            report = service.verify_chain(session)
            elapsed = time.perf_counter() - started
        assert report.ok, report.broken
        print(f"Vérification : {report.checked / elapsed:8.0f} entrées/s ({report.checked} entrées en {elapsed:.1f} s,"
              " lecture en flux par lots de 5000)")
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
