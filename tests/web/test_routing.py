"""The routers' quick refusal (web/routing.py) changes which router is asked, never which route answers: for every
route of the application (each method, a sample path built from its template), for paths that are no route, and for
the trailing-slash variants, every guarded router gives the answer it gives without its guard."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from starlette.routing import Match

from maillage.web.routing import guard_included_routers, literal_prefixes

PARAM = re.compile(r"\{([^}:]+)(?::([^}]+))?\}")


def sample_path(template: str) -> str:
    def value(m: re.Match[str]) -> str:
        return {"path": "un/chemin", "int": "7"}.get(m.group(2) or "", str(uuid.UUID(int=7)))
    return PARAM.sub(value, template)


def scope(path: str, method: str = "GET", kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "method": method, "path": path, "root_path": "", "query_string": b"", "headers": []}


def unguarded(route: Any, s: dict[str, Any]) -> Match:
    return type(route).matches(route, dict(s))[0]


def every_scope(app: Any) -> list[dict[str, Any]]:
    scopes = [scope(p) for p in ("/", "/nulle-part", "/api/nulle-part", "/api", "/fhir", "/static/x.css",
                                  "/api/messaging", "/patients/", "//api/auth/me")]
    for route in app.router.routes:
        if not hasattr(route, "original_router"):
            continue
        for context in route.effective_route_contexts():
            template = getattr(context, "path_format", None) or context.original_route.path_format
            path = sample_path(template)
            methods = getattr(context.original_route, "methods", None) or {"GET"}
            for method in sorted(methods):
                scopes.append(scope(path, method))
            scopes += [scope(path + "/"), scope(path.rstrip("/") or "/"), scope(path, "DELETE"),
                       scope(path, kind="websocket")]
    return scopes


class TestGuard:
    def test_most_routers_are_guarded(self, app):
        included = [r for r in app.router.routes if hasattr(r, "original_router")]
        guarded = [r for r in included if getattr(r, "maillage_guarded", False)]
        assert len(included) >= 30
        assert len(guarded) >= len(included) - 3, [literal_prefixes(r) for r in included if r not in guarded]
        # Installed once: a second call guards nothing more.
        assert guard_included_routers(app) == 0

    def test_a_guarded_router_answers_as_it_would_without_its_guard(self, app):
        scopes = every_scope(app)
        assert len(scopes) > 500
        differences = []
        for route in app.router.routes:
            if not getattr(route, "maillage_guarded", False):
                continue
            for s in scopes:
                guarded, plain = route.matches(dict(s))[0], unguarded(route, s)
                if guarded != plain:
                    differences.append((s["method"], s["path"], s["type"], guarded, plain))
        assert differences == []

    def test_a_path_no_prefix_begins_is_refused_without_trying_a_route(self, app, monkeypatch):
        route = next(r for r in app.router.routes if getattr(r, "maillage_guarded", False)
                     and all(p.startswith("/api/") for p in literal_prefixes(r) or ()))
        tried: list[str] = []
        monkeypatch.setattr(type(route), "_match", lambda self, s: tried.append(s["path"]) or (Match.NONE, {}, None,
                                                                                              None))
        assert route.matches(scope("/patients"))[0] is Match.NONE
        assert tried == []

    @pytest.mark.parametrize("path", ["/api/auth/me", "/compte", "/connexion"])
    def test_requests_still_reach_their_route(self, client, path):
        # Anonymous: the page or the 401 of its own route, never the 404 of no route at all.
        assert client.get(path, follow_redirects=False).status_code != 404
