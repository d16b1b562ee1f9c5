"""Committed databases for the audit chain: tampering, purges and concurrency need real commits.

``chain_db`` is a fresh migrated database per test, a SQLite file or a private PostgreSQL schema (like
tests/worker/test_processes.py), so these tests never touch the shared rolled-back schema. ``as_dba``
tampers with it as a database administrator would: around the application's triggers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import pytest
from sqlalchemy import Connection, Engine, Table, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from maillage.audit import service
from maillage.audit.checkpoints import MemoryCheckpointStore, use_checkpoint_store
from maillage.audit.keys import AuditKeys, use_audit_keys
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.audit import AuditEntry
from tests.conftest import postgres_url, run_migrations, skip_or_fail

ENTRY = cast(Table, AuditEntry.__table__)

# The audit key of these tests (32 bytes), held by the process and never by the database.
TEST_KEYS = AuditKeys([("test-2026", bytes(range(32)))], source="tests")


@pytest.fixture(autouse=True)
def audit_keys() -> Iterator[AuditKeys]:
    with use_audit_keys(TEST_KEYS) as keys:
        yield keys


@pytest.fixture(autouse=True)
def checkpoints() -> Iterator[MemoryCheckpointStore]:
    """The register of signed checkpoints, outside the database (the fake; tests/audit/test_checkpoints.py
    exercises the file adapter)."""
    with use_checkpoint_store(MemoryCheckpointStore()) as store:
        assert isinstance(store, MemoryCheckpointStore)
        yield store


SQLITE_TRIGGERS = ("audit_entry_no_update", "audit_entry_no_delete", "audit_anchor_no_update",
                   "audit_anchor_no_delete", "audit_entry_patient_no_update", "audit_entry_patient_no_delete")


@dataclass
class ChainDb:
    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def dba(self) -> Iterator[Connection]:
        """One transaction with the append-only triggers out of the way, as a database administrator has it."""
        with self.engine.begin() as conn:
            if self.backend == "postgresql":
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                for trigger in SQLITE_TRIGGERS:
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
            yield conn

    def as_dba(self, *statements: str, **params: Any) -> None:
        """Run ``statements`` in one transaction with the append-only triggers out of the way."""
        with self.dba() as conn:
            for statement in statements:
                conn.execute(text(statement), params)

    def overwrite(self, rows: list[dict[str, Any]]) -> None:
        """Store ``rows`` (whole entries) over the entries of the same seq, as the administrator can."""
        with self.dba() as conn:
            for row in rows:
                conn.execute(update(ENTRY).where(ENTRY.c.seq == row["seq"]).values(**row))

    def scalar(self, statement: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(statement), params).scalar()

    def rows(self, statement: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(statement), params))

    def record(self, count: int = 1, **fields: Any) -> None:
        """``count`` entries in one committed transaction."""
        with self.sessions() as session:
            for i in range(count):
                service.record(session, **{"action": "read", "object_type": "observation", "object_id": f"obs-{i}",
                                           "patient_id": "patient-1", "actor_id": "user-1",
                                           "actor_role": "physician", **fields})
            session.commit()

    def verify(self) -> service.VerifyReport:
        with self.sessions() as session:
            return service.verify_chain(session, batch_size=100)

    def checkpoint(self) -> service.CheckpointResult:
        with self.sessions() as session:
            return service.write_checkpoint(session, batch_size=100)

    def rows_from(self, seq: int) -> list[dict[str, Any]]:
        """The entries from ``seq`` to the head, typed as the application reads them."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(ENTRY).where(ENTRY.c.seq >= seq).order_by(ENTRY.c.seq))
                    .mappings()]

    def entry_id(self, seq: int) -> str:
        return str(uuid.UUID(str(self.scalar("SELECT id FROM audit_entry WHERE seq = :seq", seq=seq))))


def _sqlite_url(tmp_path: Any) -> str:
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    eng = make_engine(url)
    with eng.begin() as conn:
        run_migrations(conn)
    eng.dispose()
    return url


@pytest.fixture
def pg_chain_url() -> Iterator[str]:
    """A private, migrated PostgreSQL schema for one test."""
    url = postgres_url()
    if url is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    assert url is not None
    schema = f"audit_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    eng = make_engine(scoped)
    with eng.begin() as conn:
        run_migrations(conn)
    eng.dispose()
    yield scoped
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def chain_db(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[ChainDb]:
    url = _sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_chain_url")
    engine = make_engine(url)
    yield ChainDb(str(request.param), url, engine, make_sessionmaker(engine))
    engine.dispose()


@pytest.fixture
def sqlite_chain_url(tmp_path: Any) -> str:
    return _sqlite_url(tmp_path)
