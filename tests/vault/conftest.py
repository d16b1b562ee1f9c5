"""Every vault test gets its own key directory and blob folder under tmp_path, put in place for the process.

``fresh_database``: an empty database of the test's backend whose commits are real (a SQLite file; a PostgreSQL
schema of its own, dropped after the test), with the files its data can reach: the at-rest tests search them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from maillage.kit.db import make_engine
from maillage.vault.blobstore import LocalBlobStore, use_blobstore
from maillage.vault.keys import DirectoryKeyRing, use_keyring
from tests.conftest import postgres_url, skip_or_fail


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "var" / "keys"


@pytest.fixture
def keyring(key_dir: Path) -> Iterator[DirectoryKeyRing]:
    ring = DirectoryKeyRing.create(key_dir)
    with use_keyring(ring):
        yield ring


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[LocalBlobStore]:
    store = LocalBlobStore(tmp_path / "var" / "blobs", max_bytes=4 * 1024 * 1024)
    with use_blobstore(store):
        yield store


def _sqlite_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}*"))


def _checkpoint_sqlite(engine: Engine) -> None:
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        raw.close()


def _wal_segment(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(text("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")))


def _postgres_files(engine: Engine, schema: str, first_segment: str) -> list[Path]:
    """The files of the schema's tables, their TOAST tables and every index, and the WAL segments written since
    ``first_segment`` (after a checkpoint, so the data files hold the rows too)."""
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        last_segment = str(conn.scalar(text("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")))
        data_dir = Path(conn.scalar(text("SHOW data_directory")))
        relations = conn.scalars(text(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relkind IN ('r', 'i') "
            "UNION SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.reltoastrelid <> 0 "
            "UNION SELECT pg_relation_filepath(i.indexrelid) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace JOIN pg_index i ON i.indrelid = c.reltoastrelid WHERE n.nspname = :s"),
            {"s": schema}).all()
    if not os.access(data_dir, os.R_OK | os.X_OK):
        # The scan cannot run here (PostgreSQL under another account): a failure where PostgreSQL is mandatory (CI).
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES",
                     f"le dossier de données de PostgreSQL ({data_dir}) n'est pas lisible par ce processus")
    files: list[Path] = []
    for relative in relations:
        if relative:
            files += [p for p in (data_dir / relative).parent.glob(f"{Path(relative).name}*") if p.is_file()]
    files += [p for p in (data_dir / "pg_wal").iterdir()
              if p.is_file() and len(p.name) == 24 and first_segment <= p.name <= last_segment]
    return files


@dataclass
class FreshDatabase:
    engine: Engine
    _files: Callable[[str], list[Path]]
    _since: str = ""
    _mark: Callable[[], str] = field(default=lambda: "")

    def mark(self) -> None:
        """Search only what is written from now on (PostgreSQL's WAL: segments from the current one)."""
        self._since = self._mark()

    def files(self) -> list[Path]:
        return self._files(self._since)


@pytest.fixture
def fresh_database(backend: str, tmp_path: Path) -> Iterator[FreshDatabase]:
    if backend == "sqlite":
        path = tmp_path / "fresh" / "maillage.sqlite3"
        path.parent.mkdir()
        engine = make_engine(f"sqlite:///{path}")

        def sqlite_files(_since: str) -> list[Path]:
            _checkpoint_sqlite(engine)
            return _sqlite_files(path)

        yield FreshDatabase(engine, sqlite_files)
        engine.dispose()
        return
    url = postgres_url()
    assert url is not None
    schema = f"fresh_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{separator}options=-csearch_path%3D{schema}")
    try:
        database = FreshDatabase(engine, lambda since: _postgres_files(engine, schema, since),
                                 _mark=lambda: _wal_segment(engine))
        database.mark()
        yield database
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
