"""The FHIR door under load: a live ``maillage serve`` on PostgreSQL, concurrent clients with a bearer token.

Run: `.venv/bin/python benchmarks/fhir.py` (issue 21's size by default: 100,000 patients, 1,000,000 Observations,
16 clients; `--patients N --observations M` for fewer). The database is `MAILLAGE_BENCH_FHIR_URL` (default: the
local server, database `maillage_bench_fhir`, rebuilt by the migrations unless `--reuse`). Without a reachable
server the script says so and exits 2.

The data is generated in the database with INSERT ... SELECT over generate_series: patients with fictitious traits,
one physician holding a care relationship with every patient (the read path checks it), readings spread evenly over
the patients and over the last 90 days (weight, LOINC 29463-7). The server runs on its own port (8200 unless
`--port`), rate limit off. Kinds measured, each for `--seconds`, with `--clients` concurrent clients:
- ``read``: `GET /fhir/Patient/{id}` for random patients (access check, one audit entry, mapping);
- ``search``: `GET /fhir/Observation?patient=…&date=ge…&_count=50` (scoped by the care relationships, one audit
  entry listing the patient).
- ``transaction``: `POST /fhir` a transaction Bundle of `--bundle` (100) Observations from one scale assigned to
  one enrolled patient (the door takes transaction Bundles from devices, docs/fhir.md): parse, the ingestion's
  checks, all or nothing; every entry a new reading (unique identifier, its own instant).
- ``export`` (once, not under concurrent clients): `GET /fhir/Patient/$export?_type=Patient,Observation` by the
  physician's token, then `maillage worker --once` runs the job, then the status URL is polled until the manifest;
  prints the wall time from kick-off to manifest and the resources exported per second. The job keeps a type's
  file in memory: at the full size (1,000,000 Observations) that is some hundreds of MB.
Prints requests per second and p50 / p95 / p99 in milliseconds per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, loadavg

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = os.environ.get("MAILLAGE_BENCH_FHIR_URL", "postgresql://postgres@127.0.0.1:5432/maillage_bench_fhir")
HOST = "127.0.0.1"
SECRET = "benchmark-secret-key-for-the-fhir-door-0123456789"


def reachable(url: str) -> bool:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        admin.dispose()


def recreate(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def env_for(url: str, var_dir: Path) -> dict[str, str]:
    return {**os.environ, "MAILLAGE_DATABASE_URL": url, "MAILLAGE_VAR_DIR": str(var_dir),
            "MAILLAGE_ENVIRONMENT": "development", "MAILLAGE_RATE_LIMIT_ENABLED": "false",
            "MAILLAGE_SECRET_KEY": SECRET, "MAILLAGE_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


SETUP = """
import sys
from maillage.cli import upgrade_database
from maillage.config import get_settings
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.auth import service, tokens
upgrade_database()
engine = make_engine(get_settings().effective_database_url)
with make_sessionmaker(engine)() as db:
    user = service.create_user(db, username="bench-fhir", display_name="Banc FHIR", role="physician",
                               password="Correct-Horse-Battery-9")
    issued = tokens.create_personal_token(db, user, name="bench", scopes=["user/Patient.rs", "user/Observation.rs"])
    db.commit()
    print(user.id, issued.secret)
"""

FILL = """
INSERT INTO patient (id, birth_name, given_names, birth_date, sex, birthplace, birth_name_norm, first_given_name_norm,
                     duplicate_key, identity_status, identity_attributes, created_at, updated_at)
SELECT md5('p' || n)::uuid, 'PATIENT' || n, 'CAMILLE', DATE '1940-01-01' + (n % 20000), CASE WHEN n % 2 = 0 THEN 'F'
       ELSE 'M' END, '87085', 'PATIENT' || n, 'CAMILLE', 'bench-' || n, 'PROV', '[]', now(), now()
FROM generate_series(1, :patients) AS n;
INSERT INTO care_relationship (id, user_id, patient_id, kind, starts_at, created_at)
SELECT md5('r' || n)::uuid, :user_id, md5('p' || n)::uuid, 'attending', now() - interval '1 day', now()
FROM generate_series(1, :patients) AS n;
INSERT INTO monitoring_reading (device_id, external_id, enrolment_id, patient_id, measure, value, unit,
                                original_value, original_unit, taken_at, local_day, received_at, status)
SELECT md5('d' || (n % :patients))::uuid, 'x' || n, md5('e' || (n % :patients))::uuid,
       md5('p' || (n % :patients + 1))::uuid, 'weight', 60 + (n % 40), 'kg', 60 + (n % 40), 'kg',
       now() - (n % 129600) * interval '1 minute', (now() - (n % 129600) * interval '1 minute')::date,
       now() - (n % 129600) * interval '1 minute', 'monitored'
FROM generate_series(1, :observations) AS n;
"""


DEVICE_SETUP = """
import datetime as dt, uuid
from maillage.auth import service as auth
from maillage.config import get_settings
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.auth import UserAccount
from maillage.monitoring import service as monitoring
from maillage.monitoring.schemas import EnrolmentCreate
from sqlalchemy import select
engine = make_engine(get_settings().effective_database_url)
with make_sessionmaker(engine)() as db:
    admin = auth.create_user(db, username="bench-admin", display_name="Admin banc", role="administrator",
                             password="Correct-Horse-Battery-9")
    physician = db.scalars(select(UserAccount).where(UserAccount.username == "bench-fhir")).one()
    a, p = auth.actor_for(db, admin), auth.actor_for(db, physician)
    team = monitoring.create_team(db, a, establishment_id=uuid.uuid4(), name="Banc FHIR")
    monitoring.add_member(db, a, team.id, physician.id, "physician")
    device = monitoring.register_device(db, p, team_id=team.id, identifier="SCALE-BENCH", label="Balance banc")
    monitoring.enrol(db, p, EnrolmentCreate(
        patient_id=uuid.UUID(PATIENT), team_id=team.id, programme="heart_failure",
        prescribed_on=dt.date.today() - dt.timedelta(days=1), duration_months=6, consent=True,
        devices=["SCALE-BENCH"], references={"dry_weight": 80.0}))
    db.commit()
    print(device.secret)
"""


def device_secret(url: str, var_dir: Path) -> str:
    """A scale assigned to the first benchmark patient, enrolled in heart failure; its credential."""
    engine = create_engine(url)
    with engine.connect() as conn:
        patient = str(conn.execute(text("SELECT md5('p1')::uuid")).scalar())
    engine.dispose()
    out = subprocess.run([sys.executable, "-c", f"PATIENT = {patient!r}\n" + DEVICE_SETUP],
                         env=env_for(url, var_dir), cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


def transaction(size: int, counter: list[int]) -> dict[str, object]:
    """A transaction Bundle of ``size`` new weight readings (identifiers and instants never repeat)."""
    entries = []
    for _ in range(size):
        counter[0] += 1
        n = counter[0]
        # within the last half second: after the scale's assignment began (the ingestion refuses a reading before)
        taken = dt.datetime.now(dt.UTC) - dt.timedelta(microseconds=n % 500_000)
        entries.append({"resource": {
            "resourceType": "Observation", "status": "final",
            "identifier": [{"system": "urn:bench:scale", "value": f"r{n}-{uuid.uuid4().hex[:8]}"}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "effectiveDateTime": taken.isoformat(),
            "valueQuantity": {"value": 79.0 + (n % 20) / 10, "unit": "kg", "system": "http://unitsofmeasure.org",
                              "code": "kg"}}, "request": {"method": "POST", "url": "Observation"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def time_export(base: str, token: str, url: str, var_dir: Path) -> tuple[float, int]:
    """Kick-off, the worker once, poll: seconds from kick-off to manifest, and the resources exported."""
    headers = {"authorization": f"Bearer {token}", "prefer": "respond-async"}
    began = time.perf_counter()
    kick = httpx.get(f"{base}/fhir/Patient/$export?_type=Patient,Observation", headers=headers, timeout=60)
    kick.raise_for_status()
    status_url = kick.headers["content-location"]
    subprocess.run([sys.executable, "-m", "maillage.cli", "worker", "--once"], env=env_for(url, var_dir), cwd=ROOT,
                   capture_output=True, check=True)
    while True:
        status = httpx.get(status_url, headers=headers, timeout=60)
        if status.status_code == 200:
            break
        if status.status_code != 202:
            raise RuntimeError(f"export : {status.status_code} {status.text[:300]}")
        time.sleep(0.5)
    return time.perf_counter() - began, sum(o["count"] for o in status.json()["output"])


def fill(url: str, var_dir: Path, patients: int, observations: int) -> str:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", SETUP], env=env_for(url, var_dir), cwd=ROOT, capture_output=True,
                         text=True, check=True)
    user_id, token = out.stdout.split()[-2:]
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in FILL.split(";"):
            if statement.strip():
                conn.execute(text(statement), {"patients": patients, "observations": observations,
                                               "user_id": user_id})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    print(f"Données chargées en {time.perf_counter() - started:.0f} s : {patients:_} patients, "
          f"{observations:_} observations")
    return token


def start(url: str, var_dir: Path, port: int) -> subprocess.Popen[bytes]:
    log = (var_dir / "serve.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "maillage.cli", "serve", "--host", HOST, "--port", str(port)],
                               env=env_for(url, var_dir), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((var_dir / "serve.log").read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"http://{HOST}:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("maillage serve n'a pas répondu sur /readyz en 300 s")


def patient_ids(url: str, count: int) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = [str(r[0]) for r in conn.execute(text("SELECT id FROM patient ORDER BY random() LIMIT :n"),
                                               {"n": count})]
    engine.dispose()
    return ids


async def run_kind(base: str, token: str, kind: str, ids: list[str], clients: int, seconds: float,
                   device: str = "", bundle: int = 100) -> tuple[int, int, list[float]]:
    rng = random.Random(21)
    latencies: list[float] = []
    errors = 0
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))
    headers = {"authorization": f"Bearer {token}", "accept": "application/fhir+json"}
    stop = time.monotonic() + seconds
    counter = [int(time.time() * 1000) % 10**9]

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.monotonic() < stop:
            pid = rng.choice(ids)
            began = time.perf_counter()
            if kind == "transaction":
                body = transaction(bundle, counter)
                began = time.perf_counter()
                posted = session.post(f"{base}/fhir", json=body, headers={
                    "authorization": f"Bearer {device}", "content-type": "application/fhir+json"})
                async with posted as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append((time.perf_counter() - began) * 1000)
                continue
            url = (f"{base}/fhir/Patient/{pid}" if kind == "read"
                   else f"{base}/fhir/Observation?patient={pid}&date=ge{since}&_count=50")
            async with session.get(url, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - began) * 1000)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return len(latencies), errors, latencies


def percentile(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--kinds", default="read,search,transaction,export")
    parser.add_argument("--bundle", type=int, default=100, help="Observations par Bundle transaction")
    parser.add_argument("--keep", action="store_true", help="garder la base après la mesure")
    args = parser.parse_args()
    if not reachable(args.url):
        print("PostgreSQL injoignable : ce banc d'essai mesure le serveur sur PostgreSQL.")
        return 2
    recreate(args.url)
    with tempfile.TemporaryDirectory(prefix="bench-fhir-") as tmp:
        var_dir = Path(tmp)
        token = fill(args.url, var_dir, args.patients, args.observations)
        device = device_secret(args.url, var_dir) if "transaction" in args.kinds else ""
        server = start(args.url, var_dir, args.port)
        try:
            ids = patient_ids(args.url, 5000)
            base = f"http://{HOST}:{args.port}"
            print(f"Machine : {cpu_model()}, {os.cpu_count()} cœurs, charge {loadavg()} ; Python "
                  f"{platform.python_version()} ; {args.clients} clients, {args.seconds:g} s par mesure")
            print(f"{'mesure':<58} {'req/s':>8} {'p50':>7} {'p95':>7} {'p99':>7}  (ms) erreurs")
            for kind in args.kinds.split(","):
                if kind == "export":
                    took, exported = time_export(base, token, args.url, var_dir)
                    print(f"{'Patient/$export (Patient, Observation), du lancement au manifeste':<58} "
                          f"{took:>8.1f} s, {exported:_} ressources, {exported / took:.0f} ressources/s")
                    continue
                asyncio.run(run_kind(base, token, kind, ids, args.clients, min(3.0, args.seconds), device,
                                     args.bundle))  # warm-up
                count, errors, latencies = asyncio.run(run_kind(base, token, kind, ids, args.clients, args.seconds,
                                                                device, args.bundle))
                label = {"read": "GET /fhir/Patient/{id}",
                         "search": "GET /fhir/Observation?patient=…&date=ge…&_count=50",
                         "transaction": f"POST /fhir transaction de {args.bundle} Observation"}[kind]
                print(f"{label:<58} {count / args.seconds:>8.1f} {percentile(latencies, 50):>7.1f} "
                      f"{percentile(latencies, 95):>7.1f} {percentile(latencies, 99):>7.1f}  {errors}")
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
    if not args.keep:
        name = make_url(args.url).database
        admin = create_engine(make_url(args.url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
