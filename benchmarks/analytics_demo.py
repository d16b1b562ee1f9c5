"""The demo's analytics: how long `maillage demo` takes now that it builds the warehouse, and how fast the analyst's
pages answer from the results it stored.

Run: `.venv/bin/python benchmarks/analytics_demo.py [--departement 87] [--runs 30] [--no-postgresql]`.

1. `maillage demo -d D` in a fresh var directory, as a subprocess, timed from start to exit: on the embedded SQLite,
   then on PostgreSQL (database `MAILLAGE_BENCH_ANALYTICS_DEMO_URL`, default the local server's
   `maillage_bench_analytics_demo`, created if missing, its `public` schema emptied first). The demo prints the
   analytics part's own time (claims, extraction, indicators computed and gated); both are shown.
2. The analyst's pages on the SQLite demo, in process (FastAPI TestClient, a signed-in session of `analyste.roux`,
   the real pages: session lookup, authorization, audit entries and commit, stored result and gated table read,
   chart and template): /pilotage, each indicator's page, the APL map; p50 / p95 / max in milliseconds over `--runs`
   requests each, after one warm-up request. The floor the issue sets: under 300 ms.

The machine is shared: figures under load are upper bounds of what an idle machine would show.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _machine import cpu_model, loadavg  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/maillage_bench_analytics_demo"


def run_demo(var_dir: Path, departement: str, database_url: str | None) -> tuple[float, str]:
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(var_dir), "MAILLAGE_ENVIRONMENT": "development",
           "PYTHONPATH": str(ROOT / "src")}
    env.pop("MAILLAGE_DATABASE_URL", None)
    if database_url:
        env["MAILLAGE_DATABASE_URL"] = database_url
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "maillage.cli", "demo", "-d", departement], env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:] + done.stdout[-3000:])
    line = next((x for x in (done.stdout + done.stderr).splitlines() if x.startswith("Pilotage")), "")
    return seconds, line


def fresh_postgres(url: str) -> str | None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False).replace("+psycopg", "")
    try:
        with psycopg.connect(admin, autocommit=True) as con:
            if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone():
                con.execute(f'CREATE DATABASE "{parsed.database}"')
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as con:
            con.execute("DROP SCHEMA IF EXISTS public CASCADE")
            con.execute("CREATE SCHEMA public")
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL injoignable ({exc}) : mesure sur SQLite seulement.")
        return None
    return url


def measure_pages(var_dir: Path, runs: int) -> list[tuple[str, float, float, float]]:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from maillage.analytics.catalogue import all_indicators
    from maillage.app import create_app
    from maillage.auth import service as auth
    from maillage.config import Settings
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.models.auth import UserAccount
    from maillage.security.deps import SESSION_COOKIE

    url = f"sqlite:///{var_dir / 'maillage.sqlite3'}"
    sessions = make_sessionmaker(make_engine(url))
    settings = Settings(environment="development", var_dir=var_dir, database_url=url, log_json=True,
                        log_level="WARNING", secret_key="b" * 40, rate_limit_enabled=False)
    app = create_app(settings, sessions)
    with sessions() as db:
        user = db.scalar(select(UserAccount).where(UserAccount.username == "analyste.roux"))
        assert user is not None
        token, _ = auth.start_session(db, user, mfa_passed=True, address="127.0.0.1")
        db.commit()
    paths = ["/pilotage", *[f"/pilotage/indicateurs/{i.code}" for i in all_indicators()], "/pilotage/carte",
             "/pilotage/carte?page=2"]
    results = []
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.cookies.set(SESSION_COOKIE, token)
        for path in paths:
            first = client.get(path, headers={"accept": "text/html"})
            if first.status_code != 200:
                raise RuntimeError(f"{path} : HTTP {first.status_code}")
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                client.get(path, headers={"accept": "text/html"})
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            results.append((path, statistics.median(times), p95, times[-1]))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departement", default="87")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    print(f"Machine : {cpu_model()}, {os.cpu_count()} cœurs, Python {platform.python_version()}, "
          f"charge {loadavg()}")
    base = Path(tempfile.mkdtemp(prefix="analytics-demo-bench-"))
    sqlite_var = base / "sqlite" / "var"
    seconds, line = run_demo(sqlite_var, args.departement, None)
    print(f"maillage demo -d {args.departement} (SQLite)      : {seconds:6.1f} s   {line}")
    if not args.no_postgresql:
        pg = fresh_postgres(os.environ.get("MAILLAGE_BENCH_ANALYTICS_DEMO_URL", DEFAULT_PG))
        if pg is not None:
            seconds, line = run_demo(base / "pg" / "var", args.departement, pg)
            print(f"maillage demo -d {args.departement} (PostgreSQL)  : {seconds:6.1f} s   {line}")
    print(f"Pages de l'analyste sur la démo SQLite, {args.runs} requêtes chacune (ms) :")
    print(f"  {'page':<48} {'p50':>7} {'p95':>7} {'max':>7}")
    for path, p50, p95, worst in measure_pages(sqlite_var, args.runs):
        print(f"  {path:<48} {p50:7.1f} {p95:7.1f} {worst:7.1f}")
    print(f"Charge à la fin : {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
