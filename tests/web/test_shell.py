"""The web shell: health, readiness, metrics, errors, static assets, French pages."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter

from maillage.exceptions import Conflict, NotFound
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models import Job
from maillage.worker import enqueue_job


class TestHealth:
    def test_healthz_says_the_process_is_up(self, client):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz_checks_the_database(self, client):
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["database"] == "ok"

    def test_readyz_is_503_when_the_database_is_unreachable(self, settings, tmp_path):
        from fastapi.testclient import TestClient

        from maillage.app import create_app
        from maillage.kit.db import make_engine, make_sessionmaker

        broken = make_sessionmaker(make_engine(f"sqlite:///{tmp_path}/missing-dir/none.sqlite3"))
        with TestClient(create_app(settings, broken), raise_server_exceptions=False) as c:
            response = c.get("/readyz")
        assert response.status_code == 503

    def test_metrics_expose_request_counts_latencies_and_queue_depth(self, client, db):
        enqueue_job(db, "test.record", marker="m")
        db.commit()
        client.get("/healthz")
        body = client.get("/metrics").text
        assert 'maillage_http_requests_total{method="GET",route="/healthz",status="200"}' in body
        assert "maillage_http_request_duration_seconds_bucket" in body
        assert "maillage_job_queue_depth 1.0" in body


class TestPagesInFrench:
    def test_home_page_is_french_and_links_the_login(self, client):
        response = client.get("/", headers={"accept": "text/html"})
        assert response.status_code == 200
        assert '<html lang="fr">' in response.text
        assert "Bienvenue sur Maillage" in response.text
        assert 'href="/connexion"' in response.text

    def test_static_assets_are_served_by_the_app_itself(self, client):
        assert client.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200
        css = client.get("/static/maillage.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]

    def test_no_page_loads_anything_from_another_host(self, client):
        html = client.get("/").text
        assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html

    def test_security_headers_and_request_id_are_set(self, client):
        response = client.get("/")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert len(response.headers["x-request-id"]) >= 8

    def test_a_safe_incoming_request_id_is_kept(self, client):
        kept = client.get("/healthz", headers={"x-request-id": "abc123def456"})
        assert kept.headers["x-request-id"] == "abc123def456"
        assert client.get("/healthz", headers={"x-request-id": "<script>"}).headers["x-request-id"] != "<script>"


@pytest.fixture
def probe_app(app):
    """Routes that exercise the error handling and the unit of work."""
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/api/probe/conflict")
    def conflict() -> dict:
        raise Conflict("Déjà pris.")

    @router.get("/probe/missing")
    def missing() -> dict:
        raise NotFound()

    @router.get("/api/probe/crash")
    def crash() -> dict:
        raise RuntimeError("secret patient name Dupont")

    @router.post("/api/probe/write")
    def write(db: DbSession, fail: bool = False) -> dict:
        enqueue_job(db, "test.record", marker="written")
        if fail:
            raise Conflict("Refusé après écriture.")
        return {"ok": True}

    app.include_router(router)
    return app


class TestErrors:
    def test_a_maillage_error_is_json_for_the_api(self, probe_app, client):
        response = client.get("/api/probe/conflict")
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "conflict" and error["message"] == "Déjà pris."
        assert error["request_id"] == response.headers["x-request-id"]

    def test_a_maillage_error_is_a_french_page_for_the_web(self, probe_app, client):
        response = client.get("/probe/missing", headers={"accept": "text/html"})
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"]
        assert "Introuvable." in response.text and "Erreur 404" in response.text

    def test_a_maillage_error_is_a_fragment_for_htmx(self, probe_app, client):
        response = client.get("/probe/missing", headers={"hx-request": "true"})
        assert response.status_code == 404
        assert response.text.lstrip().startswith('<div class="error fragment"')
        assert "<html" not in response.text

    def test_an_unknown_route_is_a_french_404(self, client):
        response = client.get("/nulle-part", headers={"accept": "text/html"})
        assert response.status_code == 404
        assert "introuvable" in response.text

    def test_invalid_input_is_422_with_the_field_named(self, probe_app, client):
        response = client.post("/api/probe/write?fail=peut-etre")
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "query.fail"

    def test_an_unexpected_error_is_a_generic_500_with_a_request_id_and_no_data_in_logs(
        self, probe_app, client, capsys
    ):
        response = client.get("/api/probe/crash")
        assert response.status_code == 500
        body = response.json()["error"]
        assert body["code"] == "internal_error"
        assert "Dupont" not in response.text
        logged = capsys.readouterr().err
        lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
        crash = [line for line in lines if line.get("event") == "http.unexpected_error"]
        assert crash and crash[0]["request_id"] == body["request_id"]
        assert crash[0]["error_type"] == "builtins.RuntimeError"
        assert "Dupont" not in logged


class TestUnitOfWork:
    def test_a_successful_request_commits_before_answering(self, probe_app, client, db):
        assert client.post("/api/probe/write").status_code == 200
        assert db.query(Job).filter(Job.args["marker"].as_string() == "written").count() == 1

    def test_a_failed_request_changes_nothing(self, probe_app, client, db):
        assert client.post("/api/probe/write?fail=true").status_code == 409
        assert db.query(Job).count() == 0


class TestOpenAPI:
    def test_openapi_is_served_with_the_docs(self, client):
        assert client.get("/api/openapi.json").json()["info"]["title"] == "Maillage"
        assert client.get("/api/docs").status_code == 200
