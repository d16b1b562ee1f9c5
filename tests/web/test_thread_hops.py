"""Hand-offs to the worker threads per request: each one costs the interpreter a queue, a wake-up and a wait for the
interpreter lock, so a request that succeeds makes two (who is calling, then the route, which commits in its own
thread) and the dependencies and response validation run on the event loop (docs/adr/0013).

Counted, not timed: every hand-off goes through ``anyio.to_thread.run_sync`` (Starlette's and FastAPI's
``run_in_threadpool`` call it), which the tests wrap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import anyio.to_thread
import pytest
from fastapi.dependencies.models import Dependant, _is_async_gen_callable, _is_coroutine_callable
from fastapi.routing import APIRoute

from maillage.auth import tokens as auth_tokens
from maillage.kit.http import UnitOfWorkRoute
from tests.fixtures import directory as dirfx
from tests.fixtures.factories import make_user
from tests.fixtures.web import sign_in


@contextmanager
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    seen: list[str] = []
    original = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(getattr(getattr(func, "func", func), "__qualname__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    yield seen


def bearer(db, user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issued = auth_tokens.create_personal_token(db, user, name="test", scopes=[])
    db.commit()
    return {"Authorization": f"Bearer {issued.secret}"}


class TestPerRequest:
    def test_an_api_read_by_token_makes_two(self, client, db, monkeypatch):
        user = make_user(db, "physician")
        headers = bearer(db, user)
        dirfx.hospital(db)
        db.commit()
        client.get("/api/auth/me", headers=headers)  # the token's first use writes its last use
        for route in ("/api/auth/me", "/api/directory/establishments", "/api/directory/specialty-lines"):
            with hops(monkeypatch) as seen:
                assert client.get(route, headers=headers).status_code == 200
            assert len(seen) == 2, (route, seen)
            assert seen[0].endswith("resolve")  # who is calling, then the route (which commits)

    def test_a_page_by_session_makes_two(self, client, db, monkeypatch):
        user = make_user(db, "physician")
        sign_in(client, db, user)
        client.get("/compte")
        with hops(monkeypatch) as seen:
            assert client.get("/compte").status_code == 200
        assert len(seen) == 2, seen

    def test_an_anonymous_page_without_database_makes_one(self, client, monkeypatch):
        with hops(monkeypatch) as seen:
            assert client.get("/connexion").status_code == 200
        assert len(seen) == 1, seen  # the route itself

    def test_a_refusal_still_rolls_back_in_a_thread(self, client, db, monkeypatch):
        """An unknown patient: the route's refusal is audited after the rollback, which the boundary does in a
        thread of its own (the route's writes must not survive an error response)."""
        user = make_user(db, "physician")
        headers = bearer(db, user)
        client.get("/api/auth/me", headers=headers)
        with hops(monkeypatch) as seen:
            assert client.get(f"/api/patients/{uuid.uuid4()}", headers=headers).status_code in (403, 404)
        assert len(seen) == 3, seen
        assert seen[2] == "_rollback"


def _sync_dependencies(dependant: Dependant) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and not (_is_coroutine_callable(call) or _is_async_gen_callable(call)):
            found.append(getattr(call, "__qualname__", repr(call)))
        found += _sync_dependencies(sub)
    return found


def _api_routes(routes) -> Iterator[APIRoute]:  # type: ignore[no-untyped-def]
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _api_routes(route.original_router.routes)


class TestEveryRoute:
    def test_routes_and_their_dependencies_are_coroutines(self, app):
        """A plain ``def`` dependency or route would be one more hop per request: the unit-of-work routes run their
        body in a thread themselves, and dependencies only read what the middleware resolved."""
        routes = [r for r in _api_routes(app.routes) if isinstance(r, UnitOfWorkRoute)]
        assert len(routes) > 100
        offenders = {f"{sorted(r.methods)} {r.path}": deps for r in routes if (deps := _sync_dependencies(r.dependant))}
        assert offenders == {}
        assert all(_is_coroutine_callable(r.dependant.call) for r in routes)
