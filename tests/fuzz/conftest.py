"""The world the fuzzer runs in: the demo data on the test database, one bearer token per role, no rate limit.

Per backend (SQLite always, PostgreSQL when configured), one transaction holds the demo data and the
tokens for the whole module and is rolled back at the end; each pass runs inside a savepoint rolled
back after it, so every identity starts from the same demo state whatever the previous pass did.

The rate limiter is switched off for the fuzz app (``Settings.rate_limit_enabled=False``): thousands of
requests a minute from one address and one account are the point of the exercise, and a 429 would
hide the answer the fuzzer is looking for. The limiter itself is tested in ``tests/web/test_limits.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from maillage.config import Settings
from tests.conftest import savepoint_sessions
from tests.fuzz.harness import ANONYMOUS, Budget, PassReport, coverage_plan, summary_lines

REPORTS: list[PassReport] = []


def demo_roles() -> dict[str, str]:
    """Role → the first demo account of that role (``maillage.demo.accounts.DEMO_ACCOUNTS``)."""
    from maillage.demo.accounts import DEMO_ACCOUNTS

    roles: dict[str, str] = {}
    for account in DEMO_ACCOUNTS:
        roles.setdefault(account.role.value, account.username)
    return roles


def seed_demo(session: Session) -> None:
    """The demo ``make run`` loads: the whole territory (``maillage.demo.load.build_demo``)."""
    from maillage.demo.load import build_demo

    build_demo(session)
    session.flush()


IDENTITIES = [ANONYMOUS, *demo_roles()]


@dataclass
class Identity:
    role: str
    username: str
    token: str
    protected_ids: frozenset[str]  # the token's id and the account's id: the pass never revokes or disables them


@dataclass
class FuzzWorld:
    backend: str
    connection: Connection
    app: Any
    identities: dict[str, Identity]
    _coverage: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)

    def coverage_on(self, identity: str) -> frozenset[tuple[str, str]]:
        """The operations whose coverage cases this identity sends in ``make test`` (``harness.coverage_plan``)."""
        if not self._coverage:
            roles = [None if i == ANONYMOUS else i for i in IDENTITIES]
            self._coverage = dict(zip(IDENTITIES, coverage_plan(self.app, roles), strict=True))
        return self._coverage[identity]

    def still_authenticated(self, token: str) -> bool:
        with TestClient(self.app, raise_server_exceptions=False) as client:
            return client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.fixture(scope="module")
def fuzz_world(engine: Engine, backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    from maillage.app import create_app
    from maillage.auth import service as auth
    from maillage.auth import tokens as auth_tokens

    # Module-scoped twins of tests/conftest.py's ``connection`` and ``sessions`` (function-scoped there): one
    # transaction for the whole module, commits of the code under test turned into savepoints.
    connection = engine.connect()
    outer = connection.begin()
    sessions = savepoint_sessions(connection)
    var_dir: Path = tmp_path_factory.mktemp(f"fuzz-{backend}")
    settings = Settings(environment="test", var_dir=var_dir, secret_key="f" * 40, log_json=True, log_level="ERROR",
                        rate_limit_enabled=False)
    identities: dict[str, Identity] = {}
    try:
        with sessions() as db:
            seed_demo(db)
            for role, username in demo_roles().items():
                user = auth.get_user(db, username)
                issued = auth_tokens.create_personal_token(db, user, name="fuzz", scopes=[], days=1, settings=settings)
                identities[role] = Identity(role, username, issued.secret, frozenset({str(issued.id), str(user.id)}))
            db.commit()
        yield FuzzWorld(backend, connection, create_app(settings, sessions), identities)
    finally:
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def fuzz_savepoint(fuzz_world: FuzzWorld) -> Iterator[FuzzWorld]:
    """Whatever one pass writes is undone before the next."""
    savepoint = fuzz_world.connection.begin_nested()
    try:
        yield fuzz_world
    finally:
        if savepoint.is_active:
            savepoint.rollback()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORTS:
        return
    terminalreporter.section("fuzzing de l'API")
    for line in summary_lines(REPORTS, Budget.from_env()):
        terminalreporter.write_line(line)
