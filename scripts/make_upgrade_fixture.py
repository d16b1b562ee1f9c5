"""Write the upgrade test's fixture: the demo territory on SQLite, taken back to an earlier revision, dumped as SQL.

    PYTHONPATH=src python scripts/make_upgrade_fixture.py 20261207_0810
    PYTHONPATH=src python scripts/make_upgrade_fixture.py 20261207_0810 --postgres postgresql://user@host/base

With ``--postgres`` (the URL of a PostgreSQL database whose server may be used for a scratch database, created and
dropped next to it), the same on PostgreSQL: ``pg-demo-<revision>.dump`` in pg_dump's custom format (without owner or
privileges), and its keys as ``pg-demo-<revision>.<key>``.

Builds the demo at head in a scratch folder, runs the migration chain down to the given revision (what a database
of that release holds, with its data), and writes ``tests/operations/data/demo-<revision>.sql.gz`` (SQLite's own
dump, gzipped) and the scratch installation's audit and vault keys beside it (throwaway keys: they protect only this
fixture, so that the test can verify its audit chain after the upgrade). Rerun it when the fixture must move to a newer
release; the test reads the revision from the file name.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "operations" / "data"


def main(revision: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        var = Path(scratch)
        env = {**os.environ, "MAILLAGE_VAR_DIR": str(var), "MAILLAGE_DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
               "MAILLAGE_ENVIRONMENT": "development", "PYTHONPATH": str(ROOT / "src")}
        for args in (["demo"], ["db", "downgrade", revision]):
            subprocess.run([sys.executable, "-m", "maillage.cli", *args], env=env, check=True, cwd=ROOT)  # noqa: S603
        connection = sqlite3.connect(var / "db.sqlite3")
        try:
            dump = "\n".join(connection.iterdump()).encode("utf-8")
        finally:
            connection.close()
        for old in DATA.glob("demo-*"):
            old.unlink()
        DATA.mkdir(parents=True, exist_ok=True)
        (DATA / f"demo-{revision}.sql.gz").write_bytes(gzip.compress(dump, 9, mtime=0))
        for key in [*(var / "audit-keys").glob("audit-*.key"), *(var / "keys").glob("kek-*.key")]:
            shutil.copyfile(key, DATA / f"demo-{revision}.{key.name}")
    print(f"{DATA / f'demo-{revision}.sql.gz'}: {len(dump)} bytes of SQL")


def main_postgres(revision: str, base: str) -> None:
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"{url.database}_fixture_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    target = url.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as scratch:
            var = Path(scratch)
            env = {**os.environ, "MAILLAGE_VAR_DIR": str(var), "MAILLAGE_DATABASE_URL": target,
                   "MAILLAGE_ENVIRONMENT": "development", "PYTHONPATH": str(ROOT / "src")}
            for args in (["demo"], ["db", "downgrade", revision]):
                subprocess.run([sys.executable, "-m", "maillage.cli", *args], env=env, check=True, cwd=ROOT)  # noqa: S603
            for old in DATA.glob("pg-demo-*"):
                old.unlink()
            dump = DATA / f"pg-demo-{revision}.dump"
            subprocess.run([shutil.which("pg_dump") or "pg_dump", "--format=custom", "--compress=9", "--no-owner",  # noqa: S603
                            "--no-privileges", f"--file={dump}", target], check=True)
            for key in [*(var / "audit-keys").glob("audit-*.key"), *(var / "keys").glob("kek-*.key")]:
                shutil.copyfile(key, DATA / f"pg-demo-{revision}.{key.name}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{dump}: {dump.stat().st_size} bytes")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--postgres":
        main_postgres(sys.argv[1], sys.argv[3])
    else:
        main(sys.argv[1])
