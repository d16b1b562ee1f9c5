"""Telesurveillance ingestion on PostgreSQL, rules on, 100,000 enrolled patients.

Run: `.venv/bin/python benchmarks/monitoring_ingest.py`. The database is `MAILLAGE_BENCH_MONITORING_URL`
(default postgresql://postgres@127.0.0.1:5432/monitoring_bench; created if missing, its schema rebuilt by the
migrations). The server is `uvicorn --factory maillage.app:create_app --workers 2` on loopback, with the rate
limiter off (it would throttle a load generator on one address) and info logs off.

Prints, measured in the same run:
- sustained readings per second through the compact batch API: batches of 1,000 readings of 1,000 different
  patients (the worst case for the rule engine: one state update per reading), first alone (the issue's floor, with
  the CPU each reading costs the serve processes, their batch children and PostgreSQL), then again with other
  readings while the latency prober below runs (its single readings, its reads every 2 ms and the nurse's stream
  take their share of the two cores); then batches of 1,000 readings of 50 patients (20 each, as a hub with
  continuous sensors sends);
- the same through FHIR Bundles (batch Bundles of 500 Observations, each validated with fhir.resources);
- the single-reading request rate (one reading per request, 16 concurrent clients);
- p50 and p99 of the time from request to alert visible, measured alone (after a warm-up of both server
  processes), then while the batch stream runs, two ways: (a) the red SpO2 alert read back by another database
  connection (every 2 ms: a latency is measured at most 2 ms late); (b) the nurse's worklist stream (server-sent
  events, ``/telesurveillance/flux``, opened by a signed-in nurse on whichever server process the kernel picks:
  another process's commit reaches it through PostgreSQL's LISTEN/NOTIFY), timed as the first ``worklist`` event
  after the request: the probe's own, as almost nothing else changes alerts then (most of the second stream's patients
  have their green alert open since the first stream); events outside the probes' windows are counted and, if any,
  printed with the figure (which may then be underestimated);
- the same latencies while the scattered batches are offered at half the rate just sustained (three paced
  clients): the load of a territory's gateways below the server's capacity, where a latency means something (at
  saturation, a closed loop of senders as fast as the server answers, it measures the queue it builds);
- PostgreSQL's own COPY rate for the same rows into a copy of the reading table (the ceiling);
- for each floor of the issue (10,000 readings/s through the batch API, 1,000 patients per batch; p99 request →
  alert visible under 200 ms, alone, at half load and at saturation), whether this run met it, with the load
  average at start and end (the machine may be shared: figures under load are lower bounds).

Every reading goes through the whole pipeline: device resolution, conversion and plausibility, idempotent
insert, rule engine with per-patient state locked and saved, alerts (green "received" alerts are opened or
repeated for every patient), one audit entry per batch, commit before the reply.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _machine import cpu_model, loadavg
from _postgres import ensure_database as create_database
from _postgres import libpq_url

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/monitoring_bench"
PATIENTS = int(os.environ.get("MAILLAGE_BENCH_PATIENTS", "100000"))
SECONDS = float(os.environ.get("MAILLAGE_BENCH_SECONDS", "20"))
SERVER_WORKERS = int(os.environ.get("MAILLAGE_BENCH_SERVER_WORKERS", "2"))  # serve processes (one per core)
BATCH = 1000
BUNDLE = 500
PROBES = 50
GATEWAY = "BENCH-GATEWAY"
FLOOR_RATE = 10_000  # readings/s through the compact batch API, 1,000 patients per batch
FLOOR_P99_MS = 200.0  # request → alert visible
# The prober reads the alert back every 2 ms until it is there: a measured latency is at most 2 ms above the true
# one. Read back without a pause, the prober's own round trips took a sizeable share of the two cores from the
# server it measures (a query every 0.1 ms for the 20-40 ms of each probe).
POLL_SECONDS = 0.002


def fr(value: float) -> str:
    """12 345 (thousands separated by a narrow no-break space, as French prints numbers)."""
    return f"{value:,.0f}".replace(",", "\u202f")


def db_url() -> str:
    return os.environ.get("MAILLAGE_BENCH_MONITORING_URL", DEFAULT_URL)


def ensure_database(url: str) -> None:
    """The benchmark's database, created if missing, its schema emptied and migrated to head."""
    create_database(url, "MAILLAGE_BENCH_MONITORING_URL")
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    env = {**os.environ, "MAILLAGE_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "maillage.cli", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)


def seed(url: str) -> tuple[str, list[str], list[str], str]:
    """A team, one gateway with its credential, PATIENTS heart-failure patients each with a scale behind the
    gateway, PROBES oxygen patients with an oximeter (for the alert-latency probe), and a nurse's signed-in
    session (for the worklist stream). Bulk-loaded with COPY."""
    os.environ["MAILLAGE_DATABASE_URL"] = url
    from maillage.auth import service as auth
    from maillage.auth import tokens
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.models.monitoring import MonitoringDevice, MonitoringTeam
    from maillage.security.roles import Role

    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        team = MonitoringTeam(establishment_id=uuid.uuid4(), name="Banc d'essai")
        db.add(team)
        db.flush()
        issued = tokens.create_device_credential(db, device_identifier=GATEWAY, label="Passerelle de test")
        gateway = MonitoringDevice(identifier=GATEWAY, kind="gateway", label="Passerelle", team_id=team.id,
                                   credential_id=issued.id)
        db.add(gateway)
        nurse = auth.create_user(db, username="infirmiere.banc", display_name="Infirmière Banc", role=Role.NURSE,
                                 password=uuid.uuid4().hex + "Aa1!")
        cookie, _ = auth.start_session(db, nurse, mfa_passed=True, address="127.0.0.1")
        db.commit()
        secret, team_id, gateway_id = issued.secret, team.id, gateway.id
    engine.dispose()
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=30)
    patients, devices, enrolments = io.StringIO(), io.StringIO(), io.StringIO()
    states, assignments = io.StringIO(), io.StringIO()
    scales: list[str] = []
    oximeters: list[str] = []
    for i in range(PATIENTS + PROBES):
        probe = i >= PATIENTS
        ident = f"OXI-{i}" if probe else f"SCALE-{i}"
        (oximeters if probe else scales).append(ident)
        did, eid, pid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        patients.write(f"{pid}\tBANC{i:06d}\tCLAIRE\t1950-01-01\tF\t87085\tBANC{i:06d}\tCLAIRE\t"
                       f"BANC{i:06d}|CLAIRE\tPROV\t[]\t{start.isoformat()}\t{start.isoformat()}\n")
        programme = "respiratory_oxygen" if probe else "heart_failure"
        refs = "{}" if probe else '{"dry_weight": 80.0}'
        devices.write(f"{did}\t{ident}\tdevice\tAppareil\t{team_id}\t{gateway_id}\t\\N\tt\t{now.isoformat()}\n")
        enrolments.write(
            f"{eid}\t{pid}\t{team_id}\t{programme}\tactive\t{start.date()}\t\\N\t12\t{start.date()}\t"
            f"{(start + dt.timedelta(days=360)).date()}\t{start.isoformat()}\t{refs}\t{{}}\t[]\t{start.isoformat()}\t"
            f"\\N\t\\N\t\\N\t{start.isoformat()}\t{start.isoformat()}\n")
        states.write(f"{eid}\t{{}}\t{(now + dt.timedelta(days=2)).isoformat()}\t{start.isoformat()}\n")
        assignments.write(f"{uuid.uuid4()}\t{eid}\t{did}\t{did}\t{start.isoformat()}\t\\N\n")
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table, cols, buf in (
            ("patient", "id, birth_name, given_names, birth_date, sex, birthplace, birth_name_norm, "
             "first_given_name_norm, duplicate_key, identity_status, identity_attributes, created_at, updated_at",
             patients),
            ("monitoring_device", "id, identifier, kind, label, team_id, gateway_id, credential_id, active, created_at",
             devices),
            ("monitoring_enrolment", "id, patient_id, team_id, programme, status, prescribed_on, prescriber_id, "
             "duration_months, starts_on, ends_on, consent_at, reference_values, overrides, enhanced_periods, "
             "watch_from, ended_at, end_reason, created_by, created_at, updated_at", enrolments),
            ("monitoring_rule_state", "enrolment_id, state, silence_due_at, updated_at", states),
            ("monitoring_device_assignment", "id, enrolment_id, device_id, active_device_id, starts_at, ends_at",
             assignments),
        ):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
        conn.commit()
        conn.execute("ANALYZE")
    return secret, scales, oximeters, cookie


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MAILLAGE_DATABASE_URL": url, "MAILLAGE_RATE_LIMIT_ENABLED": "false",
           "MAILLAGE_LOG_LEVEL": "WARNING", "MAILLAGE_VAR_DIR": str(ROOT / "var" / "bench-monitoring"),
           "MAILLAGE_MAX_BODY_BYTES": str(4 * 1_048_576)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "maillage.app:create_app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(SERVER_WORKERS), "--no-access-log", "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        raise RuntimeError("server did not start")
    return process


def warm_up(port: int, secret: str, oximeters: list[str]) -> None:
    """A few readings on new connections, so that both server processes have served requests (imports, caches,
    database pool) before anything is timed; normal values, on the probe patients."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    for n in range(24):
        body = json.dumps({"readings": [{"id": f"warm{n}", "device": oximeters[n % len(oximeters)],
                                         "code": "59408-5", "value": 97, "unit": "%", "at": _stamp(1_400_000 + n)}]})
        httpx.post(f"http://127.0.0.1:{port}/api/monitoring/readings", content=body, headers=headers, timeout=30)


def _stamp(seconds: int) -> str:
    """A time in the past 25 days (offsets stay under 2 million seconds), after the enrolments began."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=25) + dt.timedelta(seconds=seconds)).isoformat()


def batch_bodies(worker: int, scales: list[str], count: int, per_patient: int = 1, tag: str = "w",
                 first_patient: int = 0) -> list[bytes]:
    """Batches of BATCH readings: ``per_patient`` readings for each of BATCH / per_patient patients, from
    ``first_patient`` on (a phase that must meet patients no earlier phase has touched starts further)."""
    out = []
    patients = BATCH // per_patient
    shift = 300_000 if tag != "w" else 0
    for b in range(count):
        offset = (first_patient + worker * 7919 + b * patients) % len(scales)
        readings = [{"id": f"{tag}{worker}-b{b}-{k}", "device": scales[(offset + k // per_patient) % len(scales)],
                     "code": "29463-7", "value": 79.5 + (k % 10) / 10, "unit": "kg",
                     "at": _stamp(shift + worker * 100_000 + b * per_patient + k % per_patient)}
                    for k in range(BATCH)]
        out.append(json.dumps({"readings": readings}).encode())
    return out


def bundle_bodies(worker: int, scales: list[str], count: int) -> list[bytes]:
    out = []
    for b in range(count):
        offset = (worker * 104729 + b * BUNDLE) % len(scales)
        entries = [{"resource": {
            "resourceType": "Observation", "status": "final", "identifier": [{"value": f"f{worker}-b{b}-{k}"}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "device": {"identifier": {"value": scales[(offset + k) % len(scales)]}},
            "effectiveDateTime": _stamp(500_000 + worker * 100_000 + b * 10 + k % 10),
            "valueQuantity": {"value": 79.5 + (k % 10) / 10, "unit": "kg", "system": "http://unitsofmeasure.org",
                              "code": "kg"}}, "request": {"method": "POST", "url": "Observation"}}
            for k in range(BUNDLE)]
        out.append(json.dumps({"resourceType": "Bundle", "type": "batch", "entry": entries}).encode())
    return out


def sender(port: int, secret: str, path: str, bodies: list[bytes], per_body: int, seconds: float,
           content_type: str, out: Any) -> None:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": content_type}
    sent = 0
    errors = 0
    start = time.monotonic()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        deadline = start + seconds
        for body in bodies:
            if time.monotonic() >= deadline:
                break
            reply = http.post(path, content=body, headers=headers)
            if reply.status_code == 200:
                sent += per_body
            else:
                errors += 1
    out.put((sent, errors, time.monotonic() - start))


def paced_sender(port: int, secret: str, bodies: list[bytes], per_body: int, seconds: float, rate: float,
                 out: Any) -> None:
    """Batches sent at a fixed offered rate (readings per second), whatever the replies' pace: the load a
    territory's gateways put on the server, below its capacity, rather than as fast as it answers."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    sent = errors = 0
    interval = per_body / rate
    start = time.monotonic()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        for n, body in enumerate(bodies):
            due = start + n * interval
            if due - start >= seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            reply = http.post("/api/monitoring/readings", content=body, headers=headers)
            sent += per_body if reply.status_code == 200 else 0
            errors += reply.status_code != 200
    out.put((sent, errors, time.monotonic() - start))


def single_sender(port: int, secret: str, worker: int, scales: list[str], seconds: float, out: Any) -> None:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    done = errors = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            device = scales[(worker * 6151 + n * 16) % len(scales)]
            body = json.dumps({"readings": [{"id": f"s{worker}-{n}", "device": device, "code": "weight",
                                             "value": 80.1, "unit": "kg", "at": _stamp(900_000 + n)}]})
            reply = http.post("/api/monitoring/readings", content=body, headers=headers)
            done += reply.status_code == 200
            errors += reply.status_code != 200
            n += 1
    out.put((done, errors))


class WorklistStream:
    """The nurse's worklist stream, read in a thread: the arrival time of each ``worklist`` event."""

    def __init__(self, port: int, cookie: str) -> None:
        self.events: list[float] = []
        self.ready = threading.Event()
        self.cond = threading.Condition()
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies={"maillage_session": cookie},
                                   timeout=httpx.Timeout(30, read=None))
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(15):
            raise RuntimeError("worklist stream did not open")

    def _read(self) -> None:
        with self.client.stream("GET", "/telesurveillance/flux", headers={"accept": "text/event-stream"}) as reply:
            if reply.status_code != 200:
                raise RuntimeError(f"worklist stream refused: {reply.status_code}")
            for line in reply.iter_lines():
                if line.startswith("retry:"):
                    self.ready.set()
                elif line == "event: worklist":
                    with self.cond:
                        self.events.append(time.perf_counter())
                        self.cond.notify_all()

    def first_after(self, since: float, timeout: float) -> float | None:
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                found = next((t for t in reversed(self.events) if t >= since), None)
                if found is not None:
                    return min(t for t in self.events if t >= since)
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.cond.wait(left)


def prober(port: int, secret: str, url: str, oximeters: list[str], seconds: float, tag: str, base: int,
           cookie: str, out: Any) -> None:
    """Red SpO2 alert: from the request to the alert being visible (a) to another database connection, (b) on
    the nurse's worklist stream, timed as the first ``worklist`` event after the request. That event is the probe's
    own only while nothing else changes alerts: alone, and during the benchmark's second stream, most of whose patients'
    green alerts are open since the first (their readings change no alert). Each probe's clearing reading is
    followed by its own event before the next probe starts; events outside the probes' windows are counted
    (``stray``): when there are any, (b) may have timed another change's event."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    latencies: list[float] = []
    pushed: list[float] = []
    windows: list[tuple[float, float]] = []
    # At half load the stream's events are not timed: the paced batches meet patients no earlier phase touched and
    # open their green alerts, so events for other patients flow all the time.
    stream = WorklistStream(port, cookie) if tag != "paced" else None
    keys = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for ident in oximeters:
            row = conn.execute(
                "SELECT a.enrolment_id FROM monitoring_device_assignment a JOIN monitoring_device d "
                "ON d.id = a.device_id WHERE d.identifier = %s", (ident,)).fetchone()
            assert row is not None
            keys[ident] = (row[0], f"{row[0]}:spo2_low")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            first = time.perf_counter()
            deadline = time.monotonic() + seconds
            n = 0
            while time.monotonic() < deadline:
                ident = oximeters[n % len(oximeters)]
                low = json.dumps({"readings": [{"id": f"{tag}{n}-low", "device": ident, "code": "59408-5",
                                                "value": 85, "unit": "%", "at": _stamp(base + 2 * n)}]})
                start = time.perf_counter()
                http.post("/api/monitoring/readings", content=low, headers=headers)
                while conn.execute("SELECT 1 FROM monitoring_alert WHERE enrolment_id = %s AND open_key = %s",
                                   keys[ident]).fetchone() is None:
                    if time.perf_counter() - start > 10:
                        break
                    time.sleep(POLL_SECONDS)
                latencies.append((time.perf_counter() - start) * 1000)
                high = json.dumps({"readings": [{"id": f"{tag}{n}-ok", "device": ident, "code": "59408-5",
                                                 "value": 96, "unit": "%", "at": _stamp(base + 2 * n + 1)}]})
                if stream is not None:
                    event = stream.first_after(start, 10)
                    if event is not None:
                        pushed.append((event - start) * 1000)
                        windows.append((start, event))
                    cleared = time.perf_counter()
                    http.post("/api/monitoring/readings", content=high, headers=headers)  # clears the alert
                    event = stream.first_after(cleared, 10)  # its own event, before the next probe starts
                    windows.append((cleared, event if event is not None else time.perf_counter()))
                else:
                    http.post("/api/monitoring/readings", content=high, headers=headers)
                n += 1
                # Past the stream's gap after an event (``pages.MIN_GAP``, 0.1 s: at most ten events a second, the
                # browser coalesces): a probe sent inside it would time the gap, not the path.
                time.sleep(0.15)
            stray = 0
            if stream is not None:
                with stream.cond:
                    seen = [t for t in stream.events if first <= t <= time.perf_counter()]
                stray = sum(1 for t in seen if not any(a <= t <= b for a, b in windows))
    out.put({"db": latencies, "sse": pushed, "stray": [stray]})


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def cpu_by_group(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far (user + system) by the serve processes, their batch children and PostgreSQL's
    processes, read from ``/proc`` (Linux): a serve process is a child of the uvicorn supervisor, a batch child a
    child of a serve process (with one serve process, uvicorn serves in the supervisor itself: its children are the
    batch children)."""
    out = {"serve": 0.0, "batch": 0.0, "postgresql": 0.0}
    if not os.path.isdir("/proc"):
        return out
    tick = os.sysconf("SC_CLK_TCK")
    stats = {int(d): st for d in os.listdir("/proc") if d.isdigit() and (st := _stat(int(d))) is not None}
    workers = {pid for pid, st in stats.items() if int(st[1]) == server_pid} if SERVER_WORKERS > 1 else set()
    serving = workers or {server_pid}
    for pid, st in stats.items():
        seconds = (int(st[11]) + int(st[12])) / tick
        if pid == server_pid or pid in workers:
            out["serve"] += seconds
        elif int(st[1]) in serving:
            out["batch"] += seconds
        elif _command(pid) == "postgres":
            out["postgresql"] += seconds
    return out


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def run_parallel(targets: list[tuple[Any, tuple[Any, ...]]]) -> list[Any]:
    queue: Any = mp.Queue()
    procs = [mp.Process(target=t, args=(*a, queue)) for t, a in targets]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return results


def copy_ceiling(url: str, rows: int, scales: list[str]) -> float:
    """PostgreSQL's COPY of the same rows into a copy of the reading table (indexes and unique key included)."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE reading_copy (LIKE monitoring_reading INCLUDING DEFAULTS INCLUDING INDEXES "
                    "INCLUDING CONSTRAINTS)")
        ids = cur.execute("SELECT d.id, a.enrolment_id FROM monitoring_device d JOIN monitoring_device_assignment a "
                          "ON a.device_id = d.id LIMIT %s", (len(scales),)).fetchall()
        buf = io.StringIO()
        now = dt.datetime.now(dt.UTC)
        for n in range(rows):
            device, enrolment = ids[n % len(ids)]
            at = now - dt.timedelta(seconds=n)
            buf.write(f"{n + 1}\t{device}\tc-{n}\t{enrolment}\t{uuid.uuid4()}\tweight\t80.1\tkg\t80.1\tkg\t"
                      f"{at.isoformat()}\t{at.date()}\t{now.isoformat()}\tmonitored\n")
        data = buf.getvalue()
        start = time.perf_counter()
        with cur.copy("COPY reading_copy (id, device_id, external_id, enrolment_id, patient_id, measure, value, "
                      "unit, original_value, original_unit, taken_at, local_day, received_at, status) "
                      "FROM STDIN") as copy:
            copy.write(data)
        conn.commit()
        return rows / (time.perf_counter() - start)


def main() -> int:
    url = db_url()
    try:
        ensure_database(url)
    except (psycopg.OperationalError, subprocess.CalledProcessError) as exc:
        print(f"PostgreSQL indisponible ({type(exc).__name__}) : mesure non faite.")
        return 0
    t0 = time.perf_counter()
    secret, scales, oximeters, cookie = seed(url)
    load_start = os.getloadavg()
    print(f"machine : {cpu_model()}, {os.cpu_count()} cœurs, charge moyenne {loadavg(load_start)} ; "
          f"PostgreSQL {url.rsplit('/', 1)[-1]} ; {SERVER_WORKERS} processus serveur")
    loaded = time.perf_counter() - t0
    print(f"{fr(PATIENTS)} patients inclus (+{PROBES} sondes SpO2) chargés en {loaded:.1f} s")
    port = 18000 + os.getpid() % 1000
    server = start_server(url, port)
    p99s: dict[str, float] = {}
    try:
        warm_up(port, secret, oximeters)
        idle = run_parallel([(prober, (port, secret, url, oximeters, min(SECONDS, 10.0), "idle", 1_500_000,
                                       cookie))])[0]
        p99s.update(report_latency("sans autre charge", idle))
        workers = 3
        per_worker = int(25_000 * SECONDS / workers / BATCH) + 5  # enough for 25,000 readings/s
        # (1) The scattered stream alone: the throughput floor, and the CPU each reading costs.
        bodies = [batch_bodies(w, scales, per_worker) for w in range(workers)]
        cpu_before = cpu_by_group(server.pid)
        results = run_parallel([(sender, (port, secret, "/api/monitoring/readings", bodies[w], BATCH, SECONDS,
                                          "application/json")) for w in range(workers)])
        cpu_used = {k: v - cpu_before[k] for k, v in cpu_by_group(server.pid).items()}
        sent = sum(r[0] for r in results)
        elapsed = max(r[2] for r in results)
        batch_rate = sent / elapsed
        print(f"API lot compact, 1 000 patients différents par lot, flux seul : {fr(batch_rate)} mesures/s soutenues "
              f"({fr(sent)} mesures en {elapsed:.1f} s ; {workers} clients ; {sum(r[1] for r in results)} erreur(s))")
        if sent and any(cpu_used.values()):
            per = {k: v / sent * 1e6 for k, v in cpu_used.items()}
            print(f"CPU par mesure pendant ce flux : processus de service {per['serve']:.0f} µs, processus de lots "
                  f"{per['batch']:.0f} µs, PostgreSQL {per['postgresql']:.0f} µs (total {sum(per.values()):.0f} µs ; "
                  f"deux cœurs : {2e6 / sum(per.values()):,.0f} mesures/s au mieux)".replace(",", "\u202f"))

        # (2) The same stream (other readings) with the latency prober at once: its single readings, its reads of
        # the alert every 2 ms and the nurse's stream take their share of the two cores.
        bodies = [batch_bodies(w, scales, per_worker, tag="l", first_patient=PATIENTS // 4) for w in range(workers)]
        targets: list[tuple[Any, tuple[Any, ...]]] = [
            (sender, (port, secret, "/api/monitoring/readings", bodies[w], BATCH, SECONDS, "application/json"))
            for w in range(workers)]
        targets.append((prober, (port, secret, url, oximeters, SECONDS, "load", 1_600_000, cookie)))
        results = run_parallel(targets)
        latencies = next(r for r in results if isinstance(r, dict))
        senders = [r for r in results if isinstance(r, tuple)]
        probed_rate = sum(r[0] for r in senders) / max(r[2] for r in senders)
        print(f"Le même flux pendant les sondes de délai : {fr(probed_rate)} mesures/s "
              f"({sum(r[1] for r in senders)} erreur(s))")
        p99s.update(report_latency("pendant le flux", latencies))

        # The same scattered batches offered at half the rate just sustained (paced, three clients): the latency a
        # nurse sees while the territory's gateways load the server without saturating it.
        offered = batch_rate / 2
        paced = [batch_bodies(w, scales, max(1, round(offered * SECONDS / workers / BATCH)), tag="p",
                              first_patient=PATIENTS // 2) for w in range(workers)]
        targets = [(paced_sender, (port, secret, paced[w], BATCH, SECONDS, offered / workers)) for w in range(workers)]
        targets.append((prober, (port, secret, url, oximeters, SECONDS, "paced", 1_700_000, cookie)))
        results = run_parallel(targets)
        latencies = next(r for r in results if isinstance(r, dict))
        paced_sent = sum(r[0] for r in results if isinstance(r, tuple))
        paced_elapsed = max(r[2] for r in results if isinstance(r, tuple))
        print(f"Flux cadencé à 50 % du débit soutenu : {fr(offered)} mesures/s offertes, "
              f"{fr(paced_sent / paced_elapsed)} reçues "
              f"({sum(r[1] for r in results if isinstance(r, tuple))} erreur(s))")
        p99s.update(report_latency("pendant un flux à 50 % du débit", latencies))

        bodies = [batch_bodies(w, scales, per_worker, per_patient=20, tag="c") for w in range(workers)]
        results = run_parallel([(sender, (port, secret, "/api/monitoring/readings", bodies[w], BATCH, SECONDS,
                                          "application/json")) for w in range(workers)])
        dense_rate = sum(r[0] for r in results) / max(r[2] for r in results)
        print(f"API lot compact, 20 mesures par patient et par lot (50 patients par lot) : {fr(dense_rate)} mesures/s "
              f"({sum(r[1] for r in results)} erreur(s))")

        fhir_bodies = [bundle_bodies(w, scales, int(8000 * SECONDS / workers / BUNDLE) + 5) for w in range(workers)]
        results = run_parallel([(sender, (port, secret, "/api/monitoring/fhir", fhir_bodies[w], BUNDLE, SECONDS,
                                          "application/fhir+json")) for w in range(workers)])
        fhir_rate = sum(r[0] for r in results) / max(r[2] for r in results)
        print(f"Bundles FHIR : {fr(fhir_rate)} mesures/s soutenues (Bundles batch de {BUNDLE} ; "
              f"{sum(r[1] for r in results)} erreur(s))")

        t = time.perf_counter()
        results = run_parallel([(single_sender, (port, secret, w, scales, SECONDS)) for w in range(16)])
        elapsed = time.perf_counter() - t
        singles = sum(r[0] for r in results) / elapsed
        print(f"Une mesure par requête : {fr(singles)} requêtes/s (16 clients ; "
              f"{sum(r[1] for r in results)} erreur(s))")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
    ceiling = copy_ceiling(url, 200_000, scales)
    print(f"Plafond COPY PostgreSQL (mêmes lignes, table de lectures avec ses index) : {fr(ceiling)} lignes/s")
    print(f"Part du plafond COPY : lot compact {batch_rate / ceiling:.0%} (1 000 patients par lot), "
          f"{dense_rate / ceiling:.0%} (50 patients par lot) ; Bundles FHIR {fhir_rate / ceiling:.0%}")
    load_end = os.getloadavg()
    print(f"Charge moyenne : début {loadavg(load_start)}, fin {loadavg(load_end)} (2 cœurs : au-delà de 2, la "
          f"machine est partagée et les chiffres sont des minorants)")
    verdict = "ATTEINT" if batch_rate >= FLOOR_RATE else "NON ATTEINT"
    print(f"Plancher {fr(FLOOR_RATE)} mesures/s (API lot compact, 1 000 patients par lot, flux seul) : {verdict} "
          f"({fr(batch_rate)} mesures/s ; pendant les sondes : {fr(probed_rate)} ; 50 patients par lot : "
          f"{fr(dense_rate)} mesures/s)")
    for label, value in p99s.items():
        verdict = "ATTEINT" if value < FLOOR_P99_MS else "NON ATTEINT"
        print(f"Plancher p99 requête → alerte visible < {FLOOR_P99_MS:.0f} ms, {label} : {verdict} ({value:.0f} ms)")
    return 0


def report_latency(when: str, measured: dict[str, list[float]]) -> dict[str, float]:
    """Print p50 / p99 of both measures; return the p99s by label."""
    out = {}
    for key, what in (("db", "lue en base"), ("sse", "poussée sur la liste de travail (SSE)")):
        values = measured.get(key) or []
        if key == "sse" and "50 %" in when:
            continue  # not timed at half load (see ``prober``)

        if len(values) < 2:
            print(f"Délai requête → alerte {what} ({when}) : pas assez de sondes ({len(values)})")
            continue
        q = statistics.quantiles(values, n=100, method="inclusive")  # within the sample: p99 ≤ max
        p99 = q[98]
        stray = measured.get("stray", [0])[0] if key == "sse" else 0
        caveat = f" ; {stray} événement(s) d'autres changements : peut-être sous-estimé" if stray else ""
        print(f"Délai requête → alerte {what} ({when}) : p50 {statistics.median(values):.1f} ms, p90 {q[89]:.1f} ms, "
              f"p99 {p99:.1f} ms, max {max(values):.1f} ms ({len(values)} sondes{caveat})")
        out[f"{what}, {when}"] = p99
    return out


if __name__ == "__main__":
    sys.exit(main())
