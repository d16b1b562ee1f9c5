"""Billing at a large GHT's size: a year of telemedicine acts in the ledger, one establishment-month's statement.

Run: `.venv/bin/python benchmarks/billing.py` (full size: 2,000,000 acts; `--acts N` for fewer). PostgreSQL is
required: the database is `MAILLAGE_BENCH_BILLING_URL` (default: the local server, database `billing_bench`,
created if missing, its schema rebuilt by the migrations). Without a reachable server the script exits 2.

The data: 40 establishments (the support hospital carries 30 % of the acts, the others share the rest), 3,000
professionals with an account each, 100,000 patients, one calendar year of acts (TE2 35 %, RQD 35 %, TCG 15 %, TLS/
TLL/TLD 5 %, operator forfaits TVB 10 %), months before the current one billed, the current one to bill, 1 % not
billable (cap, inpatient). Loaded with COPY, then VACUUM ANALYZE.

Measured, p50 / p95 / p99 in milliseconds:
- the statement of the support hospital for its busiest month through the service (two grouped queries: sums per
  code and status, caps reached), the floor being < 1 s;
- the statement page `/facturation` (FastAPI TestClient in process, a signed-in billing officer: session,
  authorization, audit entries and commit, the statement, the first 50 acts, the template), the floor being p95 <
  100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import math
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import psycopg  # noqa: E402
from _machine import cpu_model, loadavg  # noqa: E402
from _postgres import ensure_database, libpq_url  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

# This folder holds a benchmark named fhir.py, which would hide the fhir.resources package the application imports.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/billing_bench"
ESTABLISHMENTS = 40
PROFESSIONALS = 3000
PATIENTS = 100_000
YEAR = 2026
SUPPORT_SHARE = 0.30
CODES = (("TE2", "23.00", 35), ("RQD", "10.00", 35), ("TCG", "25.00", 15), ("TLS", "10.00", 2),
         ("TLL", "12.00", 2), ("TLD", "15.00", 1), ("TVB", "28.00", 10))
CURRENT_MONTH = 12


def percentile(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def timed(label: str, fn: Callable[[], object], runs: int) -> tuple[str, float, float, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return label, percentile(times, 0.5), percentile(times, 0.95), percentile(times, 0.99)


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    engine = create_engine(url)
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
    engine.dispose()


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: io.StringIO) -> None:
    rows.seek(0)
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        while chunk := rows.read(1 << 20):
            copy.write(chunk)


def seed(url: str, acts: int, rng: random.Random) -> tuple[uuid.UUID, uuid.UUID]:
    """Load the world and the ledger; the support hospital's id and its billing officer's account id."""
    at = dt.datetime.now(dt.UTC).isoformat()
    establishments = [uuid.uuid4() for _ in range(ESTABLISHMENTS)]
    users = [uuid.uuid4() for _ in range(PROFESSIONALS)]
    officer = uuid.uuid4()
    patients = [uuid.uuid4() for _ in range(PATIENTS)]
    with psycopg.connect(libpq_url(url)) as conn:
        buf = io.StringIO()
        for i, e in enumerate(establishments):
            buf.write(f"{e}\thospital\tÉtablissement {i + 1:02d}\t{990000000 + i}\tfalse\tdemo\ttrue\t{at}\t{at}\t"
                      f"Établissement {i + 1:02d}\n")
        _copy(conn, "establishment", ("id", "kind", "name", "finess_et", "public", "source", "active", "created_at",
                                      "updated_at", "search_text"), buf)
        buf = io.StringIO()
        for i, u in enumerate(users):
            role = "nurse" if i % 5 == 4 else "physician"
            buf.write(f"{u}\tpro{i:04d}\tDr Banc {i:04d}\t{role}\tactive\tx\t{at}\tfalse\t0\t0\t0\t{at}\n")
        buf.write(f"{officer}\tfacturation\tBureau des entrées\tbilling_officer\tactive\tx\t{at}\tfalse\t0\t0\t0\t"
                  f"{at}\n")
        _copy(conn, "user_account", ("id", "username", "display_name", "role", "status", "password_hash",
                                     "password_changed_at", "must_change_password", "failed_logins", "lockouts",
                                     "second_factor_failures", "created_at"), buf)
        buf = io.StringIO()
        home = {u: establishments[0] if i < PROFESSIONALS * SUPPORT_SHARE else establishments[1 + i % 39]
                for i, u in enumerate(users)}
        for u, e in home.items():
            buf.write(f"{u}\t{e}\ttrue\n")
        buf.write(f"{officer}\t{establishments[0]}\ttrue\n")
        _copy(conn, "user_establishment", ("user_id", "establishment_id", "is_default"), buf)
        buf = io.StringIO()
        for i, p in enumerate(patients):
            buf.write(f"{p}\tBANC{i:06d}\tCLAIRE\t1950-01-01\tF\t87085\tBANC{i:06d}\tCLAIRE\tbanc-{i}\tPROV\t[]\t"
                      f"{at}\t{at}\n")
        _copy(conn, "patient", ("id", "birth_name", "given_names", "birth_date", "sex", "birthplace",
                                "birth_name_norm", "first_given_name_norm", "duplicate_key", "identity_status",
                                "identity_attributes", "created_at", "updated_at"), buf)
        conn.commit()
        codes, amounts, weights = zip(*CODES, strict=True)
        columns = ("id", "source", "source_id", "source_key", "patient_id", "professional_user_id", "rpps",
                   "establishment_id", "finess", "code", "act_date", "month", "amount", "tariff_source", "status",
                   "reason", "cap_reached", "created_at")
        support_users = [u for u in users if home[u] == establishments[0]]
        rpps = {u: f"{99900000000 + i}" for i, u in enumerate(users)}
        done = 0
        while done < acts:
            buf = io.StringIO()
            for _ in range(min(200_000, acts - done)):
                k = rng.choices(range(len(codes)), weights=weights)[0]
                user = rng.choice(support_users) if rng.random() < SUPPORT_SHARE else rng.choice(users)
                est = home[user]
                day = dt.date(YEAR, 1, 1) + dt.timedelta(days=rng.randrange(365))
                status, reason = ("to_bill" if day.month == CURRENT_MONTH else "billed"), r"\N"
                if rng.random() < 0.01:
                    status, reason = "not_billable", rng.choice(("te_cap", "inpatient"))
                source_id = uuid.uuid4()
                buf.write(f"{uuid.uuid4()}\tteleexpertise\t{source_id}\tteleexpertise:{source_id}\t"
                          f"{rng.choice(patients)}\t{user}\t{rpps[user]}\t{est}\t990000000\t{codes[k]}\t{day}\t{day.replace(day=1)}\t{amounts[k]}\tbanc\t"
                          f"{status}\t{reason}\tfalse\t{at}\n")
            _copy(conn, "billing_entry", columns, buf)
            conn.commit()
            done += min(200_000, acts - done)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return establishments[0], officer


def measure(url: str, support: uuid.UUID, officer: uuid.UUID, runs: int) -> list[tuple[str, float, float, float]]:
    from fastapi.testclient import TestClient

    from maillage.app import create_app
    from maillage.auth import service as auth
    from maillage.billing import repository as repo
    from maillage.billing import rules, service
    from maillage.config import Settings
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.models.auth import UserAccount
    from maillage.security.deps import SESSION_COOKIE

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    month = dt.date(YEAR, CURRENT_MONTH, 1)
    results = []
    with sessions() as db:
        def statement() -> None:
            rules.summarise(month, *repo.sums(db, month=month, establishment_id=support))
        count = repo.count_entries(db, month=month, establishment_id=support)
        results.append(timed(f"Relevé d'un établissement-mois ({count} actes), service", statement, runs))

        def refresh() -> None:  # what the collector and each decision do for the establishment-month touched
            service.refresh_summaries(db, [(support, month)])
            db.commit()
        results.append(timed("Mise à jour du relevé enregistré (après reprise ou décision)", refresh, runs))
        middle = repo.entries(db, month=month, establishment_id=support, limit=1,
                              after=(dt.date(YEAR, CURRENT_MONTH, 15), "", uuid.UUID(int=0)))
    settings = Settings(environment="test", var_dir=Path(tempfile.mkdtemp(prefix="billing-bench-")),
                        database_url=url, log_json=True, log_level="WARNING", secret_key="b" * 40,
                        rate_limit_enabled=False)
    app = create_app(settings, sessions)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        with sessions() as db:
            user = db.get(UserAccount, officer)
            assert user is not None
            token, _ = auth.start_session(db, user, mfa_passed=True, address="127.0.0.1")
            db.commit()
        client.cookies.set(SESSION_COOKIE, token)
        path = f"/facturation?etablissement={support}&mois={month.strftime('%Y-%m')}"

        def page() -> None:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path} : HTTP {response.status_code}")
        results.append(timed("Page relevé /facturation (relevé enregistré + 50 premiers actes)", page, runs))
        deep = path + (f"&apres={middle[0].act_date.isoformat()}~{middle[0].code}~{middle[0].id}" if middle else "")
        filtered = path + "&statut=billed"
        for label, url in (("au milieu du mois (curseur)", deep), ("filtrée sur « facturé »", filtered)):
            def other(url: str = url) -> None:
                response = client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"{url} : HTTP {response.status_code}")
            results.append(timed(f"Page relevé /facturation, {label}", other, runs))
    engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="Banc d'essai de la facturation (PostgreSQL).")
    parser.add_argument("--acts", type=int, default=2_000_000, help="actes dans le registre (2 000 000 par défaut)")
    parser.add_argument("--runs", type=int, default=100, help="mesures par figure")
    args = parser.parse_args()
    url = os.environ.get("MAILLAGE_BENCH_BILLING_URL", DEFAULT_URL)
    version = ensure_database(url, "MAILLAGE_BENCH_BILLING_URL")
    print(f"Machine : {cpu_model()}, {os.cpu_count()} cœur(s) ; Python {platform.python_version()} ; "
          f"PostgreSQL {version} ; charge moyenne au départ {loadavg()}")
    started = time.perf_counter()
    migrate(url)
    support, officer = seed(url, args.acts, random.Random(7))
    print(f"Chargement de {args.acts} actes : {time.perf_counter() - started:.0f} s ; charge moyenne {loadavg()}")
    for label, p50, p95, p99 in measure(url, support, officer, args.runs):
        print(f"{label} : p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms")
    print(f"Charge moyenne à la fin : {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
