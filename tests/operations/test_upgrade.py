"""Upgrades: a database of an earlier release, with the demo's data in it, migrates to head with its data intact.

The fixture (``data/demo-<revision>.sql.gz``) is the demo territory and activity taken down the migration chain to
an earlier revision and dumped (``scripts/make_upgrade_fixture.py``). The test loads it, checks that
``maillage db upgrade --check`` names the migrations to run and changes nothing, upgrades, and finds every row of
every table it had (on the columns it had) unchanged, and the audit chain still verifying with its keys (throwaway
keys of the fixture's scratch installation, kept beside it: they protect nothing else).
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.conftest import CHILD_PYTHONPATH, ROOT

pytestmark = [pytest.mark.slow]
DATA = Path(__file__).parent / "data"
(FIXTURE,) = DATA.glob("demo-*.sql.gz")
REVISION = FIXTURE.name.removeprefix("demo-").removesuffix(".sql.gz")


def _rows(path: Path, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple[object, ...]]]:
    connection = sqlite3.connect(path)
    try:
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out: dict[str, list[tuple[object, ...]]] = {}
        for table in tables:
            if columns is not None and table not in columns:
                continue
            names = columns[table] if columns is not None else [
                row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
            quoted = ", ".join(f'"{name}"' for name in names)
            out[table] = sorted(connection.execute(f'SELECT {quoted} FROM "{table}"').fetchall(), key=repr)
        return out
    finally:
        connection.close()


def _columns(path: Path) -> dict[str, list[str]]:
    connection = sqlite3.connect(path)
    try:
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {table: [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')] for table in tables}
    finally:
        connection.close()


def _pending_after(revision: str) -> list[str]:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    steps = list(ScriptDirectory.from_config(config).iterate_revisions("heads", revision))
    return [step.revision for step in reversed(steps)]


@pytest.fixture
def old_release(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    database = tmp_path / "ancienne.sqlite3"
    connection = sqlite3.connect(database)
    try:
        connection.executescript(gzip.decompress(FIXTURE.read_bytes()).decode("utf-8"))
    finally:
        connection.close()
    var = tmp_path / "var"
    for pattern, folder in (("audit-*.key", var / "audit-keys"), ("kek-*.key", var / "keys")):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for key in DATA.glob(f"demo-{REVISION}.{pattern}"):
            target = folder / key.name.removeprefix(f"demo-{REVISION}.")
            shutil.copyfile(key, target)
            os.chmod(target, 0o600)
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(var), "MAILLAGE_DATABASE_URL": f"sqlite:///{database}",
           "MAILLAGE_ENVIRONMENT": "development", "PYTHONPATH": CHILD_PYTHONPATH}
    return database, env


def _maillage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maillage.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_the_fixture_is_an_earlier_release() -> None:
    pending = _pending_after(REVISION)
    assert pending, f"the fixture is at head ({REVISION}): regenerate it at an earlier revision"
    assert REVISION not in pending


def test_check_names_the_migrations_and_changes_nothing(old_release: tuple[Path, dict[str, str]]) -> None:
    database, env = old_release
    before = _rows(database)
    check = _maillage(env, "db", "upgrade", "--check")
    assert check.returncode == 1, check.stderr
    assert f"Révision actuelle de la base : {REVISION}." in check.stderr
    listed = [line.split()[0] for line in check.stderr.splitlines() if line.startswith("  ")]
    assert listed == _pending_after(REVISION)
    assert _rows(database) == before


def test_upgrade_keeps_every_row_and_the_audit_chain(old_release: tuple[Path, dict[str, str]]) -> None:
    database, env = old_release
    old_columns = _columns(database)
    before = _rows(database, old_columns)
    assert sum(len(rows) for rows in before.values()) > 1000  # the demo's data, not an empty schema
    upgraded = _maillage(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    after = _rows(database, {table: cols for table, cols in old_columns.items() if table != "alembic_version"})
    for table, rows in before.items():
        if table != "alembic_version":
            assert after[table] == rows, f"{table} changed during the upgrade"
    assert _maillage(env, "db", "upgrade", "--check").returncode == 0
    verified = _maillage(env, "audit", "verify")
    assert verified.returncode == 0 and "audit chain OK" in verified.stdout, verified.stdout + verified.stderr
