"""The HTTP unit of work after issue #18: a sync route that returns normally commits at the end of its own thread (no
second hop), while error answers, exceptions and ``commit_on_error`` keep the boundary's behaviour; an audited read
is written in the route's transaction or not at all."""

from __future__ import annotations

import threading

import pytest
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from maillage.audit import service as audit
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models.audit import AuditEntry


@pytest.fixture
def probe_app(app):
    router = APIRouter(route_class=UnitOfWorkRoute)
    seen: dict[str, int] = {}

    def trace(db, tag: str) -> None:
        seen["route_thread"] = threading.get_ident()
        audit.record(db, action="read", object_type="probe", object_id=tag)

    @router.get("/probe/ok")
    def ok(db: DbSession) -> dict:
        trace(db, "ok")
        return {"ok": True}

    @router.get("/probe/refused")
    def refused(db: DbSession) -> JSONResponse:
        trace(db, "refused")
        return JSONResponse({"error": "no"}, status_code=409)

    @router.get("/probe/kept")
    def kept(request: Request, db: DbSession) -> JSONResponse:
        trace(db, "kept")
        request.state.commit_on_error = True
        return JSONResponse({"error": "counted"}, status_code=401)

    @router.get("/probe/raised")
    def raised(db: DbSession) -> dict:
        trace(db, "raised")
        raise HTTPException(status_code=403, detail="non")

    app.include_router(router)
    app.state.probe_seen = seen
    return app


@pytest.fixture
def hops(monkeypatch):
    """What the boundary hands to a thread after the route (the commit used to be one more hop)."""
    import maillage.kit.http as http

    handed: list[str] = []
    original = http.run_in_threadpool

    async def counting(func, *args, **kwargs):
        handed.append(getattr(func, "__name__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(http, "run_in_threadpool", counting)
    return handed


def traced(db, tag: str) -> list[str]:
    return list(db.scalars(select(AuditEntry.outcome).where(AuditEntry.object_type == "probe",
                                                            AuditEntry.object_id == tag)))


class TestCommitInTheRoutesThread:
    def test_a_route_that_returns_commits_in_its_own_thread(self, probe_app, client, db, hops):
        response = client.get("/probe/ok")
        assert response.status_code == 200
        assert "_commit" not in hops  # committed by the route's thread, before it returned
        assert traced(db, "ok") == ["success"]

    def test_an_error_answer_rolls_the_route_back(self, probe_app, client, db):
        assert client.get("/probe/refused").status_code == 409
        assert traced(db, "refused") == []

    def test_commit_on_error_still_keeps_the_writes(self, probe_app, client, db, hops):
        assert client.get("/probe/kept").status_code == 401
        assert hops.count("_commit") == 1  # by the boundary, as before
        assert traced(db, "kept") == ["success"]

    def test_an_exception_rolls_the_route_back(self, probe_app, client, db):
        assert client.get("/probe/raised").status_code == 403
        assert traced(db, "raised") == []
