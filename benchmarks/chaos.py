"""Crashes under load (issue #26): every write the client saw acknowledged survives, exactly once.

The run creates a PostgreSQL cluster of its own (initdb in a scratch folder, on ``--port``; never a shared server),
migrates it, loads the demo, and starts ``maillage serve`` and ``maillage worker`` on it. Client threads send a mixed
load through the API: device batches and single readings (the device's reading ids make them safe to resend),
document uploads (with an ``Idempotency-Key``), tele-expertise requests taken from draft to signed opinion (the
request carries a unique marker; a create without an answer is not resent). Meanwhile, ``--cycles`` times, at a random
moment, the serve process (SIGKILL), the worker (SIGKILL) or PostgreSQL itself (``pg_ctl stop -m immediate``) is
killed, then restarted. At the end: every acknowledged write is present exactly once, the due jobs are done, and
``maillage audit verify`` passes.

Run: `.venv/bin/python benchmarks/chaos.py` (100 cycles) or `--cycles 10`. Exits 1 on a lost or duplicated write,
jobs left, or a broken audit chain. Prints the machine, cycles, acknowledged writes, lost, duplicates and the recovery
time per kind of kill. On a shared machine the times are lower bounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from _chaos_platform import Postgres, Process, wait_ready  # noqa: E402
from _machine import cpu_model, loadavg  # noqa: E402
from PIL import Image  # noqa: E402

KINDS = ("serve", "worker", "postgres")
RETRY_SECONDS = 300.0  # how long an idempotent write is resent before the run gives up on it


def png(rng: random.Random) -> bytes:
    """A small photograph-like PNG, unique (its pixels are random)."""
    image = Image.frombytes("RGB", (24, 24), bytes(rng.getrandbits(8) for _ in range(24 * 24 * 3)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class Client(threading.Thread):
    """One user of the platform: a scale, the GP and the dermatologist, writing until told to stop."""

    def __init__(self, index: int, url: str, world: Any, ledger: Any, stopping: threading.Event, seed: int):
        super().__init__(daemon=True, name=f"client-{index}")
        self.url, self.world, self.ledger, self.stopping = url, world, ledger, stopping
        self.rng = random.Random(seed)
        self.http = httpx.Client(base_url=url, timeout=30)
        self.device = {"Authorization": f"Bearer {world.device_secret}"}
        self.gp = {"Authorization": f"Bearer {world.requester_token}"}
        self.expert = {"Authorization": f"Bearer {world.expert_token}"}
        self.line_id: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                operation = self.rng.choices([self.batch, self.single, self.document, self.teleexpertise],
                                             weights=[3, 3, 2, 1])[0]
                operation()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.http.close()

    # -- transport -----------------------------------------------------------------------------------------------
    def _once(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            reply = self.http.request(method, path, **kwargs)
        except httpx.TransportError:
            return None
        return None if reply.status_code >= 500 or reply.status_code == 429 else reply

    def _until_answered(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + RETRY_SECONDS
        while time.monotonic() < deadline:
            reply = self._once(method, path, **kwargs)
            if reply is not None:
                return reply
            time.sleep(0.3)
        raise RuntimeError(f"{method} {path} : pas de réponse en {RETRY_SECONDS:.0f} s")

    def _ok(self, reply: httpx.Response) -> httpx.Response:
        if not 200 <= reply.status_code < 300:
            raise RuntimeError(f"{reply.request.method} {reply.request.url.path} : {reply.status_code} {reply.text}")
        return reply

    # -- monitoring ----------------------------------------------------------------------------------------------
    def _reading(self) -> tuple[str, float, str]:
        at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=self.rng.randint(1, 600))
        return f"chaos-{uuid.uuid4().hex}", round(self.rng.uniform(78.0, 80.0), 1), at.isoformat()

    def batch(self) -> None:
        readings = [self._reading() for _ in range(self.rng.randint(2, 6))]
        body = {"readings": [{"id": rid, "code": "29463-7", "value": value, "unit": "kg", "at": at}
                             for rid, value, at in readings]}
        reply = self._ok(self._until_answered("POST", "/api/monitoring/readings", json=body, headers=self.device))
        outcomes = {r["id"]: r["outcome"] for r in reply.json()["results"]}
        assert all(o in ("stored", "duplicate") for o in outcomes.values()), reply.text
        with self.ledger.lock:
            self.ledger.readings.update(outcomes)

    def single(self) -> None:
        rid, value, at = self._reading()
        observation = {
            "resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:chaos", "value": rid}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, "effectiveDateTime": at,
            "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
        self._ok(self._until_answered("POST", "/api/monitoring/fhir/Observation", json=observation,
                                      headers={**self.device, "Content-Type": "application/fhir+json"}))
        with self.ledger.lock:
            self.ledger.readings.add(rid)

    # -- documents -----------------------------------------------------------------------------------------------
    def document(self) -> None:
        from _chaos_world import sha1

        data = png(self.rng)
        key = str(uuid.uuid4())
        reply = self._ok(self._until_answered(
            "POST", f"/api/patients/{self.world.patient_id}/documents",
            files={"file": ("photo.png", data, "image/png")}, headers={**self.gp, "Idempotency-Key": key}))
        with self.ledger.lock:
            self.ledger.documents[reply.json()["id"]] = sha1(data)

    # -- tele-expertise ------------------------------------------------------------------------------------------
    def teleexpertise(self) -> None:
        if self.line_id is None:
            lines = self._ok(self._until_answered("GET", "/api/teleexpertise/lines", headers=self.expert)).json()
            self.line_id = next(line["id"] for line in lines)
        marker = f"[chaos-{uuid.uuid4().hex}"
        created = self._once("POST", "/api/teleexpertise/requests", headers=self.gp, json={
            "patient_id": self.world.patient_id, "line_id": self.line_id,
            "question": f"{marker}] Lésion cutanée qui change d'aspect : votre avis ?"})
        if created is None:  # no answer: it may or may not exist; a create without Idempotency-Key is not resent
            with self.ledger.lock:
                self.ledger.unacknowledged["demandes"] += 1
            return
        rid = self._ok(created).json()["id"]
        with self.ledger.lock:
            self.ledger.requests[rid] = marker
        self._advance(rid)

    def _advance(self, rid: str) -> None:
        """Draft to signed opinion, each step resent after a lost answer once the request's state is read again."""
        base = f"/api/teleexpertise/requests/{rid}"
        deadline = time.monotonic() + RETRY_SECONDS
        while time.monotonic() < deadline:
            state = self._ok(self._until_answered("GET", base, headers=self.gp)).json()
            status = state["status"]
            if status == "completed":
                return
            if status == "draft" and not state["attachments"]:
                self._once("POST", f"{base}/attachments", headers=self.gp,
                           files={"file": ("lesion.png", png(self.rng), "image/png")})
            elif status == "draft":
                self._once("POST", f"{base}/submit", headers=self.gp, json={"consent_recorded_now": True})
            elif status == "published":
                self._once("POST", f"{base}/claim", headers=self.expert)
            elif status == "in_progress":
                signed = self._once("POST", f"{base}/opinion", headers=self.expert, json={
                    "answer": "Lésion bénigne : surveillance simple.", "orientation": "advice_only"})
                if signed is not None and signed.status_code == 200:
                    with self.ledger.lock:
                        self.ledger.opinions.add(rid)
                    return
            else:
                raise RuntimeError(f"demande {rid} : état inattendu {status}")
        raise RuntimeError(f"demande {rid} : pas d'avis en {RETRY_SECONDS:.0f} s")


class Chaos:
    """The platform's three processes, killed and restarted one at a time."""

    def __init__(self, pg: Postgres, serve: Process, worker: Process, url: str, database: str):
        self.pg, self.serve, self.worker, self.url, self.database = pg, serve, worker, url, database
        self.recovery: dict[str, list[float]] = defaultdict(list)

    def cycle(self, kind: str) -> None:
        from _chaos_world import due_jobs

        from maillage.kit.clock import now

        killed_at, started = now(), time.monotonic()
        if kind == "serve":
            self.serve.kill()
            self.serve.start()
            wait_ready(self.url, self.serve)
        elif kind == "worker":
            self.worker.kill()
            self.worker.start()
            # Recovered once every job that was due when it died has been run by the new one.
            deadline = time.monotonic() + RETRY_SECONDS
            while due_jobs(self.database, killed_at)[0] > 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("le nouvel exécuteur ne reprend pas les tâches dues")
                self.worker.restart_if_exited()
                time.sleep(0.2)
        else:
            self.pg.crash()
            self.pg.start()
            wait_ready(self.url, self.serve)
        self.recovery[kind].append(time.monotonic() - started)
        self.serve.restart_if_exited()
        self.worker.restart_if_exited()


def environment(database: str, var: Path) -> dict[str, str]:
    return {**os.environ, "MAILLAGE_DATABASE_URL": database, "MAILLAGE_VAR_DIR": str(var),
            "MAILLAGE_ENVIRONMENT": "development", "MAILLAGE_RATE_LIMIT_ENABLED": "false",
            "MAILLAGE_PASSWORD_HASH_PROFILE": "cheapest", "MAILLAGE_LOG_JSON": "true",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maillage.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=900, check=False)


def run(args: argparse.Namespace, scratch: Path) -> int:
    setup_started = time.monotonic()
    pg = Postgres(scratch / "postgres", args.port)
    pg.create()
    var = scratch / "var"
    env = environment(pg.url, var)
    os.environ.update({k: env[k] for k in ("MAILLAGE_DATABASE_URL", "MAILLAGE_VAR_DIR", "MAILLAGE_ENVIRONMENT")})
    done = cli(env, "db", "upgrade")
    if done.returncode != 0:
        raise RuntimeError(f"maillage db upgrade : {done.stdout[-2000:]}{done.stderr[-2000:]}")
    from _chaos_world import Ledger, check, due_jobs, load_demo, prepare

    load_demo(pg.url)
    world = prepare(pg.url)
    url = f"http://127.0.0.1:{args.port + 1}"
    serve = Process(["serve", "--port", str(args.port + 1), "--no-migrate"], env, scratch / "serve.log")
    worker = Process(["worker"], env, scratch / "worker.log")
    serve.start()
    worker.start()
    try:
        wait_ready(url, serve)
        print(f"Mise en place (initdb, migrations, démo, démarrage) : {time.monotonic() - setup_started:.0f} s")
        ledger, stopping = Ledger(), threading.Event()
        rng = random.Random(args.seed)
        clients = [Client(i, url, world, ledger, stopping, args.seed + i) for i in range(args.clients)]
        for client in clients:
            client.start()
        chaos = Chaos(pg, serve, worker, url, pg.url)
        kinds: list[str] = []
        started = time.monotonic()
        for number in range(args.cycles):
            if not kinds:
                kinds = rng.sample(KINDS, len(KINDS))  # every kind as often as the others
            time.sleep(rng.uniform(0.3, args.max_pause))
            if any(c.error for c in clients):
                break
            chaos.cycle(kinds.pop())
            print(f"\rcycle {number + 1}/{args.cycles}, écritures acquittées : {ledger.total()}", end="", flush=True)
        print()
        stopping.set()
        for client in clients:
            client.join(RETRY_SECONDS * 2)
        elapsed = time.monotonic() - started
        errors = [c.error for c in clients if c.error]
        deadline = time.monotonic() + RETRY_SECONDS
        while (jobs := due_jobs(pg.url))[0] > 0 and time.monotonic() < deadline:
            worker.restart_if_exited()
            time.sleep(0.5)
        verdict = check(pg.url, ledger, world.device)
        audit = cli(env, "audit", "verify")
    finally:
        serve.stop()
        worker.stop()
    report(args, pg, chaos, ledger, verdict, jobs, audit, elapsed, serve.exits + worker.exits)
    for error in errors:
        print(f"Erreur du client : {error!r}", file=sys.stderr)
    failed = (sum(verdict.lost.values()) or sum(verdict.duplicates.values()) or jobs[0] or audit.returncode
              or errors or sum(len(v) for v in chaos.recovery.values()) < args.cycles)
    return 1 if failed else 0


def report(args: argparse.Namespace, pg: Postgres, chaos: Chaos, ledger: Any, verdict: Any,
           jobs: tuple[int, int], audit: subprocess.CompletedProcess[str], elapsed: float, exits: int) -> None:
    version = subprocess.run([str(pg.bindir / "postgres"), "--version"], capture_output=True, text=True).stdout
    print(f"Machine : {platform.node()} — {cpu_model()}, {os.cpu_count()} cœurs, charge {loadavg()} ; "
          f"Python {platform.python_version()} ; {version.strip()} (instance du banc, port {pg.port})")
    print(f"Cycles : {sum(len(v) for v in chaos.recovery.values())} en {elapsed:.0f} s ; "
          f"{args.clients} clients")
    print(f"Écritures acquittées : {ledger.total()} (mesures {len(ledger.readings)}, documents "
          f"{len(ledger.documents)}, demandes {len(ledger.requests)}, avis {len(ledger.opinions)}) ; "
          f"sans réponse, non renvoyées : {sum(ledger.unacknowledged.values())}")
    print(f"Perdues : {sum(verdict.lost.values())} {dict(verdict.lost)}")
    print(f"Doublons : {sum(verdict.duplicates.values())} {dict(verdict.duplicates)}")
    for kind in KINDS:
        times = chaos.recovery.get(kind, [])
        if times:
            print(f"Reprise après arrêt de {kind} : {len(times)} fois, médiane {statistics.median(times):.1f} s, "
                  f"max {max(times):.1f} s")
    print(f"Tâches dues restantes : {jobs[0]} ; tâches en échec définitif : {jobs[1]} ; "
          f"sorties imprévues de processus : {exits}")
    print(f"Vérification de l'audit : {'OK' if audit.returncode == 0 else 'ÉCHEC'} {audit.stdout.strip()[-300:]}"
          f"{audit.stderr.strip()[-1000:] if audit.returncode else ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Pannes sous charge : aucune écriture acquittée perdue ni doublée.")
    parser.add_argument("--cycles", type=int, default=100, help="arrêts brutaux (100 par défaut)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MAILLAGE_CHAOS_PORT", "18550")),
                        help="port du PostgreSQL du banc ; le serveur prend le suivant")
    parser.add_argument("--clients", type=int, default=2, help="fils clients en parallèle")
    parser.add_argument("--max-pause", type=float, default=4.0, help="pause maximale entre deux arrêts (s)")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--keep", action="store_true", help="garder le dossier de travail (journaux)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="maillage-chaos-"))
    os.chmod(scratch, 0o755)  # the postgres account (when run as root) reaches its data folder inside
    pg = Postgres(scratch / "postgres", args.port)
    try:
        return run(args, scratch)
    finally:
        pg.stop()
        if args.keep:
            print(f"Dossier de travail gardé : {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
