"""Secure messaging at a territory's size: the thread list with unread counts, and the opening of a thread.

Run: `.venv/bin/python benchmarks/messaging.py` (what `make bench` runs). PostgreSQL is required: the database is
`MAILLAGE_BENCH_MESSAGING_URL` (default: the local server, database `maillage_bench_messaging`, created if missing,
its schema rebuilt by the migrations). Without a reachable server the script says so and exits 2.

The data (issue 20's size by default: 1,000,000 threads, 10 messages each, 50,000 professionals; `--threads N` for
fewer, the professionals then N / 20): 100 specialty lines of 5 professionals each; a thread is between two people
(80 %) or from a person to a line's team mailbox (20 %), and 30 % of threads are about a patient (100,000 patients,
scaled likewise), whose participants then hold a care relationship with that patient; each person has read each
thread up to a random point (about a third of threads have unread messages). Generated in the database with
INSERT ... SELECT over generate_series (ids are md5 of the row number, so the same size gives the same data), then
the secondary indexes rebuilt and VACUUM ANALYZE. Bodies and subjects are real vault envelopes, sealed once with
the benchmark's own key and shared by every row (the associated data is the column, not the row), so opening a
thread decrypts as it does in production. `--reuse` keeps a database this script already filled with the same size.

Measured with the application in process (FastAPI TestClient, a signed-in session: session lookup, authorization,
audit entries and commit, queries, decryption, JSON or template), p50 / p95 / p99 in milliseconds:
- `GET /api/messaging/threads` (the 50 most recent threads with their unread counts), for professionals drawn at
  random and for a member of a line's team mailbox (about 2,000 team threads at full size);
- `GET /messagerie`, the inbox page (the same list, the patient picker, the search form);
- `GET /api/messaging/threads/{id}`, opening a thread (participants, 10 messages, receipts, read mark moved);
and through the repository alone, the thread list's SQL. The floor the issue sets: p95 under 50 ms. The machine is
shared: figures under load are upper bounds of what an idle machine would show.
"""

from __future__ import annotations

import argparse
import hashlib
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
VAR_DIR = Path(tempfile.gettempdir()) / "maillage-bench-messaging"
os.environ.setdefault("MAILLAGE_VAR_DIR", str(VAR_DIR))  # the vault's keys: kept across --reuse runs
os.environ.setdefault("MAILLAGE_PASSWORD_HASH_PROFILE", "cheapest")

import psycopg  # noqa: E402
from _machine import cpu_model, loadavg  # noqa: E402
from _postgres import ensure_database, libpq_url, sqlalchemy_url  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

# This folder holds a benchmark named fhir.py, which would hide the fhir.resources package the application imports.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/maillage_bench_messaging"
LINES = 100
LINE_MEMBERS = 5
MESSAGES_PER_THREAD = 10
TAG = "maillage-bench-messaging"


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


def dataset_tag(threads: int) -> str:
    return f"{TAG}:{threads}:v1"


def already_filled(url: str, threads: int) -> bool:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT obj_description('public.message_thread'::regclass, 'pg_class') "
                           "WHERE to_regclass('public.message_thread') IS NOT NULL").fetchone()
    return bool(row and row[0] == dataset_tag(threads))


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


def md5_uuid(key: str) -> str:
    """The id PostgreSQL's ``md5(key)::uuid`` gives."""
    return str(uuid.UUID(hex=hashlib.md5(key.encode()).hexdigest()))


def _copy_rows(conn: psycopg.Connection, table: str, template_id: str, count: int, overrides: dict[str, str]) -> None:
    """Insert ``count`` rows into ``table``, each a copy of the template row but for the ``overrides`` (SQL
    expressions of ``i``, the row number)."""
    cols = [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        (table,)).fetchall()]
    exprs = [overrides.get(c, f"t.{c}") for c in cols]
    conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} "
                 f"FROM {table} t, generate_series(1, {count}) i WHERE t.id = %s", (template_id,))


def _templates(url: str) -> None:
    """The first patient, written through the model (its defaults), copied by ``_copy_rows``."""
    import datetime as dt

    from sqlalchemy.orm import Session

    from maillage.models.patient import Patient

    engine = create_engine(url)
    with Session(engine) as db:
        db.add(Patient(id=uuid.UUID(md5_uuid("pa0")), birth_name="BANC", given_names="CAMILLE",
                       birth_date=dt.date(1950, 1, 1), sex="F", birthplace="87085", birth_name_norm="BANC",
                       first_given_name_norm="CAMILLE", duplicate_key="bench-0"))
        db.commit()
    engine.dispose()


def seed(url: str, threads: int) -> None:
    """Fill the database with ``threads`` threads (and the rest in proportion), all in SQL."""
    from maillage.kit.sealed import text_cipher
    from maillage.vault import keys  # noqa: F401 - installs the text cipher

    people = max(1_000, threads // 20)
    patients = max(2_000, threads // 10)
    subject = text_cipher().seal("message_thread.subject", "Avis sur un patient commun")
    body = text_cipher().seal("message.body", "Bonjour, pouvez-vous me rappeler au sujet de ce patient ? Merci.")
    assert "'" not in subject + body  # envelopes are written as SQL literals below
    started = time.perf_counter()
    _templates(url)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        user = "md5('u' || {x})::uuid"
        conn.execute("INSERT INTO user_account (id, username, display_name, role, status, password_hash, "
                     "password_changed_at, must_change_password, failed_logins, lockouts, second_factor_failures, "
                     "created_at) VALUES (md5('u0')::uuid, 'bench-0', 'Dr Banc 0', 'physician', 'active', 'x', "
                     "now(), false, 0, 0, 0, now())")
        _copy_rows(conn, "user_account", md5_uuid("u0"), people - 1,
                   {"id": user.format(x="i"), "username": "'bench-' || i", "display_name": "'Dr Banc ' || i",
                    "person_id": "md5('p' || i)::uuid"})
        conn.execute("UPDATE user_account SET person_id = md5('p0')::uuid WHERE username = 'bench-0'")
        conn.execute("INSERT INTO professional (id, rpps, national_id, last_name, profession_code, "
                     "identifier_warnings, search_text, source, active, created_at, updated_at) SELECT "
                     "md5('p' || i)::uuid, '9' || lpad(i::text, 10, '0'), '89' || lpad(i::text, 10, '0'), "
                     "'Banc ' || i, '10', '[]', '', 'manual', true, now(), now() "
                     f"FROM generate_series(0, {LINES * LINE_MEMBERS - 1}) i")
        conn.execute("INSERT INTO establishment (id, kind, name, public, search_text, source, active, created_at, "
                     "updated_at) VALUES (md5('e')::uuid, 'hospital', 'CH du banc', true, '', 'manual', true, now(), "
                     "now())")
        conn.execute("INSERT INTO specialty_line (id, establishment_id, specialty_code, title, summary, teleexpertise, "
                     "teleconsultation, accepts_city, accepts_ehpad, accepts_usmp, accepts_ght_hospitals, "
                     "requirements, min_photos, opening_hours, how_to_request, search_text, active, published, "
                     "created_at, updated_at) SELECT md5('l' || i)::uuid, md5('e')::uuid, 'SM15', 'Ligne ' || i, '', "
                     "true, false, true, true, true, true, '[]', 0, '', '', '', true, true, now(), now() "
                     f"FROM generate_series(0, {LINES - 1}) i")
        conn.execute("INSERT INTO specialty_line_member (id, line_id, professional_id, role) SELECT "
                     f"md5('lm' || i)::uuid, md5('l' || (i / {LINE_MEMBERS}))::uuid, md5('p' || i)::uuid, "
                     f"'answering' FROM generate_series(0, {LINES * LINE_MEMBERS - 1}) i")
        _copy_rows(conn, "patient", md5_uuid("pa0"), patients - 1,
                   {"id": "md5('pa' || i)::uuid", "duplicate_key": "'bench-' || i"})
        # Thread t: its author a(t), its other person b(t) or line l(t) (one in five), its patient (three in ten).
        a = f"(((t::bigint * 7919) % {people}))"
        b = f"(((t::bigint * 104729 + 1) % {people}))"
        team = "(t % 5 = 0)"
        conn.execute(
            "INSERT INTO message_thread (id, kind, subject, subject_terms, patient_id, created_by, created_at, "
            "last_message_at, last_seq) SELECT md5('t' || t)::uuid, CASE WHEN " + team + " THEN 'team' ELSE 'direct' "
            f"END, '{subject}', '', CASE WHEN t % 10 < 3 THEN md5('pa' || (t % {patients}))::uuid END, "
            f"md5('u' || {a})::uuid, now() - (t % 730) * interval '1 day', now() - (t % 730) * interval '1 day' + "
            f"interval '9 hours', {MESSAGES_PER_THREAD} FROM generate_series(1, {threads}) t")
        conn.execute(
            "INSERT INTO message_participant (id, thread_id, user_id, team_kind, team_id, added_by, added_at, "
            "last_message_at) SELECT md5('pa-a' || t)::uuid, md5('t' || t)::uuid, md5('u' || " + a + ")::uuid, "
            f"NULL, NULL, md5('u' || {a})::uuid, now(), now() - (t % 730) * interval '1 day' + interval '9 hours' "
            f"FROM generate_series(1, {threads}) t")
        conn.execute(
            "INSERT INTO message_participant (id, thread_id, user_id, team_kind, team_id, added_by, added_at, "
            "last_message_at) SELECT md5('pa-b' || t)::uuid, md5('t' || t)::uuid, CASE WHEN " + team + " THEN NULL "
            f"ELSE md5('u' || CASE WHEN {b} = {a} THEN ({b} + 1) % {people} ELSE {b} END)::uuid END, "
            "CASE WHEN " + team + " THEN 'line' END, CASE WHEN " + team + f" THEN md5('l' || (t % {LINES}))::uuid "
            f"END, md5('u' || {a})::uuid, now(), now() - (t % 730) * interval '1 day' + interval '9 hours' "
            f"FROM generate_series(1, {threads}) t")
        conn.execute(
            f"INSERT INTO message (id, thread_id, seq, author_id, body, created_at) SELECT md5('m' || t || '-' || k)"
            f"::uuid, md5('t' || t)::uuid, k, md5('u' || {a})::uuid, '{body}', now() - (t % 730) * interval '1 day' + "
            f"k * interval '50 minutes' FROM generate_series(1, {threads}) t, "
            f"generate_series(1, {MESSAGES_PER_THREAD}) k")
        conn.execute(
            "INSERT INTO message_read (thread_id, user_id, last_read_seq, read_at) SELECT thread_id, user_id, "
            f"CASE WHEN abs(hashtext(id::text)) % 3 = 0 THEN abs(hashtext(id::text)) % {MESSAGES_PER_THREAD} "
            f"ELSE {MESSAGES_PER_THREAD} END, now() FROM message_participant WHERE user_id IS NOT NULL")
        conn.execute(
            "INSERT INTO care_relationship (id, user_id, patient_id, kind, source_type, source_id, starts_at, "
            "created_at) SELECT md5('cr' || p.id)::uuid, p.user_id, th.patient_id, 'participant', 'message_thread', "
            "th.id::text, now() - interval '800 days', now() FROM message_participant p JOIN message_thread th ON "
            "th.id = p.thread_id WHERE th.patient_id IS NOT NULL AND p.user_id IS NOT NULL")
        conn.execute("INSERT INTO care_relationship (id, user_id, patient_id, kind, source_type, source_id, starts_at, "
                     "created_at) SELECT md5('crl' || p.id || u.id)::uuid, u.id, th.patient_id, 'participant', "
                     "'message_thread', th.id::text, now() - interval '800 days', now() FROM message_participant p "
                     "JOIN message_thread th ON th.id = p.thread_id JOIN specialty_line_member m ON m.line_id = "
                     "p.team_id JOIN user_account u ON u.person_id = m.professional_id WHERE th.patient_id IS NOT NULL")
        conn.execute(f"COMMENT ON TABLE message_thread IS '{dataset_tag(threads)}'")
        for table in ("user_account", "patient", "message_thread", "message_participant", "message", "message_read",
                      "care_relationship"):
            conn.execute(f"VACUUM ANALYZE {table}")
    print(f"Données chargées en {time.perf_counter() - started:.0f} s : {threads:_} conversations, "
          f"{threads * MESSAGES_PER_THREAD:_} messages, {people:_} professionnels, {patients:_} patients."
          .replace("_", " "))


def measure(url: str, threads: int, runs: int) -> list[tuple[str, float, float, float]]:
    from fastapi.testclient import TestClient

    from maillage.app import create_app
    from maillage.auth import service as auth
    from maillage.config import Settings
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.messaging import repository as repo
    from maillage.models.auth import UserAccount
    from maillage.security.deps import SESSION_COOKIE

    people = max(1_000, threads // 20)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    settings = Settings(environment="test", var_dir=VAR_DIR, database_url=url, log_json=True, log_level="WARNING",
                        secret_key="b" * 40, rate_limit_enabled=False)
    app = create_app(settings, sessions)
    rng = random.Random(20)
    results = []

    def login(username: str) -> tuple[uuid.UUID, str]:
        with sessions() as db:
            user = db.scalars(select(UserAccount).where(UserAccount.username == username)).one()
            token, _ = auth.start_session(db, user, mfa_passed=True, address="127.0.0.1")
            db.commit()
            return user.id, token

    ordinary = [login(f"bench-{i}") for i in rng.sample(range(LINES * LINE_MEMBERS, people), 40)]
    member = login("bench-3")  # answers line 0: its team mailbox's threads and their own
    with sessions() as db:
        thread_of = {uid: [r.thread.id for r in repo.thread_rows(db, uid, [], limit=50)] for uid, _ in ordinary}
        db.rollback()

    with TestClient(app, base_url="http://127.0.0.1") as client:
        def get(path: str, cookie: str) -> None:
            client.cookies.set(SESSION_COOKIE, cookie)
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path} : HTTP {response.status_code} {response.text[:200]}")

        results.append(timed("API liste des conversations (50, non lus), professionnel au hasard",
                             lambda: get("/api/messaging/threads", rng.choice(ordinary)[1]), runs))
        results.append(timed("API liste des conversations, membre d'une boîte d'équipe",
                             lambda: get("/api/messaging/threads", member[1]), runs))
        results.append(timed("Page messagerie (liste, sélecteur de patients)",
                             lambda: get("/messagerie", rng.choice(ordinary)[1]), runs))

        def open_one() -> None:
            uid, cookie = rng.choice(ordinary)
            get(f"/api/messaging/threads/{rng.choice(thread_of[uid])}", cookie)

        results.append(timed("API ouverture d'une conversation (10 messages, accusés de lecture)", open_one, runs))

    with sessions() as db:
        results.append(timed("Requête liste des conversations (dépôt seul)",
                             lambda: repo.thread_rows(db, rng.choice(ordinary)[0], [], limit=50), runs))
        db.rollback()
    engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="Banc d'essai de la messagerie (PostgreSQL).")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("MAILLAGE_BENCH_THREADS", "1000000")))
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--reuse", action="store_true", help="garder une base déjà remplie à cette taille")
    args = parser.parse_args()
    url = sqlalchemy_url(os.environ.get("MAILLAGE_BENCH_MESSAGING_URL", DEFAULT_URL))
    version = ensure_database(url, "MAILLAGE_BENCH_MESSAGING_URL")
    if not (args.reuse and already_filled(url, args.threads)):
        migrate(url)
        seed(url, args.threads)
    results = measure(url, args.threads, args.runs)
    people = max(1_000, args.threads // 20)
    print(f"Machine : {cpu_model()}, {os.cpu_count()} cœurs, charge {loadavg()} ; Python {platform.python_version()}, "
          f"PostgreSQL {version}")
    print(f"Taille : {args.threads:_} conversations, {args.threads * MESSAGES_PER_THREAD:_} messages, "
          f"{people:_} professionnels ; {args.runs} mesures par ligne".replace("_", " "))
    print(f"{'mesure':<70} {'p50':>8} {'p95':>8} {'p99':>8}  (ms)")
    for label, p50, p95, p99 in results:
        print(f"{label:<70} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}")
    with create_engine(url).connect() as conn:
        size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    print(f"Taille de la base : {size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
