"""Teleconsultation signalling: relay latency p50/p95/p99 and the rooms held, with many concurrent rooms of two peers,
against one and then two `maillage serve` processes on PostgreSQL.

Run: `.venv/bin/python benchmarks/teleconsultation_signalling.py`. It needs PostgreSQL:
`MAILLAGE_BENCH_DATABASE_URL` (default `postgresql://postgres@127.0.0.1:5432/teleconsultation_signalling_bench`;
the database is created afresh and dropped at the end). `MAILLAGE_BENCH_ROOMS` (default `100,250,500`): the numbers
of concurrent rooms tried, in order; `MAILLAGE_BENCH_MESSAGES` (default 20): messages each practitioner sends;
`MAILLAGE_BENCH_INTERVAL` (default 0.1): seconds between two messages of a room (a real room sends a few tens of
messages in its first seconds, then nearly nothing: 0.1 s for 20 messages is the start of a call, 1 s a steadier
rate).

Setup (not measured): the first serve process migrates the database; the script then writes, for each room, a
practitioner account with a live session and an appointment in consultation with its patient's link session (rows
written directly: the booking path is not what is measured). Measured: every room's practitioner and patient
connect their WebSockets (the practitioner to the first process; the patient to the first process, then to the
second), wait until they meet, then the practitioner sends `offer` messages (one every interval, rooms staggered) and
the patient receives them: the relay latency is receive time minus send time (one clock: both clients are in this
process). A room is held when both sockets stay open and every message arrives. The clients are plain WebSocket
clients (`websockets`) speaking the room's protocol; they run on the same machine as the servers and PostgreSQL.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _machine import cpu_model, loadavg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/teleconsultation_signalling_bench"
HOST = "127.0.0.1"
FLOOR_ROOMS = 500
FLOOR_P95_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def recreate_database(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def start_server(env: dict[str, str], migrate: bool) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    args = [sys.executable, "-m", "maillage.cli", "serve", "--host", HOST, "--port", str(port)]
    if not migrate:
        args.append("--no-migrate")
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("maillage serve stopped at start")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return url, process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("maillage serve did not answer /healthz")


def seed_rooms(count: int) -> list[tuple[uuid.UUID, str, str]]:
    """``count`` rooms in consultation: (appointment id, practitioner's session token, patient's link secret)."""
    from maillage.auth import service as auth
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.kit.tokens import hash_token, new_token
    from maillage.models.auth import UserAccount
    from maillage.models.directory import Establishment, SpecialtyLine
    from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationLink
    from maillage.patient import service as patients
    from maillage.patient.rules import InsOid, synthetic_identities
    from maillage.patient.schemas import PatientCreate

    engine = make_engine(os.environ["MAILLAGE_DATABASE_URL"])
    sessions = make_sessionmaker(engine)
    rooms = []
    with sessions() as db:
        tag = secrets.token_hex(3)
        requester = UserAccount(username=f"bench-gp-{tag}", display_name="Dr Banc", role="physician",
                                password_hash="!", status="active")
        db.add(requester)
        est = Establishment(kind="hospital", name="CH Banc")
        db.add(est)
        db.flush()
        line = SpecialtyLine(establishment_id=est.id, specialty_code="SM15", title="Dermatologie (banc)",
                             teleconsultation=True)
        db.add(line)
        db.flush()
        traits = synthetic_identities(f"bench-{tag}", 1, oid=InsOid.TEST)[0].traits
        view = patients.create_patient(db, auth.actor_for(db, requester), PatientCreate(
            birth_name=traits.birth_name, given_names=" ".join(traits.given_names), birth_date=traits.birth_date,
            sex=traits.sex.value, birthplace=traits.birthplace))
        start = dt.datetime.now(dt.UTC).replace(microsecond=0)
        for n in range(count):
            doctor = UserAccount(username=f"bench-{tag}-{n}", display_name=f"Dr Banc {n}", role="physician",
                                 password_hash="!", status="active")
            db.add(doctor)
            db.flush()
            appt = TeleconsultationAppointment(
                id=uuid.uuid4(), patient_id=view.patient.id, practitioner_id=doctor.id, line_id=line.id,
                requester_id=requester.id,
                starts_at=start, ends_at=start + dt.timedelta(hours=2), status="in_consultation", reason="",
                consent_at=start, arrived_at=start, admitted_at=start)
            db.add(appt)
            secret = new_token()
            db.add(TeleconsultationLink(appointment_id=appt.id, token_hash=hash_token(new_token()),
                                        session_hash=hash_token(secret), opened_at=start))
            token, _ = auth.start_session(db, doctor, mfa_passed=True, address="bench")
            rooms.append((appt.id, token, secret))
        db.commit()
    engine.dispose()
    return rooms


async def run_room(doctor_url: str, patient_url: str, room: tuple[uuid.UUID, str, str], messages: int,
                   delay: float, latencies: list[float], interval: float) -> bool:
    from websockets.asyncio.client import connect

    appointment, token, secret = room
    path = f"/teleconsultation/signal/{appointment}"

    def ws(url: str) -> str:
        return url.replace("http://", "ws://") + path

    async def until(socket_: Any, kind: str) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(socket_.recv(), 30))
            if message["type"] == kind:
                return dict(message)

    try:
        async with connect(ws(doctor_url), additional_headers={"Cookie": f"maillage_session={token}",
                                                                "Origin": doctor_url}, open_timeout=60) as doctor, \
                connect(ws(patient_url), additional_headers={"Cookie": f"maillage_tc={secret}",
                                                              "Origin": patient_url}, open_timeout=60) as patient:
            await until(doctor, "welcome")
            await until(patient, "welcome")
            await until(doctor, "peer-joined")
            await asyncio.sleep(delay)
            received = 0
            for n in range(messages):
                sent = time.perf_counter()
                await doctor.send(json.dumps({"type": "offer", "n": n, "sdp": f"v=0 {sent!r}"}))
                message = await until(patient, "offer")
                latencies.append((time.perf_counter() - float(message["sdp"].split()[1])) * 1000)
                received += 1
                await asyncio.sleep(interval)
            return received == messages
    except Exception:
        return False


async def scenario(doctor_url: str, patient_url: str, rooms: list[tuple[uuid.UUID, str, str]],
                   messages: int, interval: float) -> tuple[int, list[float], float]:
    latencies: list[float] = []
    started = time.perf_counter()
    held = await asyncio.gather(*(run_room(doctor_url, patient_url, room, messages,
                                           interval * (i % 100) / 100, latencies, interval)
                                  for i, room in enumerate(rooms)))
    return sum(held), latencies, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    url = os.environ.get("MAILLAGE_BENCH_DATABASE_URL", DEFAULT_URL)
    levels = [int(x) for x in os.environ.get("MAILLAGE_BENCH_ROOMS", "100,250,500").split(",")]
    messages = int(os.environ.get("MAILLAGE_BENCH_MESSAGES", "20"))
    interval = float(os.environ.get("MAILLAGE_BENCH_INTERVAL", "0.1"))
    recreate_database(url)
    var = Path(tempfile.mkdtemp(prefix="tc-bench-"))
    env = {**os.environ, "MAILLAGE_DATABASE_URL": url, "MAILLAGE_VAR_DIR": str(var),
           "MAILLAGE_ENVIRONMENT": "development", "MAILLAGE_RATE_LIMIT_ENABLED": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    os.environ.update({k: env[k] for k in ("MAILLAGE_DATABASE_URL", "MAILLAGE_VAR_DIR", "MAILLAGE_ENVIRONMENT")})
    processes: list[subprocess.Popen[bytes]] = []
    print(f"Machine : {cpu_model()}, {os.cpu_count()} cœurs, Python {platform.python_version()}, "
          f"charge {loadavg()}")
    print(f"{messages} messages par salle, un toutes les {interval * 1000:.0f} ms ; latence de relais en ms\n")
    print(f"{'salles':>7} {'processus':>10} {'tenues':>7} {'p50':>8} {'p95':>8} {'p99':>8} {'durée s':>8}")
    try:
        first, process = start_server(env, migrate=True)
        processes.append(process)
        second, process = start_server(env, migrate=False)
        processes.append(process)
        for count in levels:
            rooms = seed_rooms(count)
            for label, patient_url in (("1", first), ("2", second)):
                held, latencies, seconds = asyncio.run(scenario(first, patient_url, rooms, messages, interval))
                print(f"{count:>7} {label:>10} {held:>7} {percentile(latencies, .5):>8.1f} "
                      f"{percentile(latencies, .95):>8.1f} {percentile(latencies, .99):>8.1f} {seconds:>8.1f}",
                      flush=True)
                if held < count:
                    print(f"  rupture : {count - held} salles sur {count} non tenues", flush=True)
        print(f"\nPlancher visé : {FLOOR_ROOMS} salles simultanées, p95 sous {FLOOR_P95_MS:.0f} ms. "
              f"Charge en fin de mesure : {loadavg()}")
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_database(url)


if __name__ == "__main__":
    main()
