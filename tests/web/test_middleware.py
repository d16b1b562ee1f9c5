"""Request context middleware: client address behind trusted proxies only, no-store, HSTS."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from maillage.config import Settings
from maillage.models.audit import AuditEntry
from maillage.models.auth import LoginAttempt
from tests.fixtures.factories import make_user
from tests.fixtures.web import csrf_token, sign_in

HTML = {"accept": "text/html"}


def failed_login(client: TestClient, headers: dict[str, str]) -> None:
    client.post("/connexion", data={"username": "inconnu", "password": "x", "csrf_token": csrf_token(client)},
                headers={**HTML, **headers}, follow_redirects=False)


def recorded_addresses(db) -> list[str]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return [a.address for a in db.scalars(select(LoginAttempt))]


class TestClientAddress:
    def test_x_forwarded_for_from_a_loopback_peer_is_not_believed_by_default(self, app, db):
        """Finding 5: the per-address limit trusted X-Forwarded-For from any loopback peer."""
        with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 5000)) as c:
            failed_login(c, {"x-forwarded-for": "198.51.100.77"})
        assert recorded_addresses(db) == ["127.0.0.1"]
        assert [e.address for e in db.scalars(select(AuditEntry).where(AuditEntry.action == "login"))] == [
            "127.0.0.1"]

    def test_a_trusted_proxy_gives_the_client_address_to_the_limit_and_the_audit(self, app, db):
        app.state.settings.trusted_proxies = "10.0.0.0/24"
        with TestClient(app, base_url="http://127.0.0.1", client=("10.0.0.5", 5000)) as c:
            # The left part of the header is whatever the caller wrote: the right-most untrusted hop counts.
            failed_login(c, {"x-forwarded-for": "192.0.2.1, 203.0.113.7, 10.0.0.9"})
        assert recorded_addresses(db) == ["203.0.113.7"]
        assert [e.address for e in db.scalars(select(AuditEntry).where(AuditEntry.action == "login"))] == [
            "203.0.113.7"]

    def test_an_untrusted_peer_keeps_its_own_address_when_proxies_are_configured(self, app, db):
        app.state.settings.trusted_proxies = "10.0.0.5"
        with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 5000)) as c:
            failed_login(c, {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"})
            assert "strict-transport-security" not in c.get("/connexion").headers
        assert recorded_addresses(db) == ["127.0.0.1"]

    def test_a_malformed_trusted_proxy_is_refused_at_start_up(self, tmp_path):
        with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
            Settings(environment="test", var_dir=tmp_path, trusted_proxies="10.0.0.5, proxy.local")

    def test_serve_does_not_let_uvicorn_believe_proxy_headers(self, monkeypatch):
        import uvicorn
        from typer.testing import CliRunner

        import maillage.app
        import maillage.vault.keys
        from maillage.cli import app as cli

        calls = []
        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
        monkeypatch.setattr(maillage.app, "create_app", lambda *a, **k: object())
        monkeypatch.setattr(maillage.vault.keys, "check_keys_ready", lambda: None)
        result = CliRunner().invoke(cli, ["serve", "--no-migrate"])
        assert result.exit_code == 0, result.output
        assert calls and calls[0].get("proxy_headers") is False


class TestCacheAndTransportHeaders:
    def test_authenticated_pages_and_json_are_not_stored(self, client, db):
        """Finding 9: patient pages, JSON and files carried no Cache-Control."""
        sign_in(client, db, make_user(db))
        assert client.get("/compte", headers=HTML).headers["cache-control"] == "no-store"
        assert client.get("/api/auth/me").headers["cache-control"] == "no-store"

    def test_anonymous_pages_are_not_stored_either_but_static_assets_are(self, client):
        assert client.get("/connexion").headers["cache-control"] == "no-store"
        static = client.get("/static/maillage.css")
        assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")

    def test_hsts_over_https_only(self, app):
        with TestClient(app, base_url="https://maillage.chu.example") as c:
            assert c.get("/connexion").headers["strict-transport-security"].startswith("max-age=31536000")
        with TestClient(app, base_url="http://127.0.0.1") as c:
            assert "strict-transport-security" not in c.get("/connexion").headers

    def test_hsts_and_secure_cookies_behind_a_trusted_tls_proxy(self, app):
        app.state.settings.trusted_proxies = "10.0.0.5"
        with TestClient(app, base_url="http://127.0.0.1", client=("10.0.0.5", 5000)) as c:
            response = c.get("/connexion", headers={"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"})
        assert "strict-transport-security" in response.headers
        assert "Secure" in response.headers["set-cookie"]
