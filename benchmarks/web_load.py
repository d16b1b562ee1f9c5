"""Web load: throughput and p50/p95/p99 latency of the main pages and API reads at rising concurrency.

Run: `.venv/bin/python benchmarks/web_load.py` (part of `make bench`). It needs PostgreSQL:
`MAILLAGE_BENCH_DATABASE_URL` (default `postgresql://postgres@127.0.0.1:5432/web_load_bench`, created if
missing). Everything happens in a fresh schema of that database, dropped at the end: one real
`maillage serve` process (uvicorn, as `make run` starts it) on a free loopback port migrates it and loads
the demo territory; the demo accounts sign in through the real login pages (password, then TOTP) and
create a bearer token each; then closed-loop virtual users (no think time) replay a realistic mix for
`MAILLAGE_BENCH_SECONDS` (default 10) at each concurrency of `MAILLAGE_BENCH_LEVELS` (default
1,2,4,8,16,32,64). `MAILLAGE_BENCH_WORKERS` (default 1,2) lists the numbers of serve processes to measure, one
after the other on the same database (`maillage serve --workers N`); each account signs in once (the TOTP replay
rule refuses a second sign-in within one 30-second step) and its session and token serve every virtual user of
that account, in every configuration. Traffic goes to 127.0.0.1 only.

Printed per level: requests/s and p50/p95/p99 for the whole mix and per group (pages, each API prefix); the SQL
statements per request and their time, by route (the `Server-Timing` header the serve process adds when
`MAILLAGE_SERVER_TIMING=true`); and the CPU time per request of the serve processes (all of them, with their batch
children) and of the PostgreSQL backends of the benchmark's database, read from /proc: far less sensitive to the
other loads of a shared machine than requests/s.

The mix: a professional's browsing (home, login page, account page) and API reads, with whichever read
endpoints the OpenAPI document offers when the benchmark runs: every GET of `/api/` without required
parameters (lists, searches with defaults, "who am I"), directory-style searches whose required text
parameter gets a realistic term, and detail reads (`/…/{id}`) fed with ids from their list. Each account
replays only the reads its role is allowed (probed first), so errors mean a real failure.

The rate limiter of the serve process is switched off (`MAILLAGE_RATE_LIMIT_ENABLED=false`): it would turn
the higher levels into a measure of 429s. Logs stay at INFO, as in production. The load driver runs on the same
machine as the server and PostgreSQL, and takes its share of the CPU: the last table gives it ("CPU pilote", in
percent of one core, and per request). It is built to cost little per request, since every millisecond it spends
is taken from the server: one process, uvloop's event loop, aiohttp's client (HTTP parsed in C, keep-alive
connections, a cookie jar per signed-in browser), URLs parsed once per server; httpx, used before, cost about
2 ms of CPU per request at 8 clients and 5.6 ms at 64 (docs/adr/0013-web-tier-cpu-per-request.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pyotp
import uvloop
from _machine import cpu_model
from _postgres import ensure_database
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from yarl import URL

from maillage.demo.accounts import DEMO_ACCOUNTS, DEMO_PASSWORD, demo_totp_secret
from maillage.kit.db import normalise_url

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_TIMING = re.compile(r'sql;dur=([0-9.]+);desc="(\d+)"')

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/web_load_bench"
DEFAULT_LEVELS = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_WORKERS = (1, 2)
P99_LIMIT_MS = 250.0
TERMS = random.Random(8)  # the same search terms from one run to the next
HOST = "127.0.0.1"
# Words a professional types in a search box, by parameter name; a required text parameter not listed gets "a".
SEARCH_TERMS = {
    "q": ["cardio", "dermato", "limoges", "ehpad", "martin", "pneumo", "87"],
    "query": ["cardio", "dermato", "limoges"], "search": ["cardio", "dermato"], "texte": ["cardio", "dermato"],
    "recherche": ["cardio", "dermato", "limoges"], "commune": ["Limoges", "Saint-Junien"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- The database and the server ----------------------------------------------------------------------------


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def run_sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(database_url: str, var_dir: Path, secret_key: str, workers: int) -> Server:
    port = free_port()
    var_dir.mkdir(parents=True, exist_ok=True)
    log = var_dir / "serve.log"
    env = {
        **os.environ, "MAILLAGE_DATABASE_URL": database_url, "MAILLAGE_VAR_DIR": str(var_dir),
        "MAILLAGE_ENVIRONMENT": "development", "MAILLAGE_RATE_LIMIT_ENABLED": "false",
        "MAILLAGE_SECRET_KEY": secret_key, "MAILLAGE_LOG_LEVEL": "INFO", "MAILLAGE_SERVER_TIMING": "true",
    }
    args = [sys.executable, "-m", "maillage.cli", "serve", "--host", HOST, "--port", str(port), "--demo"]
    if workers > 1:
        args += ["--workers", str(workers)]
    with log.open("ab") as out:
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, f"http://{HOST}:{port}", log)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("maillage serve s'est arrêté :\n" + log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError("maillage serve n'a pas répondu sur /readyz en 300 s")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (the serve processes and their batch children)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents[ppid].append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database (the serve processes' pools)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [int(p) for p in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalars()]
    finally:
        engine.dispose()


@dataclass
class CpuProbe:
    """CPU used during a level by the serve processes and by the database's backends (seconds)."""

    server_root: int
    database_url: str
    start: dict[str, dict[int, float]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, dict[int, float]]:
        return {"server": {p: _cpu_seconds(p) for p in process_tree(self.server_root)},
                "postgres": {p: _cpu_seconds(p) for p in backend_pids(self.database_url)}}

    def begin(self) -> None:
        self.start = self.snapshot()

    def end(self) -> dict[str, float]:
        now = self.snapshot()
        return {side: sum(v - self.start[side].get(p, 0.0) for p, v in now[side].items()) for side in now}


# --- Who browses, and what -----------------------------------------------------------------------------------


def new_client(connections: int = 256) -> aiohttp.ClientSession:
    """A browser-like client: keep-alive connections and a cookie jar (``unsafe``: the server is an IP address,
    whose cookies aiohttp's jar refuses by default). No timeout but a generous total: a slow answer is a latency."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections, keepalive_timeout=60),
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=60),
        auto_decompress=False,
    )


@dataclass
class Reply:
    status: int
    text: str
    headers: Any  # the response's headers (case-insensitive)

    def json(self) -> Any:
        return json.loads(self.text)


async def fetch(client: aiohttp.ClientSession, method: str, url: str | URL, **kwargs: Any) -> Reply:
    async with client.request(method, url, allow_redirects=False, **kwargs) as response:
        body = await response.read()
        return Reply(response.status, body.decode("utf-8", "replace"), response.headers)


@dataclass
class Account:
    username: str
    role: str
    client: aiohttp.ClientSession  # holds the browser session cookie
    token: str = ""


@dataclass(frozen=True)
class Target:
    group: str
    label: str
    url: str
    weight: float
    kind: str  # "anonymous" (no credential), "session" (cookie), "token" (bearer)


@dataclass
class Plan:
    accounts: list[Account]
    targets: dict[str, list[Target]] = field(default_factory=dict)  # username → what that account may read


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


async def csrf_of(client: aiohttp.ClientSession, base_url: str, path: str) -> str:
    """The CSRF token a page carries: it is bound to the browser's session, so it changes at each sign-in step."""
    page = await fetch(client, "GET", base_url + path)
    found = CSRF_INPUT.search(page.text)
    if found is None:
        raise RuntimeError(f"jeton CSRF absent de la page {path} ({page.status})")
    return found.group(1)


async def sign_in(base_url: str, username: str, role: str) -> Account:
    """The real login: the form, the password, the TOTP code, then a personal token from the API.

    Called once per account: the session (cookie) and the token serve every virtual user of the account. A code
    already used in this 30-second step (the replay rule) is answered by waiting for the next step."""
    client = new_client()
    csrf = await csrf_of(client, base_url, "/connexion")
    step = await fetch(client, "POST", base_url + "/connexion", data={
        "username": username, "password": DEMO_PASSWORD, "csrf_token": csrf, "suite": "/"})
    if step.status != 303:
        raise RuntimeError(f"connexion de {username} refusée ({step.status})")
    totp = pyotp.TOTP(demo_totp_secret(username))
    for _attempt in range(2):
        csrf = await csrf_of(client, base_url, "/connexion/code")  # the session now exists: its own CSRF token
        done = await fetch(client, "POST", base_url + "/connexion/code",
                           data={"code": totp.now(), "csrf_token": csrf, "suite": "/"})
        if done.status != 401 or "déjà" not in done.text:
            break
        await asyncio.sleep(30.5 - time.time() % 30)  # this step's code was used: the next step's
    if done.status != 303:
        raise RuntimeError(f"second facteur de {username} refusé ({done.status})")
    csrf = await csrf_of(client, base_url, "/compte")
    issued = await fetch(client, "POST", base_url + "/api/auth/tokens",
                         json={"name": "benchmark", "expires_in_days": 1}, headers={"X-CSRF-Token": csrf})
    if issued.status != 201:
        raise RuntimeError(f"jeton de {username} non créé ({issued.status})")
    return Account(username, role, client, issued.json()["token"])


def group_of(path: str) -> str:
    if not path.startswith("/api/"):
        return "pages"
    return "api/" + path.split("/")[2]


def _fill_query(operation: dict[str, Any]) -> dict[str, str] | None:
    """Values for the required query parameters, or None if one cannot be filled sensibly."""
    query: dict[str, str] = {}
    for param in operation.get("parameters", []):
        if not param.get("required"):
            continue
        if param.get("in") != "query":
            return None
        name = param["name"]
        schema = param.get("schema", {})
        if name in SEARCH_TERMS:
            query[name] = TERMS.choice(SEARCH_TERMS[name])
        elif schema.get("type") == "string" and not schema.get("format") and not schema.get("enum"):
            query[name] = "a"
        elif schema.get("enum"):
            query[name] = str(schema["enum"][0])
        else:
            return None
    return query


def api_candidates(document: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(label, url, weight) for the API reads of the document: lists, searches, and templates for details."""
    out: list[tuple[str, str, float]] = []
    for path, operations in sorted(document.get("paths", {}).items()):
        get = operations.get("get")
        if get is None or not path.startswith("/api/") or path.startswith("/api/docs"):
            continue
        if "{" in path:
            if path.endswith("/content"):
                continue  # file downloads are measured by benchmarks of their own
            out.append((f"GET {path}", path, 1.0))  # a template, filled with ids from its list
            continue
        query = _fill_query(get)
        if query is None:
            continue
        weight = 3.0 if path == "/api/auth/me" else 2.0 if query else 1.0  # "who am I" and searches are frequent
        url = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        out.append((f"GET {path}", url, weight))
    return out


async def detail_urls(client: aiohttp.ClientSession, base_url: str, token: str, template: str) -> list[str]:
    """Fill the one ``{param}`` of ``/x/{x_id}`` or ``/x/{x_id}/y`` with ids listed at ``/x`` or ``/x/mine``."""
    match = re.fullmatch(r"([^{}]*)/\{[^}/]+\}([^{}]*)", template)
    if match is None:
        return []
    collection, rest = match.group(1), match.group(2)
    for listing_path in (collection, f"{collection}/mine"):
        listing = await fetch(client, "GET", base_url + listing_path, headers={"Authorization": f"Bearer {token}"})
        if listing.status != 200:
            continue
        body = listing.json()
        items = body.get("items", []) if isinstance(body, dict) else body
        ids = [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item][:20]
        if ids:
            return [f"{collection}/{i}{rest}" for i in ids]
    return []


async def build_plan(base_url: str, anonymous: aiohttp.ClientSession) -> Plan:
    accounts = []
    seen_roles = set()
    for account in DEMO_ACCOUNTS:
        if account.role.value in seen_roles:
            continue
        seen_roles.add(account.role.value)
        accounts.append(await sign_in(base_url, account.username, account.role.value))
    document = (await fetch(anonymous, "GET", base_url + "/api/openapi.json")).json()
    candidates = api_candidates(document)
    plan = Plan(accounts)
    for account in accounts:
        targets = [Target("pages", "GET /", "/", 3, "session"),
                   Target("pages", "GET /connexion", "/connexion", 1, "anonymous"),
                   Target("pages", "GET /compte", "/compte", 2, "session")]
        auth = {"Authorization": f"Bearer {account.token}"}
        for label, url, weight in candidates:
            urls = await detail_urls(anonymous, base_url, account.token, url) if "{" in url else [url]
            allowed = [u for u in urls if (await fetch(anonymous, "GET", base_url + u, headers=auth)).status == 200]
            for u in allowed:
                targets.append(Target(group_of(u), label, u, weight / len(allowed), "token"))
        plan.targets[account.username] = targets
    return plan


# --- Load ----------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statements: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    elapsed: float = 0.0
    driver_cpu: float = 0.0  # share of one core the load driver itself used
    driver_seconds: float = 0.0  # CPU seconds the load driver used during the level
    cpu: dict[str, float] = field(default_factory=dict)  # seconds used by the serve processes and by PostgreSQL
    requests: int = 0  # every request of the level, warm-up included (the CPU covers them all)
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # "route: status or exception"
    retries: int = 0  # GETs sent again after the server closed an idle keep-alive connection


async def run_level(plan: Plan, anonymous: aiohttp.ClientSession, base_url: str, users: int, seconds: float,
                    seed: int, probe: CpuProbe) -> Sample:
    sample = Sample()
    warmup = min(1.0, seconds / 10)
    urls = {t.url: URL(base_url + t.url) for targets in plan.targets.values() for t in targets}  # parsed once
    probe.begin()
    start = time.perf_counter()
    record_from = start + warmup
    deadline = record_from + seconds

    async def get(client: aiohttp.ClientSession, url: URL, headers: dict[str, str] | None) -> tuple[int, str]:
        async with client.get(url, headers=headers, allow_redirects=False) as response:
            await response.read()
            return response.status, response.headers.get("server-timing", "")

    async def virtual_user(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        account = plan.accounts[index % len(plan.accounts)]
        targets = plan.targets[account.username]
        weights = list(accumulate(t.weight for t in targets))
        auth = {"Authorization": f"Bearer {account.token}"}
        while True:
            now = time.perf_counter()
            if now >= deadline:
                return
            target = rng.choices(targets, cum_weights=weights)[0]
            began = time.perf_counter()
            timing = None
            try:
                client = account.client if target.kind == "session" else anonymous
                headers = auth if target.kind == "token" else None
                try:
                    status, server_timing = await get(client, urls[target.url], headers)
                except aiohttp.ServerDisconnectedError:
                    # The server closed a keep-alive connection idle for its timeout just as it was reused: a
                    # browser sends an idempotent GET again on a new connection, and so does this driver (counted).
                    sample.retries += 1
                    status, server_timing = await get(client, urls[target.url], headers)
                ok = status == 200
                kind = str(status)
                timing = SERVER_TIMING.search(server_timing)
            except (TimeoutError, aiohttp.ClientError) as exc:
                ok = False
                kind = type(exc).__name__
            ended = time.perf_counter()
            sample.requests += 1
            if began >= record_from and ended <= deadline:
                sample.latencies[target.group].append(ended - began)
                if timing is not None:
                    sample.statements[target.label].append((int(timing.group(2)), float(timing.group(1))))
                if not ok:
                    sample.errors[target.group] += 1
                    sample.failures[f"{target.label} : {kind}"] += 1

    cpu = time.process_time()
    await asyncio.gather(*(virtual_user(i) for i in range(users)))
    sample.elapsed = seconds
    sample.driver_seconds = time.process_time() - cpu
    sample.driver_cpu = sample.driver_seconds / (time.perf_counter() - start)
    sample.cpu = probe.end()
    return sample


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def build(base_url: str) -> tuple[Plan, aiohttp.ClientSession]:
    anonymous = new_client()
    return await build_plan(base_url, anonymous), anonymous


async def measure(plan: Plan, anonymous: aiohttp.ClientSession, base_url: str, levels: list[int], seconds: float,
                  probe: CpuProbe) -> dict[int, Sample]:
    """Each level at ``base_url``: the next serve configuration listens elsewhere, and the sessions and tokens,
    which live in the database, still hold there (the cookie jars keep cookies by host, not by port)."""
    results = {}
    for users in levels:
        results[users] = await run_level(plan, anonymous, base_url, users, seconds, seed=users, probe=probe)
    return results


async def close(plan: Plan, anonymous: aiohttp.ClientSession) -> None:
    for account in plan.accounts:
        await account.client.close()
    await anonymous.close()


def report_mix(plan: Plan) -> None:
    mix: dict[str, float] = defaultdict(float)
    for targets in plan.targets.values():
        for t in targets:
            mix[f"{t.group:<18} {t.label}"] += t.weight
    total = sum(mix.values())
    print("Mélange (part des requêtes, tous comptes confondus) :")
    for label, weight in sorted(mix.items()):
        print(f"  {100 * weight / total:5.1f} %  {label}")


def report(results: dict[int, Sample], workers: int) -> None:
    groups = [*sorted({g for s in results.values() for g in s.latencies}), "ensemble"]
    for group in groups:
        print(f"\n[{workers} processus] Groupe {group}")
        extra = (f" {'CPU pilote':>10} {'pilote/req':>10} {'CPU serve/req':>13} {'CPU PG/req':>10}"
                 if group == "ensemble" else "")
        print(f"  {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'requêtes':>9} {'erreurs':>8}"
              + extra)
        crossed = None
        for users, sample in results.items():
            if group == "ensemble":
                values = [v for vs in sample.latencies.values() for v in vs]
                errors = sum(sample.errors.values())
            else:
                values = sample.latencies.get(group, [])
                errors = sample.errors.get(group, 0)
            p99 = percentile(values, 99)
            if crossed is None and p99 > P99_LIMIT_MS:
                crossed = users
            cpu = ""
            if group == "ensemble":
                per = 1e3 / max(sample.requests, 1)
                cpu = (f" {100 * sample.driver_cpu:>9.0f}% {sample.driver_seconds * per:>7.2f} ms"
                       f" {sample.cpu['server'] * per:>10.2f} ms"
                       f" {sample.cpu['postgres'] * per:>7.2f} ms")
            print(f"  {users:>7} {len(values) / sample.elapsed:>8.1f} {percentile(values, 50):>8.1f} "
                  f"{percentile(values, 95):>8.1f} {p99:>8.1f} {len(values):>9} {errors:>8}{cpu}")
        top = max(results)
        print(f"  p99 > {P99_LIMIT_MS:.0f} ms à partir de : "
              + (f"{crossed} clients simultanés" if crossed else f"jamais jusqu'à {top} clients simultanés"))
    retries = {users: s.retries for users, s in results.items() if s.retries}
    if retries:
        print(f"\n[{workers} processus] GET renvoyés sur une connexion neuve (connexion inactive fermée par le "
              f"serveur au moment de sa reprise), par palier : {retries}")
    failures = {users: dict(s.failures) for users, s in results.items() if s.failures}
    if failures:
        print(f"\n[{workers} processus] Erreurs, par palier : {failures}")
    labels = sorted({label for s in results.values() for label in s.statements})
    print(f"\n[{workers} processus] Requêtes SQL par requête HTTP, par route (moyenne ; temps SQL moyen en ms), "
          "par palier")
    print(f"  {'route':<48}" + "".join(f" {f'{u} cl.':>13}" for u in results))
    for label in labels:
        cells = []
        for sample in results.values():
            seen = sample.statements.get(label, [])
            if not seen:
                cells.append(f" {'-':>13}")
                continue
            count = sum(n for n, _ in seen) / len(seen)
            ms = sum(d for _, d in seen) / len(seen)
            cells.append(f" {count:>5.1f} ({ms:>5.1f})")
        print(f"  {label[:48]:<48}" + "".join(cells))


def main() -> int:
    url = normalise_url(os.environ.get("MAILLAGE_BENCH_DATABASE_URL", DEFAULT_URL))
    if not url.startswith("postgresql"):
        print("Ce benchmark mesure PostgreSQL : MAILLAGE_BENCH_DATABASE_URL doit être une URL postgresql://",
              file=sys.stderr)
        return 2
    seconds = float(os.environ.get("MAILLAGE_BENCH_SECONDS", "") or 10)
    levels = [int(x) for x in (os.environ.get("MAILLAGE_BENCH_LEVELS", "") or "").split(",") if x.strip()]
    levels = levels or list(DEFAULT_LEVELS)
    workers = [int(x) for x in (os.environ.get("MAILLAGE_BENCH_WORKERS", "") or "").split(",") if x.strip()]
    workers = workers or list(DEFAULT_WORKERS)
    try:
        version = ensure_database(url, "MAILLAGE_BENCH_DATABASE_URL")
    except OperationalError as exc:
        print(f"PostgreSQL injoignable ({type(exc.orig).__name__}) : charge web non mesurée. "
              "Indiquez MAILLAGE_BENCH_DATABASE_URL.", file=sys.stderr)
        return 0
    schema = f"bench_web_{os.getpid()}"
    run_sql(url, f'CREATE SCHEMA "{schema}"')
    database_url = with_schema(url, schema)
    secret_key = secrets.token_urlsafe(32)
    server = None
    loop = uvloop.new_event_loop()  # the driver's own CPU per request counts against the server's
    plan: Plan | None = None
    anonymous: aiohttp.ClientSession | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="maillage-web-load-") as tmp:
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True, check=False).stdout.strip() or "?"
            print(f"Machine : {cpu_model()}, {os.cpu_count()} cœur(s), charge moyenne au départ {load} ; "
                  f"Python {platform.python_version()} ; PostgreSQL {version} (local) ; code {commit}")
            print(f"Charge : clients en boucle fermée sans temps de réflexion, {seconds:.0f} s par palier "
                  f"(après {min(1.0, seconds / 10):.1f} s de chauffe), paliers {', '.join(map(str, levels))} ; "
                  f"processus serve : {', '.join(map(str, workers))}\n")
            for count in workers:
                started = time.perf_counter()
                server = start_server(database_url, Path(tmp) / "var", secret_key, count)
                print(f"Serveur : {count} processus `maillage serve"
                      f"{f' --workers {count}' if count > 1 else ''}` (uvicorn) sur {server.url}, prêt en "
                      f"{time.perf_counter() - started:.0f} s (migrations et démonstration au premier) ; "
                      "limiteur de débit coupé ; journaux INFO")
                if plan is None or anonymous is None:
                    plan, anonymous = loop.run_until_complete(build(server.url))
                    report_mix(plan)
                probe = CpuProbe(server.process.pid, url)
                results = loop.run_until_complete(measure(plan, anonymous, server.url, levels, seconds, probe))
                report(results, count)
                print()
                server.stop()
                server = None
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"Charge moyenne de la machine à la fin : {load} (machine partagée : sous charge, ces chiffres "
                  "sont des minorants)")
    finally:
        if plan is not None and anonymous is not None:
            loop.run_until_complete(close(plan, anonymous))
        loop.close()
        if server is not None:
            server.stop()
        run_sql(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    sys.exit(main())
