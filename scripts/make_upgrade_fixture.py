"""Write the upgrade test's fixture: the demo territory on SQLite, taken back to an earlier revision, dumped as SQL.

    PYTHONPATH=src python scripts/make_upgrade_fixture.py 20261207_0810

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


if __name__ == "__main__":
    main(sys.argv[1])
