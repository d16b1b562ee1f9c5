"""Upgrades on PostgreSQL: the demo of an earlier release (``data/pg-demo-<revision>.dump``, pg_dump's custom format
written by ``scripts/make_upgrade_fixture.py --postgres``) restored into a scratch database, checked with
``maillage db upgrade --check``, upgraded to head with every row of every table it had (on the columns it had) kept,
and its audit chain verified with the fixture's keys (throwaway keys of its scratch installation, kept beside it).

Skipped without a PostgreSQL test database, unless ``MAILLAGE_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from maillage.kit.db import make_engine
from tests.conftest import CHILD_PYTHONPATH, postgres_url, skip_or_fail
from tests.operations.test_drill import _administer
from tests.operations.test_upgrade import _maillage, _pending_after

pytestmark = [pytest.mark.slow]
DATA = Path(__file__).parent / "data"
(FIXTURE,) = DATA.glob("pg-demo-*.dump")
REVISION = FIXTURE.name.removeprefix("pg-demo-").removesuffix(".dump")

Rows = dict[str, list[tuple[object, ...]]]


def _columns(url: str) -> dict[str, list[str]]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            return {table: [c["name"] for c in found.get_columns(table)] for table in found.get_table_names()}
    finally:
        engine.dispose()


def _rows(url: str, columns: dict[str, list[str]]) -> Rows:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return {table: sorted((tuple(row) for row in conn.execute(text(
                        f'SELECT {", ".join(chr(34) + n + chr(34) for n in names)} FROM "{table}"'))), key=repr)
                    for table, names in columns.items()}
    finally:
        engine.dispose()


@pytest.fixture
def old_release(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    base = postgres_url()
    if base is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "pg_restore absent : installez le client PostgreSQL")
    assert base is not None and pg_restore is not None
    name = f"{make_url(base).database}_upgrade_{uuid.uuid4().hex[:8]}"
    _administer(base, f'CREATE DATABASE "{name}"')
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        libpq = make_url(url).set(drivername="postgresql", password=None).render_as_string(hide_password=False)
        restored = subprocess.run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
                                   f"--dbname={libpq}", str(FIXTURE)], capture_output=True, text=True, check=False,
                                  env={**os.environ, "PGPASSWORD": make_url(url).password or ""})
        assert restored.returncode == 0, restored.stderr[-3000:]
        var = tmp_path / "var"
        for pattern, folder in (("audit-*.key", var / "audit-keys"), ("kek-*.key", var / "keys")):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for key in DATA.glob(f"pg-demo-{REVISION}.{pattern}"):
                target = folder / key.name.removeprefix(f"pg-demo-{REVISION}.")
                shutil.copyfile(key, target)
                os.chmod(target, 0o600)
        yield url, {**os.environ, "MAILLAGE_VAR_DIR": str(var), "MAILLAGE_DATABASE_URL": url,
                    "MAILLAGE_ENVIRONMENT": "development", "PYTHONPATH": CHILD_PYTHONPATH}
    finally:
        _administer(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_fixture_is_an_earlier_release() -> None:
    assert _pending_after(REVISION), f"the fixture is at head ({REVISION}): regenerate it at an earlier revision"


def test_check_then_upgrade_keeps_every_row_and_the_audit_chain(old_release: tuple[str, dict[str, str]]) -> None:
    url, env = old_release
    old_columns = {t: c for t, c in _columns(url).items() if t != "alembic_version"}
    before = _rows(url, old_columns)
    assert sum(len(rows) for rows in before.values()) > 1000  # the demo's data, not an empty schema

    check = _maillage(env, "db", "upgrade", "--check")
    assert check.returncode == 1, check.stderr
    assert f"Révision actuelle de la base : {REVISION}." in check.stderr
    assert [line.split()[0] for line in check.stderr.splitlines() if line.startswith("  ")] == _pending_after(REVISION)
    assert _rows(url, old_columns) == before  # the check changed nothing

    upgraded = _maillage(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    after = _rows(url, old_columns)
    for table, rows in before.items():
        assert after[table] == rows, f"{table} changed during the upgrade"
    assert _maillage(env, "db", "upgrade", "--check").returncode == 0
    verified = _maillage(env, "audit", "verify")
    assert verified.returncode == 0 and "audit chain OK" in verified.stdout, verified.stdout + verified.stderr
