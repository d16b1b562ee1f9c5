"""Backup and restore of the tele-expertise benchmark database: how long ``maillage backup`` and ``maillage restore``
take on a GHT's volume (issue #26).

Run: `.venv/bin/python benchmarks/backup_restore.py` (1,000,000 requests, the size of the issue) or
`--requests 100000` on a loaded machine. PostgreSQL is required: the source database is the one
`benchmarks/teleexpertise_worklist.py` fills (`MAILLAGE_BENCH_TELEEXPERTISE_URL`, default the local server, database
`maillage_bench_teleexpertise`), reused when that script already filled it at the same size; the restore goes into a
new database `<source>_restore` (dropped before and after) and a scratch blob folder. Prints the machine, the
database's size, the backup's (dump) size, and the seconds of backup and of restore (including the manifest
checks).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
import teleexpertise_worklist as te  # noqa: E402
from _machine import cpu_model, loadavg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from maillage.config import Settings  # noqa: E402
from maillage.operations import backup as backups  # noqa: E402


def _admin(url: str, *statements: str) -> None:
    with psycopg.connect(te.libpq_url(url, "postgres"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _size(url: str) -> str:
    with psycopg.connect(te.libpq_url(url)) as conn:
        row = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    return str(row[0]) if row else "?"


def _filled(url: str, requests: int) -> bool:
    with psycopg.connect(te.libpq_url(url)) as conn:
        row = conn.execute("SELECT to_regclass('public.teleexpertise_request') IS NOT NULL").fetchone()
    return bool(row and row[0]) and te.already_filled(url, requests)


def main() -> int:
    parser = argparse.ArgumentParser(description="Sauvegarde et restauration de la base du banc de téléexpertise.")
    parser.add_argument("--requests", type=int, default=int(os.environ.get("MAILLAGE_BENCH_REQUESTS", "1000000")),
                        help="nombre de demandes (1 000 000 par défaut, la taille de l'issue)")
    args = parser.parse_args()
    url = te.sqlalchemy_url(os.environ.get("MAILLAGE_BENCH_TELEEXPERTISE_URL", te.DEFAULT_URL))
    version = te.ensure_database(url, "MAILLAGE_BENCH_TELEEXPERTISE_URL")
    print(f"Machine : {cpu_model()}, {os.cpu_count()} cœur(s) ; Python {platform.python_version()} ; "
          f"PostgreSQL {version} ; charge moyenne au départ {loadavg()}")
    if _filled(url, args.requests):
        te.upgrade(url)
        print(f"Base de {args.requests} demandes déjà remplie par teleexpertise_worklist.py : réutilisée")
    else:
        started = time.perf_counter()
        te.migrate(url)
        te.seed(url, args.requests, random.Random(5))
        print(f"Chargement de {args.requests} demandes : {time.perf_counter() - started:.0f} s")
    target_name = f"{make_url(url).database}_restore"
    target = make_url(url).set(database=target_name).render_as_string(hide_password=False)
    _admin(url, f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)', f'CREATE DATABASE "{target_name}"')
    scratch = Path(tempfile.mkdtemp(prefix="maillage-bench-backup-"))
    try:
        source = Settings(var_dir=scratch / "source", database_url=url)  # type: ignore[call-arg]
        done = backups.backup(source, scratch / "backup")
        tables, rows, blobs = backups.manifest_summary(done.manifest)
        dump_mb = done.manifest["database"]["bytes"] / 1_048_576
        print(f"Base source : {_size(url)}, {tables} tables, {rows} lignes, {blobs} documents chiffrés")
        print(f"Sauvegarde (pg_dump -Fc sur instantané exporté, comptages, manifeste) : {done.seconds:.1f} s ; "
              f"copie de {dump_mb:.1f} Mio ; charge moyenne {loadavg()}")
        restored = backups.restore(Settings(var_dir=scratch / "target", database_url=target),  # type: ignore[call-arg]
                                   scratch / "backup")
        print(f"Restauration (contrôle des empreintes, pg_restore en une transaction, comptages comparés) : "
              f"{restored.seconds:.1f} s ; base restaurée {_size(target)} ; charge moyenne {loadavg()}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _admin(url, f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
