"""The SQL statements a request sends: counted per request (Server-Timing, Prometheus), and held flat as data grows.

These counts are what ``benchmarks/web_load.py`` prints per route; a route whose statements grow with the rows it
lists (one query per row) fails here. Tests never time anything: only statements are counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event

from maillage.auth import tokens as auth_tokens
from maillage.config import Settings
from tests.fixtures import directory as dirfx
from tests.fixtures import teleexpertise as tefx
from tests.fixtures.factories import make_user
from tests.fixtures.web import sign_in

TIMING = re.compile(r'^sql;dur=[0-9.]+;desc="(\d+)"$')


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(environment="test", var_dir=tmp_path / "var", log_json=True, secret_key="t" * 40,
                    server_timing=True)


def statements(response) -> int:
    found = TIMING.match(response.headers.get("server-timing", ""))
    assert found is not None, response.headers
    return int(found.group(1))


def bearer(db, user) -> dict[str, str]:
    issued = auth_tokens.create_personal_token(db, user, name="test", scopes=[])
    db.commit()
    return {"Authorization": f"Bearer {issued.secret}"}


class TestCounting:
    def test_a_request_without_database_work_sends_none(self, client):
        assert statements(client.get("/connexion")) == 0

    def test_the_header_is_off_unless_asked(self, db, tmp_path, sessions):
        from fastapi.testclient import TestClient

        from maillage.app import create_app

        plain = create_app(Settings(environment="test", var_dir=tmp_path / "v2", secret_key="t" * 40), sessions)
        with TestClient(plain, base_url="http://127.0.0.1") as c:
            assert "server-timing" not in c.get("/connexion").headers

    def test_the_metrics_count_statements_by_route(self, client, db):
        user = make_user(db, "physician")
        response = client.get("/api/auth/me", headers=bearer(db, user))
        assert response.status_code == 200
        body = client.get("/metrics").text
        line = next(x for x in body.splitlines()
                    if x.startswith("maillage_db_statements_total") and 'route="/api/auth/me"' in x)
        assert float(line.rsplit(" ", 1)[1]) == statements(response)


@contextmanager
def sent() -> Iterator[list[str]]:
    """The statements sent meanwhile, but the savepoints of the tests' rolled-back transaction."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


class TestWhoIsCalling:
    """Who is calling costs one statement: the token or session, its account and the account's establishments in one
    query (joins); /api/auth/me answers from the actor without another one (docs/adr/0015)."""

    def test_by_token(self, client, db):
        user = make_user(db, "physician")
        headers = bearer(db, user)
        client.get("/api/auth/me", headers=headers)  # the first use writes the token's last use
        with sent() as seen:
            assert client.get("/api/auth/me", headers=headers).status_code == 200
        assert len(seen) == 1, seen
        assert "FROM api_token LEFT OUTER JOIN user_account" in seen[0]
        assert "LEFT OUTER JOIN user_establishment" in seen[0]

    def test_by_session_cookie(self, client, db):
        user = make_user(db, "physician")
        sign_in(client, db, user)
        client.get("/api/auth/me")
        with sent() as seen:
            assert client.get("/api/auth/me").status_code == 200
        assert len(seen) == 1, seen
        assert "FROM auth_session JOIN user_account" in seen[0]
        assert "LEFT OUTER JOIN user_establishment" in seen[0]


class TestFlatAsDataGrows:
    """Each main route's statements are the same with few and with more rows to list."""

    def test_directory_lists(self, client, db):
        user = make_user(db, "physician")
        headers = bearer(db, user)
        dirfx.hospital(db)
        db.commit()
        routes = ["/api/directory/establishments", "/api/directory/professionals", "/api/directory/specialty-lines",
                  "/api/directory/ght", "/api/directory/specialties"]
        client.get("/api/auth/me", headers=headers)  # the token's first use writes its last use
        before = {r: statements(client.get(r, headers=headers)) for r in routes}
        for _ in range(4):
            dirfx.hospital(db)
            dirfx.professional(db)
        db.commit()
        after = {r: statements(client.get(r, headers=headers)) for r in routes}
        assert after == before

    def test_teleexpertise_requests_and_home(self, client, db):
        w = tefx.world(db)
        tefx.submitted(db, w)
        db.commit()
        headers = bearer(db, w.requester)
        sign_in(client, db, w.requester)
        routes = ["/api/teleexpertise/requests", "/"]

        def count(route: str) -> int:
            response = client.get(route, headers=headers if route.startswith("/api/") else None)
            assert response.status_code == 200, (route, response.status_code)
            return statements(response)

        for route in routes:
            count(route)  # the first use of the token and of the session writes their last use
        before = {r: count(r) for r in routes}
        for _ in range(4):
            tefx.submitted(db, w)
        db.commit()
        after = {r: count(r) for r in routes}
        assert after == before
