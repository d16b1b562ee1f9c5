"""Cost of tracing which patients a list read returned, on PostgreSQL, for a list of 50 patients.

Run: `.venv/bin/python benchmarks/audit_list_read.py`. The database is `MAILLAGE_BENCH_DATABASE_URL`
(default postgresql://postgres@127.0.0.1:5432/audit_test); the benchmark works in a private schema it
creates, migrates and drops.

Three ways to trace one list read, each committed as a request would (one transaction per list read, so the
figure holds the chain lock, the head read, the inserts and the commit):

- count only: one entry with the count (what Maillage did before; it cannot answer "who saw this patient");
- one entry listing the ids: one chained entry (count and digest of the ids in its hashed details) and one row
  per patient in ``audit_entry_patient`` (what Maillage does now);
- one entry per patient: 50 chained entries, each with its ``patient_id``.

For each: the time per list read (median and 95th percentile), the bytes written on disk per list read (table
and index growth), and the time of the administrator's question "who saw this patient" once the trail holds
``MAILLAGE_BENCH_LIST_READS`` list reads.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from _machine import cpu_model, loadavg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from maillage.audit import repository, rules, service
from maillage.kit.db import make_engine, make_sessionmaker, normalise_url
from maillage.kit.logging import configure_logging
from maillage.security.context import AuditContext

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/audit_test"
LIST_SIZE = 50
LIST_READS = int(os.environ.get("MAILLAGE_BENCH_LIST_READS", "400"))
PATIENTS = 2000  # the population the lists are drawn from: each patient is in about LIST_READS * 50 / 2000 lists
TABLES = ("audit_entry", "audit_entry_patient")


def migrate(engine: Engine) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def count_only(session: Session, actor: str, patients: list[str], i: int) -> None:
    service.record(session, action="search", object_type="patient", actor_id=actor, actor_role="physician",
                   purpose="care", context=AuditContext(f"bench-{i}", "127.0.0.1"),
                   details={"count": len(patients)})


def one_entry_listing_ids(session: Session, actor: str, patients: list[str], i: int) -> None:
    service.record(session, action="search", object_type="patient", actor_id=actor, actor_role="physician",
                   purpose="care", context=AuditContext(f"bench-{i}", "127.0.0.1"),
                   details={"count": len(patients)}, list_patients=patients)


def one_entry_per_patient(session: Session, actor: str, patients: list[str], i: int) -> None:
    for pid in patients:
        service.record(session, action="search", object_type="patient", patient_id=pid, actor_id=actor,
                       actor_role="physician", purpose="care", context=AuditContext(f"bench-{i}", "127.0.0.1"),
                       details={"count": len(patients)})


def disk_bytes(engine: Engine) -> int:
    with engine.connect() as conn:
        return sum(int(conn.execute(text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": t}).scalar()
                       or 0) for t in TABLES)


def reset(engine: Engine) -> None:
    """Empty the trail between two options (the triggers refuse it to the application: the DBA's way)."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("DELETE FROM audit_entry_patient"))
        conn.execute(text("DELETE FROM audit_entry"))
        conn.execute(text("DELETE FROM audit_anchor"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in TABLES:
            conn.execute(text(f"VACUUM FULL {table}"))


def run(engine: Engine, sessions: sessionmaker[Session],
        option: Callable[[Session, str, list[str], int], None]) -> tuple[list[float], int, float]:
    """LIST_READS list reads of LIST_SIZE patients; returns (seconds per read, bytes written, who-saw seconds)."""
    reset(engine)
    population = [str(uuid.UUID(int=n + 1)) for n in range(PATIENTS)]
    actors = [str(uuid.uuid4()) for _ in range(20)]
    before = disk_bytes(engine)
    timings: list[float] = []
    for i in range(LIST_READS):
        start = (i * 37) % (PATIENTS - LIST_SIZE)
        patients = population[start:start + LIST_SIZE]
        began = time.perf_counter()
        with sessions() as session:
            option(session, actors[i % len(actors)], patients, i)
            session.commit()
        timings.append(time.perf_counter() - began)
    written = disk_bytes(engine) - before
    with engine.connect() as conn:
        conn.execute(text("ANALYZE audit_entry"))
        conn.execute(text("ANALYZE audit_entry_patient"))
        conn.commit()
    asked: list[float] = []
    for n in range(50):
        filters = rules.parse_filters(patient=population[(n * 41) % PATIENTS])
        with sessions() as session:
            began = time.perf_counter()
            repository.search(session, filters)
            asked.append(time.perf_counter() - began)
    return timings, written, statistics.median(asked)


def main() -> int:
    configure_logging("WARNING", json=True)
    url = normalise_url(os.environ.get("MAILLAGE_BENCH_DATABASE_URL", DEFAULT_URL))
    if not url.startswith("postgresql"):
        print("Ce benchmark mesure PostgreSQL : MAILLAGE_BENCH_DATABASE_URL doit être une URL postgresql://",
              file=sys.stderr)
        return 2
    schema = f"bench_list_{os.getpid()}"
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        print(f"PostgreSQL injoignable ({type(exc.orig).__name__}) : mesure non faite. "
              "Indiquez MAILLAGE_BENCH_DATABASE_URL.", file=sys.stderr)
        return 0
    engine = make_engine(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    try:
        migrate(engine)
        sessions = make_sessionmaker(engine)
        with engine.connect() as conn:
            server = conn.execute(text("SHOW server_version")).scalar()
        print(f"Machine : {cpu_model()}, {os.cpu_count()} cœur(s), charge {loadavg()} ; "
              f"Python {platform.python_version()} ; PostgreSQL {server} (local)")
        print(f"Une lecture de liste de {LIST_SIZE} patients par transaction validée, {LIST_READS} lectures "
              f"par option ; « qui a vu ce patient » : médiane de 50 recherches par patient (parmi {PATIENTS}).")
        options = (("compte seul (avant)", count_only),
                   ("une entrée + les identifiants", one_entry_listing_ids),
                   ("une entrée par patient", one_entry_per_patient))
        for label, option in options:
            timings, written, asked = run(engine, sessions, option)
            p95 = statistics.quantiles(timings, n=20)[-1]
            print(f"  {label:32s} : {statistics.median(timings) * 1000:6.2f} ms médiane, {p95 * 1000:6.2f} ms p95 "
                  f"par lecture ; {written / LIST_READS / 1024:6.1f} Kio écrits par lecture ; "
                  f"qui a vu : {asked * 1000:5.2f} ms")
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
