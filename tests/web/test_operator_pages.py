"""/metrics and the API documentation: open in development, closed to anonymous callers in production.

Source: issue 15, finding 9 (they were open to anyone in production), docs/security.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from maillage.auth import tokens
from maillage.config import Settings
from tests.fixtures.factories import make_user
from tests.fixtures.web import sign_in

METRICS_TOKEN = "m" * 40


def _production(tmp_path: Path, **extra: object) -> Settings:
    return Settings(environment="production", var_dir=tmp_path / "var", secret_key="p" * 40,
                    database_url="postgresql://unused", password_hash_profile="rfc9106_low_memory", **extra)


@pytest.fixture
def production_client(tmp_path: Path, sessions) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    from maillage.app import create_app

    app = create_app(_production(tmp_path, metrics_token=METRICS_TOKEN), sessions)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        yield c


class TestOutsideProduction:
    @pytest.mark.parametrize("url", ["/metrics", "/api/docs", "/api/openapi.json"])
    def test_an_anonymous_caller_reads_them(self, client, url):
        assert client.get(url).status_code == 200

    def test_the_metrics_need_no_token(self, client):
        assert "maillage_http_requests_total" in client.get("/metrics").text


class TestMetricsInProduction:
    def test_an_anonymous_caller_is_refused(self, production_client):
        response = production_client.get("/metrics")
        assert response.status_code == 401 and "maillage_http_requests_total" not in response.text

    def test_a_wrong_token_is_refused(self, production_client):
        response = production_client.get("/metrics", headers={"authorization": "Bearer " + "x" * 40})
        assert response.status_code == 401

    def test_a_signed_in_professional_without_the_token_is_refused(self, production_client, db):
        sign_in(production_client, db, make_user(db, "administrator"))
        assert production_client.get("/metrics").status_code == 401

    def test_the_metrics_token_reads_them(self, production_client):
        response = production_client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200 and "maillage_http_requests_total" in response.text

    def test_without_a_configured_token_they_do_not_exist(self, tmp_path, sessions):
        from maillage.app import create_app

        with TestClient(create_app(_production(tmp_path), sessions), base_url="http://127.0.0.1") as c:
            assert c.get("/metrics").status_code == 404
            assert c.get("/metrics", headers={"authorization": "Bearer "}).status_code == 404

    def test_a_short_metrics_token_is_refused_at_start_up(self, tmp_path):
        with pytest.raises(ValueError, match="METRICS_TOKEN"):
            _production(tmp_path, metrics_token="court")


class TestApiDocumentationInProduction:
    @pytest.mark.parametrize("url", ["/api/docs", "/api/openapi.json"])
    def test_an_anonymous_caller_is_refused(self, production_client, url):
        response = production_client.get(url, headers={"accept": "application/json"})
        assert response.status_code == 401 and "openapi" not in response.text

    @pytest.mark.parametrize("url", ["/docs", "/redoc", "/openapi.json", "/api/redoc", "/api/docs/oauth2-redirect"])
    def test_the_default_addresses_do_not_exist(self, production_client, url):
        assert production_client.get(url, headers={"accept": "application/json"}).status_code == 404

    def test_a_signed_in_professional_reads_them(self, production_client, db):
        sign_in(production_client, db, make_user(db, "physician"))
        assert production_client.get("/api/openapi.json").json()["info"]["title"] == "Maillage"
        page = production_client.get("/api/docs")
        assert page.status_code == 200 and "/api/openapi.json" in page.text

    def test_an_api_token_reads_the_document(self, production_client, db):
        user = make_user(db, "physician")
        issued = tokens.create_personal_token(db, user, name="outil", scopes=[])
        db.commit()
        response = production_client.get("/api/openapi.json", headers={"authorization": f"Bearer {issued.secret}"})
        assert response.status_code == 200 and "/api/patients" in str(response.json()["paths"])
