"""Error rendering found wanting by the API fuzzer (issue 8): the Allow header of a 405, the documented 400."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from maillage.kit.http import UnitOfWorkRoute
from maillage.web.errors import COMMON_RESPONSES


class Note(BaseModel):
    text: str


@pytest.fixture
def resource_app(app):
    """One resource declared as two routes, the way every package writes list + create."""
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/api/probe/notes")
    def list_notes() -> list[str]:
        return []

    @router.post("/api/probe/notes", status_code=201)
    def create_note(note: Note) -> dict:
        return {"text": note.text}

    app.include_router(router)
    return app


class TestAllowedMethods:
    def test_a_405_names_every_method_of_the_resource_not_only_the_first_route(self, resource_app, client):
        """Found by Schemathesis (allow_header_conformance): ``OPTIONS /api/auth/tokens`` answered ``Allow: GET``
        although the resource also takes POST. RFC 9110 §15.5.6: the Allow header lists the methods supported."""
        response = client.request("PUT", "/api/probe/notes")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert response.json()["error"]["message"] == "Cette méthode n'est pas permise ici."

    def test_a_405_on_a_single_route_still_names_its_method(self, client):
        response = client.post("/api/auth/me")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"

    def test_static_files_keep_their_own_allow_header(self, client):
        response = client.post("/static/maillage.css")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"


class TestUnreadableBody:
    def test_a_body_that_is_not_utf8_is_a_documented_400_with_a_french_message(self, resource_app, client):
        """Found by Schemathesis (status_code_conformance): POST /api/auth/tokens with bytes that are not UTF-8
        answered 400, a status the OpenAPI document did not declare for any operation."""
        response = client.post("/api/probe/notes", content=b"\xb1\xc1\x91\xd4\xd1\"\xb8",
                               headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert response.json()["error"]["message"] == "La demande est mal formée."
        operation = client.get("/api/openapi.json").json()["paths"]["/api/probe/notes"]["post"]
        assert "400" in operation["responses"]

    def test_400_is_documented_for_every_operation(self, client):
        assert 400 in COMMON_RESPONSES
        for path, operations in client.get("/api/openapi.json").json()["paths"].items():
            for method, operation in operations.items():
                assert "400" in operation["responses"], (method, path)


class TestErrorShield:
    def test_the_log_of_a_500_names_the_innermost_frame_of_our_code(self, app, client, capsys):
        """The fuzzer's 500 on PostgreSQL surfaced in psycopg: the eight frames logged were all library frames.
        The log line now also names where our code called it, still without any value."""
        from maillage.kit.db import normalise_url

        router = APIRouter(route_class=UnitOfWorkRoute)

        @router.get("/api/probe/library-crash")
        def library_crash() -> dict:
            normalise_url(None)  # type: ignore[arg-type]  # raises inside the kit, called from here
            return {}

        app.include_router(router)
        response = client.get("/api/probe/library-crash")
        assert response.status_code == 500
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
        crash = next(line for line in lines if line.get("event") == "http.unexpected_error")
        assert crash["error_type"] == "builtins.AttributeError"
        assert crash["origin"].endswith("in normalise_url") and "/maillage/kit/db.py:" in crash["origin"]
