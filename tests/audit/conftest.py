"""Committed databases for the audit chain: tampering, purges and concurrency need real commits.

``chain_db`` is a fresh migrated database per test, a SQLite file or a private PostgreSQL schema (like
tests/worker/test_processes.py), so these tests never touch the shared rolled-back schema. ``as_dba``
tampers with it as a database administrator would: around the application's triggers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from maillage.audit import service
from maillage.kit.db import make_engine, make_sessionmaker
from tests.conftest import postgres_url, run_migrations, skip_or_fail

SQLITE_TRIGGERS = ("audit_entry_no_update", "audit_entry_no_delete", "audit_anchor_no_update",
                   "audit_anchor_no_delete", "audit_entry_patient_no_update", "audit_entry_patient_no_delete")


@dataclass
class ChainDb:
    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    def as_dba(self, *statements: str, **params: Any) -> None:
        """Run ``statements`` in one transaction with the append-only triggers out of the way."""
        with self.engine.begin() as conn:
            if self.backend == "postgresql":
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                for trigger in SQLITE_TRIGGERS:
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
            for statement in statements:
                conn.execute(text(statement), params)

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
