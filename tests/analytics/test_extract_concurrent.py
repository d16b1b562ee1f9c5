"""``maillage analytics extract`` beside a running server on the embedded SQLite database.

The extraction reads on a read-only connection of its own: a DEFERRED transaction that takes no write lock, so in
WAL mode it neither waits for the server's writes nor makes them wait. Before, it began ``BEGIN IMMEDIATE`` like
every session and inspected the tables on a second connection, which waited on the first: "database is locked".
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from maillage.analytics.warehouse import Warehouse
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.directory import Ght
from tests.conftest import CHILD_PYTHONPATH, ROOT
from tests.e2e.conftest import LiveServer, start_server


def add_ght(connection: sqlite3.Connection, code: str, departement: str) -> None:
    connection.execute("INSERT INTO ght (id, code, name, departement, created_at) VALUES (?, ?, ?, ?, "
                       "'2026-01-01 00:00:00')", (uuid.uuid4().hex, code, f"GHT {code}", departement))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real ``maillage serve`` on its SQLite file (migrated by the server), with one GHT in Haute-Vienne."""
    var_dir = tmp_path_factory.mktemp("extract-live") / "var"
    live = start_server(var_dir, demo=False)
    with sqlite3.connect(var_dir / "maillage.sqlite3", isolation_level=None) as con:
        add_ght(con, "GHT-87", "87")
    yield live
    live.process.terminate()
    try:
        live.process.wait(10)
    except subprocess.TimeoutExpired:
        live.process.kill()


def database(server: LiveServer) -> Path:
    return server.var_dir / "maillage.sqlite3"


class TestExtractBesideTheServer:
    def test_the_extract_runs_while_another_connection_holds_a_write_transaction(self, server):
        writer = sqlite3.connect(database(server), isolation_level=None, timeout=0)
        writer.execute("BEGIN IMMEDIATE")  # what the server holds while it writes a request's changes
        add_ght(writer, "GHT-EN-COURS", "23")
        try:
            env = {**os.environ, "MAILLAGE_VAR_DIR": str(server.var_dir), "MAILLAGE_ENVIRONMENT": "development",
                   "PYTHONPATH": CHILD_PYTHONPATH}
            env.pop("MAILLAGE_DATABASE_URL", None)
            done = subprocess.run([sys.executable, "-m", "maillage.cli", "analytics", "extract"], env=env, cwd=ROOT,
                                  capture_output=True, text=True, timeout=300)
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert done.returncode == 0, done.stderr[-2000:]
        assert "COMMUNES" in done.stderr and "locked" not in done.stderr
        # The territory's département only (the GHT not yet committed is not seen), not the whole of France.
        communes = Warehouse(server.var_dir / "warehouse").read_table("COMMUNES").to_pandas()
        assert set(communes.departement) == {"87"}
        import httpx

        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200

    def test_the_server_commits_while_an_extraction_reads(self, server):
        reader = make_engine(f"sqlite:///{database(server)}", read_only=True, pool=False)
        try:
            with make_sessionmaker(reader)() as session:
                before = session.scalar(select(func.count()).select_from(Ght))
                writer = sqlite3.connect(database(server), isolation_level=None, timeout=0)
                try:  # timeout 0: any lock held by the reader would fail this at once
                    writer.execute("BEGIN IMMEDIATE")
                    add_ght(writer, f"GHT-{uuid.uuid4().hex[:6]}", "19")
                    writer.execute("COMMIT")
                finally:
                    writer.close()
                assert session.scalar(select(func.count()).select_from(Ght)) == before  # one snapshot
                with pytest.raises(Exception, match=r"readonly|read-only"):
                    session.execute(text("DELETE FROM ght"))
        finally:
            reader.dispose()

    def test_an_ordinary_session_would_have_made_the_server_wait(self, server):
        """The contrast that shows the test above can fail: a read-write session takes the lock at BEGIN."""
        engine = make_engine(f"sqlite:///{database(server)}", pool=False)
        try:
            with make_sessionmaker(engine)() as session:
                session.scalar(select(func.count()).select_from(Ght))
                writer = sqlite3.connect(database(server), isolation_level=None, timeout=0)
                try:
                    with pytest.raises(sqlite3.OperationalError, match="locked"):
                        writer.execute("BEGIN IMMEDIATE")
                finally:
                    writer.close()
                session.rollback()
        finally:
            engine.dispose()


class TestReadOnlyEngine:
    def test_every_transaction_of_a_read_only_engine_refuses_writes_on_both_backends(self, engine):
        reader = make_engine(engine.url.render_as_string(hide_password=False), read_only=True, pool=False)
        try:
            with reader.connect() as conn:
                assert conn.execute(select(func.count()).select_from(Ght)).scalar() is not None
                with pytest.raises(Exception, match=r"read-only|readonly"):
                    conn.execute(text("INSERT INTO ght (id, code, name, departement, created_at) VALUES "
                                      "('0123456789abcdef0123456789abcdef', 'RO', 'RO', '87', '2026-01-01')"))
        finally:
            reader.dispose()
