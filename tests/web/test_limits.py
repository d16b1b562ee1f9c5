"""Limits: body size (413), JSON nesting (422), API rate (429 with Retry-After), database timeouts (503)."""

from __future__ import annotations

import json
import random
import time

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import text

from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models import Job
from maillage.web.limits import RateLimitMiddleware, json_depth_exceeds, json_has_nul
from maillage.worker import enqueue_job
from tests.conftest import postgresql_only
from tests.fixtures.web import csrf_token


class Payload(BaseModel):
    value: object = None


@pytest.fixture
def probe(app):
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.post("/api/probe/echo")
    def echo(body: Payload, db: DbSession) -> dict:
        enqueue_job(db, "test.record", marker="echo")
        return {"ok": True}

    @router.post("/api/probe/upload")
    async def upload(request: Request) -> dict:
        form = await request.form()
        return {"fields": len(form)}

    @router.get("/api/probe/slow")
    def slow(db: DbSession) -> dict:
        db.execute(text("SELECT pg_sleep(2)"))
        return {}

    app.include_router(router)
    return app


class TestJsonDepth:
    @pytest.mark.parametrize(
        ("body", "exceeds"),
        [(b"[]", False), (b"[[[[]]]]", False), (b"[[[[[]]]]]", True), (b'{"a": "[[[[[[[[[["}', False),
         (b'{"a": "\\\\", "b": [[[[[1]]]]]}', True), (b'"\\"[[[[[["', False),
         # an unterminated string runs to the end, as a parser would read it
         (b'"[[[[[[', False), (b'"a" [[[[[1', True), (b'"a" "[[[[[[', False), (b'"\\\\" [[[[[', True),
         (b'"\\"" [[[[[', True), (b'"\\" [[[[[', False)],
    )
    def test_nesting_is_counted_outside_strings(self, body, exceeds):
        assert json_depth_exceeds(body, 4) is exceeds

    def test_agrees_with_a_byte_by_byte_scan(self):
        """The check cuts strings out with a split or a regular expression; on 100,000 short random documents of
        brackets, quotes and backslashes it must decide exactly as the plain scan it replaced."""
        def scan(body: bytes, max_depth: int) -> bool:
            depth, in_string, escaped = 0, False, False
            for byte in body:
                if in_string:
                    escaped, in_string = (False, True) if escaped else (byte == 0x5C, byte != 0x22)
                elif byte == 0x22:
                    in_string = True
                elif byte in b"[{":
                    depth += 1
                    if depth > max_depth:
                        return True
                elif byte in b"]}":
                    depth -= 1
            return False

        rnd = random.Random(20261128)
        for _ in range(100_000):
            body = bytes(rnd.choice(b'[]{}"\\a') for _ in range(rnd.randint(0, 14)))
            depth = rnd.randint(0, 4)
            assert json_depth_exceeds(body, depth) is scan(body, depth), (body, depth)


class TestBodyLimits:
    def test_a_declared_oversized_body_is_413_and_changes_nothing(self, probe, client, db, settings):
        big = json.dumps({"value": "x" * (settings.max_body_bytes + 10)})
        response = client.post("/api/probe/echo", content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        assert db.query(Job).count() == 0

    def test_an_undeclared_chunked_oversized_body_is_413_too(self, probe, client, settings):
        def chunks():
            for _ in range(settings.max_body_bytes // 1024 + 2):
                yield b"x" * 1024

        response = client.post("/api/probe/echo", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413

    def test_a_deeply_nested_json_is_422_not_a_crash(self, probe, client, db):
        nested = "[" * 100_000 + "]" * 100_000
        response = client.post("/api/probe/echo", content=nested, headers={"content-type": "application/json"})
        assert response.status_code == 422 and response.json()["error"]["code"] == "json_too_deep"
        assert db.query(Job).count() == 0

    def test_uploads_have_their_own_larger_limit(self, probe, client, settings):
        headers = {"x-csrf-token": csrf_token(client)}
        files = {"f": ("a.bin", b"x" * (settings.max_body_bytes + 1000), "application/octet-stream")}
        assert client.post("/api/probe/upload", files=files, headers=headers).status_code == 200
        files = {"f": ("a.bin", b"x" * (settings.max_upload_bytes + 1000), "application/octet-stream")}
        assert client.post("/api/probe/upload", files=files, headers=headers).status_code == 413

    def test_a_normal_body_passes(self, probe, client, db):
        assert client.post("/api/probe/echo", json={"value": [1, 2, {"a": 3}]}).status_code == 200
        assert db.query(Job).count() == 1


class TestJsonHasNul:
    @pytest.mark.parametrize(
        ("body", "found"),
        [(b'{"a": "x\\u0000y"}', True), (b'{"a\\u0000": 1}', True), (b'{"a": "\\\\u0000"}', False),
         (b'{"a": "\\u00001"}', True), (b'{"a": "u0000"}', False), (b'{"a": "\\u0001"}', False), (b"[]", False)],
    )
    def test_only_an_escaped_nul_inside_a_string_counts(self, body, found):
        assert json_has_nul(body) is found


class TestNulCharacter:
    """Found by fuzzing on PostgreSQL: POST /api/authz/break-glass with U+0000 in the reason was a 500
    (psycopg refuses NUL in text); SQLite stored it. U+0000 is now refused everywhere, before any parser."""

    def test_a_json_body_with_an_escaped_nul_is_422_and_changes_nothing(self, probe, client, db):
        response = client.post("/api/probe/echo", content=b'{"value": "avant\\u0000apr\xc3\xa8s"}',
                               headers={"content-type": "application/json"})
        assert response.status_code == 422
        assert response.json()["error"] == {**response.json()["error"], "code": "nul_character",
                                            "message": "Le caractère nul (U+0000) n'est pas accepté dans les "
                                                       "données envoyées."}
        assert db.query(Job).count() == 0

    @pytest.mark.parametrize("content_type", ["application/vnd.maillage+json; charset=utf-8",
                                              "Application/JSON; charset=utf-8", None])
    def test_every_json_media_type_is_checked_and_a_body_without_one_too(self, probe, client, db, content_type):
        """FastAPI reads a body without Content-Type as JSON, and a route may accept any ``+json`` type: the NUL
        and depth checks apply to each, parameters and case aside."""
        headers = {"content-type": content_type} if content_type else {}
        response = client.post("/api/probe/echo", content=b'{"value": "a\\u0000b"}', headers=headers)
        assert response.json()["error"]["code"] == "nul_character"
        deep = client.post("/api/probe/echo", content=b"[" * 1000 + b"]" * 1000, headers=headers)
        assert deep.json()["error"]["code"] == "json_too_deep"
        assert db.query(Job).count() == 0

    def test_a_nul_in_the_query_string_or_the_path_is_422(self, probe, client):
        assert client.get("/api/auth/me?q=a%00b").status_code == 422
        assert client.get("/api/probe/echo%00").json()["error"]["code"] == "nul_character"

    def test_a_nul_in_a_form_is_422_but_an_uploaded_file_may_hold_any_byte(self, probe, client):
        headers = {"x-csrf-token": csrf_token(client)}
        response = client.post("/api/probe/upload", content=b"a=1%00", headers={
            **headers, "content-type": "application/x-www-form-urlencoded"})
        assert response.status_code == 422
        files = {"f": ("a.bin", b"\x00\x01\x00", "application/octet-stream")}
        assert client.post("/api/probe/upload", files=files, headers=headers).status_code == 200

    def test_the_break_glass_reason_with_a_nul_is_refused_on_every_backend(self, client, db):
        from maillage.auth import tokens
        from maillage.models.authz import BreakGlassAccess
        from tests.fixtures.factories import make_user

        issued = tokens.create_personal_token(db, make_user(db, "physician"), name="t", scopes=[])
        db.commit()
        body = b'{"patient_id": "e3e70682-c209-1cac-a29f-6fbed82c07cd", "reason": "Patient inconscient \\u0000 arrive"}'
        response = client.post("/api/authz/break-glass", content=body, headers={
            "authorization": f"Bearer {issued.secret}", "content-type": "application/json"})
        assert response.status_code == 422
        assert db.query(BreakGlassAccess).count() == 0


class TestRateLimit:
    def test_the_window_counts_and_resets(self):
        limiter = RateLimitMiddleware(app=None, render=None)  # type: ignore[arg-type]
        assert [limiter.hit("k", 2, 60.0) for _ in range(3)] == [0, 0, 60]
        assert limiter.hit("k", 2, 119.5) == 1
        assert limiter.hit("k", 2, 120.0) == 0

    def test_an_address_over_its_limit_gets_429_with_retry_after(self, app, settings):
        settings.api_rate_per_minute_address = 5
        # The limiter counts in fixed one-minute windows of the wall clock: eight requests that straddled a minute
        # would start a new window half-way. Start them well inside one.
        if (second := time.time() % 60) > 45:
            time.sleep(61 - second)
        with TestClient(app, base_url="http://127.0.0.1") as c:
            codes = [c.get("/api/auth/me").status_code for _ in range(7)]
            last = c.get("/api/auth/me")
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        assert last.status_code == 429 and 1 <= int(last.headers["retry-after"]) <= 60
        assert last.json()["error"]["code"] == "too_many_requests"

    def test_two_serve_processes_share_the_count_through_the_database(self, settings, sessions):
        """Behind a proxy, requests from one address go to either server: the limit holds across them (two
        applications on one database stand for two serve processes)."""
        from maillage.app import create_app

        settings.api_rate_per_minute_address = 5
        settings.rate_limit_store = "database"
        if (second := time.time() % 60) > 45:
            time.sleep(61 - second)
        first, other = create_app(settings, sessions), create_app(settings, sessions)
        with TestClient(first, base_url="http://127.0.0.1") as a, TestClient(other, base_url="http://127.0.0.1") as b:
            codes = [(a if i % 2 else b).get("/api/auth/me").status_code for i in range(7)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]

    def test_the_memory_store_counts_per_process(self, settings, sessions):
        from maillage.app import create_app

        settings.api_rate_per_minute_address = 5
        settings.rate_limit_store = "memory"
        if (second := time.time() % 60) > 45:
            time.sleep(61 - second)
        first, other = create_app(settings, sessions), create_app(settings, sessions)
        with TestClient(first, base_url="http://127.0.0.1") as a, TestClient(other, base_url="http://127.0.0.1") as b:
            codes = [(a if i % 2 else b).get("/api/auth/me").status_code for i in range(7)]
        assert codes == [401] * 7

    def test_pages_are_not_rate_limited_by_the_api_limiter(self, app, settings):
        settings.api_rate_per_minute_address = 1
        with TestClient(app, base_url="http://127.0.0.1") as c:
            assert all(c.get("/connexion").status_code == 200 for _ in range(5))


class TestDatabaseTimeouts:
    @postgresql_only  # statement_timeout is a PostgreSQL setting
    def test_a_statement_over_the_timeout_is_a_503_with_retry_after(self, probe, client, backend, db):
        db.execute(text("SET statement_timeout = 200"))
        response = client.get("/api/probe/slow")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "query_timeout" and response.headers["retry-after"] == "5"
