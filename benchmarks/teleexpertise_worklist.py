"""Tele-expertise worklist and "mes demandes" query times with many requests.

Run: `.venv/bin/python benchmarks/teleexpertise_worklist.py`. The database is `MAILLAGE_BENCH_TELEEXPERTISE_URL`
(default: a temporary SQLite file; a PostgreSQL URL works the same, its schema rebuilt by the migrations).
`MAILLAGE_BENCH_REQUESTS` sets the number of requests (default 50,000), spread over 10 lines and 200 requesters,
a third of them open.

Prints p50 and p99 over 200 runs of: a line's worklist page (50 open requests by urgency then due time) and a
requester's "mes demandes" page (50 most recent), both through the repository the service uses.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from maillage.kit.db import make_engine, make_sessionmaker  # noqa: E402
from maillage.models.auth import UserAccount  # noqa: E402
from maillage.models.directory import Establishment, SpecialtyLine  # noqa: E402
from maillage.models.patient import Patient  # noqa: E402
from maillage.models.teleexpertise import TeleexpertiseRequest  # noqa: E402
from maillage.teleexpertise import repository as repo  # noqa: E402
from maillage.teleexpertise.rules import OPEN, Status  # noqa: E402

REQUESTS = int(os.environ.get("MAILLAGE_BENCH_REQUESTS", "50000"))
RUNS = 200


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
    engine.dispose()


def seed(url: str) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    rng = random.Random(5)
    engine = make_engine(url)
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    users = [{"id": uuid.uuid4(), "username": f"bench-{i}", "display_name": f"Bench {i}", "role": "physician",
              "status": "active", "password_hash": "x", "password_changed_at": now, "failed_logins": 0,
              "lockouts": 0, "created_at": now} for i in range(200)]
    est = {"id": uuid.uuid4(), "kind": "hospital", "name": "CH Bench", "public": True, "search_text": "",
           "source": "manual", "active": True, "created_at": now, "updated_at": now}
    lines = [{"id": uuid.uuid4(), "establishment_id": est["id"], "specialty_code": "SM15", "title": f"Ligne {i}",
              "summary": "", "teleexpertise": True, "teleconsultation": False, "accepts_city": True,
              "accepts_ehpad": True, "accepts_usmp": True, "accepts_ght_hospitals": True, "requirements": [],
              "min_photos": 0, "opening_hours": "", "how_to_request": "", "search_text": "", "active": True,
              "published": True, "created_at": now, "updated_at": now} for i in range(10)]
    patients = [{"id": uuid.uuid4(), "birth_name": f"BENCH{i}", "given_names": "ANNE",
                 "birth_date": dt.date(1950, 1, 1), "sex": "F", "birthplace": "75056",
                 "birth_name_norm": f"BENCH{i}", "first_given_name_norm": "ANNE",
                 "duplicate_key": f"BENCH{i}|ANNE|1950-01-01|F|75056", "identity_status": "PROV",
                 "identity_attributes": [], "created_at": now, "updated_at": now} for i in range(1000)]
    statuses = [s.value for s in OPEN] + [Status.COMPLETED.value] * 6
    rows = []
    for _ in range(REQUESTS):
        submitted = now - dt.timedelta(minutes=rng.randint(0, 60 * 24 * 120))
        rows.append({"id": uuid.uuid4(), "patient_id": rng.choice(patients)["id"], "line_id": rng.choice(lines)["id"],
                     "requester_id": rng.choice(users)["id"], "status": rng.choice(statuses),
                     "urgency": rng.choice(["routine", "routine", "urgent", "very_urgent"]), "question": "Question",
                     "clinical_context": "", "provided": [], "patient_inpatient": False, "committed_minutes": 2880,
                     "submitted_at": submitted, "due_at": submitted + dt.timedelta(hours=48), "version": 1,
                     "created_at": submitted, "updated_at": submitted})
    with engine.begin() as conn:
        conn.execute(insert(UserAccount), users)
        conn.execute(insert(Establishment), [est])
        conn.execute(insert(SpecialtyLine), lines)
        conn.execute(insert(Patient), patients)
        for i in range(0, len(rows), 5000):
            conn.execute(insert(TeleexpertiseRequest), rows[i:i + 5000])
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return [line["id"] for line in lines], [u["id"] for u in users]


def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    folder = tempfile.mkdtemp(prefix="teleexpertise-bench-")
    url = os.environ.get("MAILLAGE_BENCH_TELEEXPERTISE_URL", f"sqlite:///{folder}/bench.sqlite3")
    migrate(url)
    line_ids, user_ids = seed(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    open_statuses = [s.value for s in OPEN]
    rng = random.Random(7)
    with sessions() as session:
        wl = timed(lambda: repo.worklist(session, rng.choice(line_ids), open_statuses, limit=51, offset=0))
        mine = timed(lambda: repo.of_requester(session, rng.choice(user_ids), limit=51, offset=0))
    print(f"base : {engine.dialect.name}, {REQUESTS} demandes, 10 lignes, 200 requérants")
    print(f"file d'une ligne (50 ouvertes, urgence puis échéance) : p50 {wl[0]:.2f} ms, p99 {wl[1]:.2f} ms")
    print(f"mes demandes (50 plus récentes) : p50 {mine[0]:.2f} ms, p99 {mine[1]:.2f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
