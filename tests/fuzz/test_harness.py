"""The fuzz harness itself: it must fail on planted defects, or its green means nothing."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from maillage.kit.logging import configure_logging
from maillage.web.errors import COMMON_RESPONSES, ErrorShieldMiddleware, install_error_handlers
from maillage.web.middleware import RequestContextMiddleware
from tests.fuzz.harness import ANONYMOUS, Budget, coverage_plan, is_rule_refusal, refused_operations, run_pass


class Item(BaseModel):
    id: int


def planted_app() -> FastAPI:
    """Three operations, three defects: a crash, an undocumented status, an answer that contradicts its schema."""
    app = FastAPI(openapi_url="/api/openapi.json", responses=COMMON_RESPONSES)
    install_error_handlers(app)
    app.add_middleware(ErrorShieldMiddleware)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/api/crash", response_model=Item)
    def crash(n: int = 0) -> Item:
        if n > 5:
            raise RuntimeError("planted")
        return Item(id=n)

    @app.get("/api/teapot", response_model=Item)
    def teapot() -> JSONResponse:
        return JSONResponse({"id": 1}, status_code=418)

    @app.get("/api/liar", response_model=Item)
    def liar() -> JSONResponse:
        return JSONResponse({"id": "pas un entier"})

    return app


class TestRunPass:
    def test_planted_defects_are_all_reported_with_the_server_side_origin_of_the_crash(self):
        configure_logging("ERROR", json=True)
        report = run_pass(planted_app(), backend="aucune", identity=ANONYMOUS, token=None,
                          budget=Budget(examples=20, seed=1))
        assert report.operations == 3 and report.cases >= 3 and not report.untested
        by_operation = {f.operation: f for f in report.failures}
        assert by_operation["GET /api/crash"].status == 500
        assert by_operation["GET /api/crash"].server_error.startswith("builtins.RuntimeError depuis ")
        assert "in crash" in by_operation["GET /api/crash"].server_error
        assert by_operation["GET /api/teapot"].status == 418
        assert by_operation["GET /api/liar"].status == 200
        assert len(report.problems) >= 3

    def test_the_same_seed_gives_the_same_cases(self):
        configure_logging("ERROR", json=True)
        runs = [run_pass(planted_app(), backend="aucune", identity=ANONYMOUS, token=None,
                         budget=Budget(examples=5, seed=7)) for _ in range(2)]
        assert runs[0].cases == runs[1].cases


class _Response:
    def __init__(self, status_code: int, body: object):
        self.status_code = status_code
        self.content = json.dumps(body).encode()


class TestIsRuleRefusal:
    @pytest.mark.parametrize(
        ("status", "error", "expected"),
        [
            (422, {"code": "validation_failed", "details": [{"field": "reason", "message": "Le motif…"}]}, True),
            (415, {"code": "file_refused", "details": [{"field": "file", "reason": "type_refused"}]}, True),
            (422, {"code": "json_too_deep"}, True),
            (422, {"code": "validation_failed", "details": [{"field": "body.x", "type": "missing"}]}, False),
            (415, {"code": "http_415"}, False),
            (400, {"code": "bad_request"}, False),
            (409, {"code": "conflict"}, False),
        ],
    )
    def test_only_a_service_rule_refusal_counts(self, status, error, expected):
        assert is_rule_refusal(_Response(status, {"error": {"message": "…", "request_id": "r", **error}})) is expected

    def test_a_body_that_is_not_our_error_envelope_is_not_a_rule_refusal(self):
        assert is_rule_refusal(_Response(422, {"detail": "x"})) is False


class TestRefusedOperations:
    def test_anonymous_is_refused_wherever_an_actor_is_needed_and_a_role_where_it_lacks_the_permission(self, app):
        anonymous = refused_operations(app, None)
        assert ("GET", "/api/auth/me") in anonymous and ("GET", "/healthz") not in anonymous
        assert ("GET", "/api/patients/{patient_id}") in anonymous  # the documented path, not `{patient_id:uuid}`
        analyst = refused_operations(app, "analyst")
        assert ("POST", "/api/authz/break-glass") in analyst and ("GET", "/api/auth/me") not in analyst
        assert ("POST", "/api/authz/break-glass") not in refused_operations(app, "physician")


class TestCoveragePlan:
    def test_each_operation_gets_its_coverage_cases_once_from_the_first_identity_let_through(self, app):
        anonymous, analyst, physician = coverage_plan(app, [None, "analyst", "physician"])
        assert ("GET", "/healthz") in anonymous and ("GET", "/api/auth/me") not in anonymous
        assert ("GET", "/api/auth/me") in analyst and ("GET", "/api/auth/me") not in physician
        assert ("POST", "/api/authz/break-glass") in physician
        assert not (anonymous & analyst) and not (analyst & physician) and not (anonymous & physician)


class TestConfig:
    def test_an_exclusion_or_a_skipped_coverage_touches_one_operation_only(self, app, monkeypatch):
        """Found while writing the harness: Schemathesis OR-s `include-method` and `include-path`, so an
        exclusion written with both silenced the check on every GET of the API."""
        import schemathesis

        from tests.fuzz import harness

        monkeypatch.setattr(harness, "EXCLUSIONS", (harness.Exclusion("GET", "/api/auth/me", "test", checks=(
            "negative_data_rejection",)),))
        config = harness._config(Budget(), None, {("GET", "/api/auth/tokens")})
        schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config)
        project = config.projects.default
        seen = {}
        for result in schema.get_all_operations():
            operation = result.ok()
            seen[operation.label] = (
                project.phases_for(operation=operation).coverage.enabled,
                project.checks_config_for(operation=operation, phase="fuzzing").negative_data_rejection.enabled,
            )
        assert seen["GET /api/auth/tokens"] == (False, True)
        assert seen["GET /api/auth/me"] == (True, False)
        assert seen["GET /healthz"] == (True, True)
