"""Idempotent creates: one object per key, on both engines, and under eight concurrent requests on PostgreSQL."""

from __future__ import annotations

import os
import threading
from typing import Annotated

import pytest
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from maillage.config import Settings
from maillage.exceptions import Conflict, ValidationFailed
from maillage.idempotency import service as idem
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models import Job
from maillage.worker import enqueue_job
from tests.conftest import postgres_url, run_migrations, skip_or_fail


def add_probe(app) -> None:
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.post("/api/probe/things", status_code=201)
    def create_thing(body: dict, db: DbSession,
                     idempotency_key: Annotated[str | None, Header()] = None) -> JSONResponse:
        claim = None
        if idempotency_key:
            outcome = idem.begin(db, scope="probe", key=idempotency_key, method="POST",
                                 path="/api/probe/things", body=body)
            if isinstance(outcome, idem.Replay):
                return JSONResponse(outcome.body, status_code=outcome.status_code)
            claim = outcome
        job = enqueue_job(db, "test.record", marker=str(body.get("name")))
        answer = {"id": job.id, "name": body.get("name")}
        if claim is not None:
            idem.complete(db, claim, 201, answer)
        return JSONResponse(answer, status_code=201)

    app.include_router(router)


class TestBegin:
    def test_a_first_request_claims_the_key_and_a_retry_replays_the_answer(self, db):
        claim = idem.begin(db, scope="u1", key="key-00000001", method="POST", path="/x", body={"a": 1})
        assert isinstance(claim, idem.Claim)
        idem.complete(db, claim, 201, {"id": 7})
        replay = idem.begin(db, scope="u1", key="key-00000001", method="POST", path="/x", body={"a": 1})
        assert isinstance(replay, idem.Replay) and replay.body == {"id": 7} and replay.status_code == 200

    def test_the_same_key_with_another_body_is_refused(self, db):
        claim = idem.begin(db, scope="u1", key="key-00000002", method="POST", path="/x", body={"a": 1})
        idem.complete(db, claim, 201, {"id": 1})
        with pytest.raises(ValidationFailed):
            idem.begin(db, scope="u1", key="key-00000002", method="POST", path="/x", body={"a": 2})

    def test_keys_are_per_caller(self, db):
        idem.begin(db, scope="u1", key="key-00000003", method="POST", path="/x", body={})
        assert isinstance(idem.begin(db, scope="u2", key="key-00000003", method="POST", path="/x", body={}),
                          idem.Claim)

    def test_an_unfinished_claim_is_a_conflict(self, db):
        idem.begin(db, scope="u1", key="key-00000004", method="POST", path="/x", body={})
        with pytest.raises(Conflict):
            idem.begin(db, scope="u1", key="key-00000004", method="POST", path="/x", body={})

    @pytest.mark.parametrize("key", ["short", "x" * 101, "has space in it", "accentué-é-é"])
    def test_malformed_keys_are_refused(self, db, key):
        with pytest.raises(ValidationFailed):
            idem.begin(db, scope="u1", key=key, method="POST", path="/x", body={})


class TestOverHttp:
    def test_a_retried_create_makes_one_object(self, app, client, db):
        add_probe(app)
        headers = {"idempotency-key": "0c3f5a8e-retry"}
        first = client.post("/api/probe/things", json={"name": "a"}, headers=headers)
        second = client.post("/api/probe/things", json={"name": "a"}, headers=headers)
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.json() == second.json()
        assert db.query(Job).count() == 1


@pytest.fixture
def pg_app(tmp_path):
    url = postgres_url()
    if url is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    schema = f"idem_{os.getpid()}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(scoped)
    with engine.begin() as conn:
        run_migrations(conn)
    from maillage.app import create_app

    settings = Settings(environment="test", var_dir=tmp_path, secret_key="s" * 40, database_url=scoped)
    app = create_app(settings, make_sessionmaker(engine))
    add_probe(app)
    yield app, make_sessionmaker(engine)
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


class TestConcurrentCreates:
    def test_eight_parallel_identical_creates_with_one_key_make_exactly_one_object(self, pg_app):
        """One 201; the others 200 (the stored answer) or 409 (still in progress), never a second object."""
        app, sessions = pg_app
        barrier = threading.Barrier(8)
        results: list[tuple[int, dict]] = []
        lock = threading.Lock()

        def call() -> None:
            with TestClient(app, base_url="http://127.0.0.1") as c:
                barrier.wait()
                r = c.post("/api/probe/things", json={"name": "parallel"},
                           headers={"idempotency-key": "parallel-key-0001"})
                with lock:
                    results.append((r.status_code, r.json()))

        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        codes = sorted(code for code, _ in results)
        assert codes.count(201) == 1, codes
        assert set(codes) <= {200, 201, 409}, codes
        created = next(body for code, body in results if code == 201)
        assert all(body == created for code, body in results if code == 200)
        with sessions() as s:
            assert len(s.scalars(select(Job).where(Job.name == "test.record")).all()) == 1
