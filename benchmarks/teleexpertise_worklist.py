"""Tele-expertise at a GHT's size: the specialists' worklist, the coordinator's board and "mes demandes".

Run: `.venv/bin/python benchmarks/teleexpertise_worklist.py` (what `make bench` runs). PostgreSQL is required: the
database is `MAILLAGE_BENCH_TELEEXPERTISE_URL` (default: the local server, database `maillage_bench_teleexpertise`,
created if missing, its schema rebuilt by the migrations). Without a reachable server the script says so and exits 2.

The data (default 1,000,000 requests, `--requests N` for fewer): 30 specialty lines with 4 specialists and a backup
each, 80 requesting establishments, 3,000 requesters (a few send much more than others), 100,000 patients, three
years of history up to now. Urgency routine 80 %, urgent 17 %, very urgent 3 % (48 h, 4 h, 1 h committed); old
requests are completed (90 %), declined or cancelled, a few forgotten open; the recent ones are still open. One line
("Ligne 01") carries a backlog of about 2,000 open requests to show the worklist does not depend on it. Loaded with
COPY (secondary indexes rebuilt after), then VACUUM ANALYZE. `--reuse` keeps a database this script already filled
with the same size (its schema brought to the migrations' heads).

Measured with the application in process (FastAPI TestClient, a signed-in session, the real pages: session lookup,
authorization, audit entry and commit, query, template), p50 / p95 / p99 in milliseconds:
- a specialist's worklist page `/teleexpertise/lignes/{line}` (open requests by urgency then due time, 200 shown);
- the coordinator's board `/teleexpertise/coordination` for a line's coordinator (one line, 90 days plus the open
  requests, per line and per requesting establishment on the line) and for a GHT-wide coordinator (all 30 lines, the
  establishments of one line drawn at random), as the page reads it: the snapshot the worker's job recomputes every
  5 minutes (computed once before);
- a requester's "mes demandes" `/teleexpertise` (100 most recent), for requesters drawn at random and for the
  busiest one;
and through the repository alone (the SQL part of the page): the worklist, the snapshot read for 30 lines, one
line's board computed from the requests, "mes demandes"; then the worker's job itself (the 30 lines' snapshot
recomputed and committed), which is also what the first page after a stale snapshot pays.
The floors the issue sets: worklist and board p95 < 100 ms. The machine is shared: figures under load are upper
bounds of what an idle machine would show.
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
VAR_DIR = Path(tempfile.gettempdir()) / "maillage-bench-teleexpertise"
os.environ.setdefault("MAILLAGE_VAR_DIR", str(VAR_DIR))  # the vault's keys: kept across --reuse runs

import psycopg  # noqa: E402
from _machine import cpu_model, loadavg  # noqa: E402
from _postgres import ensure_database, libpq_url, sqlalchemy_url  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

# This folder holds a benchmark named fhir.py, which would hide the fhir.resources package the application imports.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/maillage_bench_teleexpertise"
LINES = 30
SPECIALISTS_PER_LINE = 4
ESTABLISHMENTS = 80
REQUESTERS = 3000
PATIENTS = 100_000
YEARS = 3
URGENCIES = (("routine", 0.80, 48 * 60), ("urgent", 0.17, 4 * 60), ("very_urgent", 0.03, 60))
ORIENTATIONS = (("advice_only", 40), ("act_relevant", 12), ("act_not_relevant", 6), ("teleconsultation", 10),
                ("consultation", 20), ("scheduled_hospitalisation", 8), ("urgent_transfer", 4))
BACKLOG_LINE = 0
QUESTION = ("Patient de 78 ans, lésion cutanée évolutive depuis trois mois, saignement au contact ; "
            "photographies jointes. Faut-il une exérèse rapide ou une surveillance ?")
ANSWER = ("Aspect évocateur d'un carcinome basocellulaire nodulaire. Exérèse chirurgicale avec marges de 4 mm "
          "à programmer ; pas d'urgence vitale. Compte rendu transmis au médecin traitant.")
COMMENT_PREFIX = "maillage-bench-teleexpertise"


# --- Machine and statistics ------------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def timed(label: str, fn: Callable[[], object], runs: int) -> tuple[str, float, float, float]:
    for _ in range(5):  # warm the caches and the prepared statements
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return label, percentile(times, 0.5), percentile(times, 0.95), percentile(times, 0.99)


# --- Database ---------------------------------------------------------------------------------------------------


def dataset_tag(requests: int) -> str:
    return f"{COMMENT_PREFIX}:{requests}:v1"


def already_filled(url: str, requests: int) -> bool:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT obj_description('public.teleexpertise_request'::regclass, 'pg_class') "
                           "WHERE to_regclass('public.teleexpertise_request') IS NOT NULL").fetchone()
    return bool(row and row[0] == dataset_tag(requests))


def migrate(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    upgrade(url)


def upgrade(url: str) -> None:
    """Bring the schema to the migrations' heads (a reused database gets the migrations added since its load)."""
    from alembic import command
    from alembic.config import Config

    engine = create_engine(url)
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
    engine.dispose()


# --- Data -------------------------------------------------------------------------------------------------------


def _ts(value: dt.datetime | None) -> str:
    return r"\N" if value is None else value.isoformat()


def _v(value: object) -> str:
    return r"\N" if value is None else str(value)


class World:
    """The identifiers the measurements need."""

    def __init__(self) -> None:
        self.lines: list[uuid.UUID] = []
        self.specialists: dict[uuid.UUID, list[uuid.UUID]] = {}  # line -> accounts answering it
        self.coordinator: uuid.UUID | None = None  # backup of every line: the GHT-wide board
        self.requesters: list[uuid.UUID] = []
        self.busiest: uuid.UUID | None = None


def seed(url: str, requests: int, rng: random.Random) -> None:
    from maillage.models.auth import UserAccount, UserEstablishment
    from maillage.models.directory import (
        Establishment,
        Professional,
        SpecialtyLine,
        SpecialtyLineCommitment,
        SpecialtyLineMember,
    )
    from maillage.models.patient import Patient

    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=365 * YEARS)
    engine = create_engine(url)
    support = {"id": uuid.uuid4(), "kind": "hospital", "name": "CHU Banc d'essai"}
    establishments = [{"id": uuid.uuid4(), "kind": ("hospital", "ehpad", "city_practice", "usmp")[i % 4],
                       "name": f"Établissement requérant {i + 1:02d}"} for i in range(ESTABLISHMENTS)]
    lines = [{"id": uuid.uuid4(), "establishment_id": support["id"], "specialty_code": "SM15",
              "title": f"Ligne {i + 1:02d}"} for i in range(LINES)]
    professionals, users, members, links = [], [], [], []

    def account(username: str, role: str = "physician") -> dict[str, object]:
        person = uuid.uuid4()
        rpps = f"9990{len(professionals):07d}"
        professionals.append({"id": person, "rpps": rpps, "national_id": f"8{rpps}", "last_name": username,
                              "profession_code": "10"})
        row = {"id": uuid.uuid4(), "username": username, "display_name": f"Dr {username}", "role": role,
               "person_id": person, "password_hash": "non-utilisable", "totp_enrolled_at": now}
        users.append(row)
        return row

    for i, line in enumerate(lines):
        for j in range(SPECIALISTS_PER_LINE):
            u = account(f"specialiste-{i + 1:02d}-{j + 1}")
            members.append({"line_id": line["id"], "professional_id": u["person_id"], "role": "answering"})
        backup = account(f"astreinte-{i + 1:02d}")
        members.append({"line_id": line["id"], "professional_id": backup["person_id"], "role": "backup"})
    coordinator = account("coordination-ght")
    for line in lines:
        members.append({"line_id": line["id"], "professional_id": coordinator["person_id"], "role": "backup"})
    requesters = []
    for k in range(REQUESTERS):
        u = account(f"requerant-{k + 1:04d}", role=("physician", "physician", "nurse", "midwife")[k % 4])
        est = establishments[k % ESTABLISHMENTS]["id"] if k % 10 else None
        if est is not None:
            links.append({"user_id": u["id"], "establishment_id": est, "is_default": True})
        requesters.append((u["id"], est))
    commitments = [{"line_id": line["id"], "urgency": name, "response_minutes": minutes}
                   for line in lines for name, _, minutes in URGENCIES]
    with engine.begin() as conn:
        conn.execute(insert(Establishment), [support, *establishments])
        conn.execute(insert(SpecialtyLine), lines)
        conn.execute(insert(SpecialtyLineCommitment), commitments)
        conn.execute(insert(Professional), professionals)
        conn.execute(insert(UserAccount), users)
        conn.execute(insert(UserEstablishment), links)
        conn.execute(insert(SpecialtyLineMember), members)
        patients = []
        for i in range(PATIENTS):
            name = f"BANC{i:06d}"
            patients.append({"id": uuid.uuid4(), "birth_name": name, "given_names": "CLAIRE",
                             "birth_date": dt.date(1930 + i % 70, 1 + i % 12, 1 + i % 28), "sex": "F",
                             "birthplace": "87085", "birth_name_norm": name, "first_given_name_norm": "CLAIRE",
                             "duplicate_key": f"{name}|CLAIRE", "identity_status": "PROV"})
            if len(patients) == 10_000:
                conn.execute(insert(Patient), patients)
                patients = []
        if patients:
            conn.execute(insert(Patient), patients)
        patient_ids = [r[0] for r in conn.execute(text("SELECT id FROM patient"))]
    engine.dispose()

    # Requests, oldest first (the table's physical order follows time, as in production).
    weights = [1 / (k + 1) ** 0.5 for k in range(REQUESTERS)]
    who = rng.choices(range(REQUESTERS), weights=weights, k=requests)
    span = (now - start).total_seconds()
    moments = sorted(rng.random() ** 0.85 for _ in range(requests))  # activity grows over the years
    specialists = {line["id"]: [u["id"] for u in users if u["username"].startswith(f"specialiste-{i + 1:02d}-")]
                   for i, line in enumerate(lines)}
    names, shares, minutes_of = zip(*URGENCIES, strict=True)
    orientation_names, orientation_weights = zip(*ORIENTATIONS, strict=True)
    # The sealed columns hold envelopes (maillage.kit.sealed): each constant text sealed once, written as is.
    from maillage.kit.sealed import text_cipher
    from maillage.vault import keys  # noqa: F401 - installs the text cipher

    def sealed(column: str, value: str | None) -> str | None:
        return None if value is None else text_cipher().seal(f"teleexpertise_request.{column}", value)

    question, context = sealed("question", QUESTION), sealed("clinical_context", "")
    answer_text = sealed("answer", ANSWER)
    assert not any(c in str(question) + str(answer_text) for c in "\t\n\\")  # written as COPY text below
    reasons: dict[str, str | None] = {}
    buffer = io.StringIO()
    for n in range(requests):
        submitted = start + dt.timedelta(seconds=span * moments[n])
        line_index = rng.randrange(LINES)
        line_id = lines[line_index]["id"]
        requester, est = requesters[who[n]]
        k = rng.choices(range(3), weights=shares)[0]
        urgency, committed = names[k], minutes_of[k]
        due = submitted + dt.timedelta(minutes=committed)
        delay = dt.timedelta(minutes=committed * rng.lognormvariate(math.log(0.45), 0.7))
        answered_at = submitted + delay
        expert = rng.choice(specialists[line_id])
        age_days = (now - submitted).days
        forgotten = rng.random() < (0.12 if line_index == BACKLOG_LINE and age_days < 400 else 0.0003)
        status, assignee, claimed, closed, signed_by, signed, orientation, answer, reason = (
            "completed", None, None, None, None, None, None, None, None)
        if answered_at > now or forgotten:
            status = rng.choice(("published", "in_progress", "in_progress", "awaiting_information"))
            if status != "published":
                assignee, claimed = expert, submitted + delay / 3
        else:
            roll = rng.random()
            closed = answered_at
            if roll < 0.90:
                assignee, claimed, signed_by, signed = expert, submitted + delay / 3, expert, answered_at
                orientation = rng.choices(orientation_names, weights=orientation_weights)[0]
                answer = answer_text
            elif roll < 0.96:
                status, reason = "declined", "Hors du champ de la ligne : adresser aux urgences."
            else:
                status, reason = "cancelled", "Patient vu en consultation entre-temps."
        rank = {"very_urgent": 0, "urgent": 1, "routine": 2}[urgency] if closed is None else None
        updated = closed or claimed or submitted
        buffer.write("\t".join((
            str(uuid.uuid4()), str(patient_ids[rng.randrange(PATIENTS)]), str(line_id), str(requester), _v(est),
            _v(assignee), status, urgency, question, context, "[]", "f", str(committed), _ts(submitted), _ts(due),
            _ts(claimed), _ts(closed), _v(answer), _v(orientation), _v(signed_by), _ts(signed),
            _v(reason and reasons.setdefault(reason, sealed("closing_reason", reason))), "1",
            _ts(submitted), _ts(updated), _v(rank))) + "\n")
    columns = ("id, patient_id, line_id, requester_id, requester_establishment_id, assignee_id, status, urgency, "
               "question, clinical_context, provided, patient_inpatient, committed_minutes, submitted_at, due_at, "
               "claimed_at, closed_at, answer, orientation, signed_by, signed_at, closing_reason, version, "
               "created_at, updated_at, worklist_rank")
    with psycopg.connect(libpq_url(url)) as conn:
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'teleexpertise_request' "
                               "AND indexname <> 'pk_teleexpertise_request'").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        # The rows are consistent by construction: skip the per-row foreign-key triggers while loading.
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy(f"COPY teleexpertise_request ({columns}) FROM STDIN") as copy:
            data = buffer.getvalue().encode()
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset:offset + (1 << 20)])
        conn.execute("SET session_replication_role = origin")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute(f"COMMENT ON TABLE teleexpertise_request IS '{dataset_tag(requests)}'")
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def world_of(url: str) -> World:
    w = World()
    with psycopg.connect(libpq_url(url)) as conn:
        for line_id, title in conn.execute("SELECT id, title FROM specialty_line ORDER BY title"):
            w.lines.append(line_id)
            prefix = f"specialiste-{title[-2:]}-%"
            w.specialists[line_id] = [r[0] for r in conn.execute(
                "SELECT id FROM user_account WHERE username LIKE %s ORDER BY username", (prefix,))]
        row = conn.execute("SELECT id FROM user_account WHERE username = 'coordination-ght'").fetchone()
        w.coordinator = row[0] if row else None
        counts = conn.execute("SELECT requester_id, count(*) FROM teleexpertise_request GROUP BY requester_id "
                              "ORDER BY 2 DESC").fetchall()
        w.requesters = [r[0] for r in counts]
        w.busiest = counts[0][0]
        stats = conn.execute("SELECT count(*), count(*) FILTER (WHERE worklist_rank IS NOT NULL), "
                             "min(submitted_at), max(submitted_at) FROM teleexpertise_request").fetchone()
        backlog = conn.execute("SELECT count(*) FROM teleexpertise_request WHERE worklist_rank IS NOT NULL "
                               "AND line_id = %s", (w.lines[BACKLOG_LINE],)).fetchone()
    if stats and backlog:
        print(f"Données : {stats[0]:,} demandes du {stats[2]:%d/%m/%Y} au {stats[3]:%d/%m/%Y}, {stats[1]:,} ouvertes "
              f"(dont {backlog[0]:,} sur la ligne en retard), {len(w.lines)} lignes, {len(w.requesters):,} "
              f"requérants (le plus actif : {counts[0][1]:,} demandes)".replace(",", "\u202f"))
    return w


# --- Measurements -----------------------------------------------------------------------------------------------


def measure(url: str, w: World, runs: int) -> list[tuple[str, float, float, float]]:
    from fastapi.testclient import TestClient

    from maillage.app import create_app
    from maillage.auth import service as auth
    from maillage.config import Settings
    from maillage.kit.clock import now
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.models.auth import UserAccount
    from maillage.security.deps import SESSION_COOKIE
    from maillage.teleexpertise import repository as repo
    from maillage.teleexpertise import service

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    var_dir = Path(os.environ["MAILLAGE_VAR_DIR"])
    settings = Settings(environment="test", var_dir=var_dir, database_url=url, log_json=True, log_level="WARNING",
                        secret_key="b" * 40, rate_limit_enabled=False)
    app = create_app(settings, sessions)
    rng = random.Random(11)
    results = []

    def session_cookie(user_id: uuid.UUID) -> str:
        with sessions() as db:
            user = db.get(UserAccount, user_id)
            assert user is not None
            token, _ = auth.start_session(db, user, mfa_passed=True, address="127.0.0.1")
            db.commit()
            return token

    with TestClient(app, base_url="http://127.0.0.1") as client:
        line_specialists = [(line, session_cookie(w.specialists[line][0])) for line in w.lines]
        ordinary = line_specialists[:BACKLOG_LINE] + line_specialists[BACKLOG_LINE + 1:]

        def get(path: str, cookie: str) -> None:
            client.cookies.set(SESSION_COOKIE, cookie)
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path} : HTTP {response.status_code}")

        def worklist_page() -> None:
            line, cookie = rng.choice(ordinary)
            get(f"/teleexpertise/lignes/{line}", cookie)

        backlog_line, backlog_cookie = line_specialists[BACKLOG_LINE]
        results.append(timed("Page file d'une ligne (200 premières, urgence puis échéance)", worklist_page, runs))
        results.append(timed("Page file de la ligne en retard (~2 000 ouvertes)",
                             lambda: get(f"/teleexpertise/lignes/{backlog_line}", backlog_cookie), runs))
        # The worker's job (every 5 minutes) has computed the board snapshot: what a coordinator's page reads.
        with sessions() as db:
            service.refresh_board(db)
            db.commit()
        results.append(timed("Page coordination, coordinateur d'une ligne (90 j + ouvertes)",
                             lambda: get("/teleexpertise/coordination", rng.choice(line_specialists)[1]), runs))
        assert w.coordinator is not None
        ght = session_cookie(w.coordinator)
        results.append(timed("Page coordination, GHT (30 lignes, détail d'une ligne au hasard)",
                             lambda: get(f"/teleexpertise/coordination?ligne={rng.choice(w.lines)}", ght), runs))
        requester_cookies = [session_cookie(u) for u in rng.sample(w.requesters, 50)]
        results.append(timed("Page mes demandes (100 plus récentes), requérant au hasard",
                             lambda: get("/teleexpertise", rng.choice(requester_cookies)), runs))
        assert w.busiest is not None
        busiest = session_cookie(w.busiest)
        results.append(timed("Page mes demandes, requérant le plus actif",
                             lambda: get("/teleexpertise", busiest), runs))

    with sessions() as db:
        results.append(timed("Requête file d'une ligne (dépôt seul)",
                             lambda: repo.worklist(db, rng.choice(w.lines[1:]), limit=200, offset=0), runs))
        results.append(timed("Lecture de l'instantané, 30 lignes + détail d'une (dépôt seul)",
                             lambda: repo.board_snapshot(db, w.lines, service.BOARD_DAYS, [rng.choice(w.lines)]),
                             runs))
        results.append(timed("Calcul du tableau de bord d'une ligne (dépôt seul)", lambda: repo.board_figures(
            db, [rng.choice(w.lines)], now() - dt.timedelta(days=service.BOARD_DAYS), now(), service.WATCHED), runs))
        results.append(timed("Requête mes demandes (dépôt seul, le plus actif)",
                             lambda: repo.of_requester(db, w.busiest, limit=100, offset=0), runs))
        db.rollback()

    def refresh() -> None:
        with sessions() as db:
            service.refresh_board(db)
            db.commit()

    results.append(timed("Recalcul de l'instantané, 30 lignes (tâche du worker, toutes les 5 min)", refresh,
                         max(20, runs // 10)))
    engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="Banc d'essai de la téléexpertise (PostgreSQL).")
    parser.add_argument("--requests", type=int, default=int(os.environ.get("MAILLAGE_BENCH_REQUESTS", "1000000")),
                        help="nombre de demandes (1 000 000 par défaut, la taille de l'issue)")
    parser.add_argument("--runs", type=int, default=300, help="mesures par figure (300 par défaut)")
    parser.add_argument("--reuse", action="store_true",
                        help="garder la base si ce script l'a déjà remplie avec le même nombre de demandes")
    args = parser.parse_args()
    url = sqlalchemy_url(os.environ.get("MAILLAGE_BENCH_TELEEXPERTISE_URL", DEFAULT_URL))
    version = ensure_database(url, "MAILLAGE_BENCH_TELEEXPERTISE_URL")
    print(f"Machine : {cpu_model()}, {os.cpu_count()} cœur(s) ; Python {platform.python_version()} ; "
          f"PostgreSQL {version} ; charge moyenne au départ {loadavg()}")
    started = time.perf_counter()
    if args.reuse and already_filled(url, args.requests):
        print("Base déjà remplie : chargement sauté (--reuse)")
        upgrade(url)
    else:
        migrate(url)
        seed(url, args.requests, random.Random(5))
        print(f"Chargement : {time.perf_counter() - started:.0f} s (migrations, COPY, index, VACUUM ANALYZE) ; "
              f"charge moyenne {loadavg()}")
    w = world_of(url)
    results = measure(url, w, args.runs)
    print(f"{'mesure':<72} {'p50':>8} {'p95':>8} {'p99':>8}  (ms)")
    for label, p50, p95, p99 in results:
        print(f"{label:<72} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}")
    floors = [r for r in results[:4] if r[2] >= 100]
    print(f"Charge moyenne à la fin {loadavg()} ; durée totale {time.perf_counter() - started:.0f} s")
    if floors:
        print("Seuil p95 < 100 ms dépassé : " + ", ".join(r[0] for r in floors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
