"""The login flow over HTTP: password, second factor, cookies, CSRF, lock-out, logout, account pages."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from maillage.auth.rules import SESSION_COOKIE
from maillage.models.auth import AuthSession, UserAccount
from tests.fixtures.factories import DEFAULT_PASSWORD, make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HTML = {"accept": "text/html"}


def post_form(client, url, data, follow=False):
    return client.post(url, data={**data, "csrf_token": csrf_token(client)}, headers=HTML, follow_redirects=follow)


def password_step(client, user, password=DEFAULT_PASSWORD, suite="/"):
    return post_form(client, "/connexion", {"username": user.username, "password": password, "suite": suite})


class TestLogin:
    def test_password_then_totp_opens_a_session_and_shows_the_user(self, client, db):
        user = make_user(db, "physician", totp_secret=SECRET, display_name="Dr Claire Martin")
        db.commit()
        first = password_step(client, user)
        assert first.status_code == 303 and first.headers["location"].startswith("/connexion/code")
        pending_cookie = client.cookies[SESSION_COOKIE]
        assert client.get("/compte", headers=HTML, follow_redirects=False).status_code == 303  # not yet signed in
        second = post_form(client, "/connexion/code", {"code": pyotp.TOTP(SECRET).now(), "suite": "/compte"})
        assert second.status_code == 303 and second.headers["location"] == "/compte"
        assert client.cookies[SESSION_COOKIE] != pending_cookie  # a new token after the second factor
        page = client.get("/compte", headers=HTML)
        assert page.status_code == 200 and "Dr Claire Martin" in page.text

    def test_the_session_cookie_is_httponly_and_samesite(self, client, db):
        user = make_user(db, totp_secret=SECRET)
        db.commit()
        cookie = password_step(client, user).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")

    def test_the_cookie_is_secure_outside_plain_http_loopback(self, app, db):
        from fastapi.testclient import TestClient

        user = make_user(db, totp_secret=SECRET)
        db.commit()
        with TestClient(app, base_url="https://maillage.chu.example") as c:
            cookie = password_step(c, user).headers["set-cookie"]
        assert "Secure" in cookie

    def test_a_wrong_password_is_401_with_the_generic_french_message(self, client, db):
        user = make_user(db, totp_secret=SECRET)
        db.commit()
        response = password_step(client, user, password="Wrong-Password-42")
        assert response.status_code == 401
        assert "Identifiant ou mot de passe incorrect" in response.text
        assert SESSION_COOKIE not in client.cookies

    def test_failed_logins_are_kept_and_lock_the_account(self, client, db):
        user = make_user(db, totp_secret=SECRET)
        db.commit()
        for _ in range(5):
            assert password_step(client, user, password="Wrong-Password-42").status_code == 401
        db.expire_all()
        assert db.get(UserAccount, user.id).locked_until is not None
        assert password_step(client, user).status_code == 401

    def test_a_wrong_code_does_not_open_the_session(self, client, db):
        user = make_user(db, totp_secret=SECRET)
        db.commit()
        password_step(client, user)
        response = post_form(client, "/connexion/code", {"code": "000000"})
        assert response.status_code == 401 and "Code incorrect" in response.text
        assert client.get("/api/auth/me").status_code == 401

    def test_the_login_form_requires_its_csrf_token(self, client, db):
        user = make_user(db, totp_secret=SECRET)
        db.commit()
        response = client.post("/connexion", data={"username": user.username, "password": DEFAULT_PASSWORD},
                               headers=HTML, follow_redirects=False)
        assert response.status_code == 403 and "CSRF" in response.text

    def test_the_next_page_is_never_another_site(self, client, db):
        user = make_user(db, totp_secret=SECRET)
        db.commit()
        password_step(client, user, suite="//evil.example/x")
        done = post_form(client, "/connexion/code", {"code": pyotp.TOTP(SECRET).now(), "suite": "https://evil.example"})
        assert done.headers["location"] == "/"

    def test_first_login_requires_enrolment_then_shows_recovery_codes(self, client, db):
        user = make_user(db, totp_secret=None)
        db.commit()
        first = password_step(client, user)
        assert first.headers["location"].startswith("/connexion/enrolement")
        page = client.get("/connexion/enrolement", headers=HTML)
        assert page.status_code == 200 and "<svg" in page.text
        secret = page.text.split('data-secret="')[1].split('"')[0]
        done = post_form(client, "/connexion/enrolement", {"code": pyotp.TOTP(secret).now()})
        assert done.status_code == 200 and "codes de secours" in done.text
        assert client.get("/api/auth/me").json()["username"] == user.username


class TestLogout:
    def test_logout_revokes_the_session_server_side(self, client, db):
        user = make_user(db)
        sign_in(client, db, user)
        token = client.cookies[SESSION_COOKIE]
        assert client.get("/api/auth/me").status_code == 200
        post_form(client, "/deconnexion", {})
        client.cookies.set(SESSION_COOKIE, token)  # a stolen copy of the cookie
        assert client.get("/api/auth/me").status_code == 401

    def test_log_out_everywhere_ends_other_browsers_too(self, app, client, db):
        from fastapi.testclient import TestClient

        user = make_user(db)
        sign_in(client, db, user)
        with TestClient(app, base_url="http://127.0.0.1") as other:
            sign_in(other, db, user)
            post_form(client, "/compte/sessions/revoquer", {})
            assert other.get("/api/auth/me").status_code == 401
        active = db.scalars(select(AuthSession).where(AuthSession.revoked_at.is_(None))).all()
        assert active == []


class TestAccountPages:
    def test_account_page_triplet(self, client, db):
        assert_triplet(client, db, "GET", "/compte", wrong_role_user=None, outsider_user=None, page=True)

    def test_admin_accounts_page_triplet_and_unlock(self, client, db):
        admin = make_user(db, "administrator")
        locked = make_user(db, "nurse")
        assert_triplet(client, db, "GET", "/admin/comptes", wrong_role_user=make_user(db, "physician"),
                       outsider_user=None, page=True)
        sign_in(client, db, admin)
        assert locked.username in client.get("/admin/comptes", headers=HTML).text
        response = post_form(client, f"/admin/comptes/{locked.id}/reinitialiser-2fa", {})
        assert response.status_code == 303
        db.expire_all()
        assert db.get(UserAccount, locked.id).totp_enrolled_at is None

    def test_a_personal_token_is_shown_once_and_works_as_a_bearer(self, client, db):
        user = make_user(db, "physician")
        sign_in(client, db, user)
        page = post_form(client, "/compte/jetons", {"name": "Mon script", "days": "30", "scopes": ["patient.read"]})
        assert page.status_code == 200
        token = page.text.split('id="nouveau-jeton">')[1].split("<")[0]
        client.cookies.clear()
        me = client.get("/api/auth/me", headers={"authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["scopes"] == ["patient.read"]


class TestApiTokens:
    def test_tokens_api_triplet(self, client, db):
        assert_triplet(client, db, "GET", "/api/auth/tokens", wrong_role_user=None, outsider_user=None)

    def test_create_list_and_revoke_through_the_api(self, client, db):
        user = make_user(db)
        sign_in(client, db, user)
        headers = {"x-csrf-token": csrf_token(client)}
        created = client.post("/api/auth/tokens", json={"name": "ci", "expires_in_days": 7}, headers=headers)
        assert created.status_code == 201
        token = created.json()["token"]
        assert token.startswith("mlg_pat_")
        listed = client.get("/api/auth/tokens").json()
        assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
        assert client.delete(f"/api/auth/tokens/{created.json()['id']}", headers=headers).status_code == 204
        client.cookies.clear()
        assert client.get("/api/auth/me", headers={"authorization": f"Bearer {token}"}).status_code == 401

    def test_a_token_cannot_mint_another_token(self, client, db):
        from maillage.auth import service

        user = make_user(db)
        issued = service.create_personal_token(db, user, name="x", scopes=[], days=5)
        db.commit()
        response = client.post("/api/auth/tokens", json={"name": "y"},
                               headers={"authorization": f"Bearer {issued.secret}"})
        assert response.status_code == 403

    def test_a_cookie_session_api_write_without_csrf_header_is_refused(self, client, db):
        user = make_user(db)
        sign_in(client, db, user)
        assert client.post("/api/auth/tokens", json={"name": "x"}).status_code == 403

    @pytest.mark.parametrize(
        "header", ["Bearer nonsense", "Bearer mlg_pat_forged", "Basic abc", "Bearer " + "x" * 5000]
    )
    def test_bad_credentials_are_401_never_500(self, client, header):
        assert client.get("/api/auth/me", headers={"authorization": header}).status_code == 401

    def test_a_device_secret_cannot_reach_professional_endpoints(self, client, db):
        from maillage.auth import service

        issued = service.create_device_credential(db, device_identifier="tensiometre-1", label="T")
        db.commit()
        assert client.get("/api/auth/me", headers={"authorization": f"Bearer {issued.secret}"}).status_code == 401
