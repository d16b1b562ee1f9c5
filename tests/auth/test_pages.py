"""The login flow over HTTP: password, second factor, cookies, CSRF, lock-out, logout, account pages."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlalchemy import select

from maillage.models.auth import AuthSession, UserAccount
from maillage.security.deps import SESSION_COOKIE
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

    def test_tokens_and_their_choices_are_described_in_french_not_by_raw_scopes(self, client, db):
        """Issue 17: the account page showed raw scopes such as ``break_glass.use``; they stay in the API."""
        user = make_user(db, "physician")
        sign_in(client, db, user)
        page = post_form(client, "/compte/jetons", {"name": "Mon script", "days": "30",
                                                    "scopes": ["patient.read", "break_glass.use"]})
        assert page.status_code == 200
        shown = page.text.split("Jetons d'accès personnels")[1]
        visible = shown.replace('value="break_glass.use"', "").replace('value="patient.read"', "")
        assert "break_glass.use" not in visible and "patient.read" not in visible
        assert "Accéder en urgence à un dossier (bris de glace)" in shown
        assert "Consulter les dossiers des patients suivis" in shown
        assert 'name="scopes" value="break_glass.use"' in shown, "the form still posts the scope itself"


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
        from maillage.auth import tokens as auth_tokens

        user = make_user(db)
        issued = auth_tokens.create_personal_token(db, user, name="x", scopes=[], days=5)
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
        from maillage.auth import tokens as auth_tokens

        issued = auth_tokens.create_device_credential(db, device_identifier="tensiometre-1", label="T")
        db.commit()
        assert client.get("/api/auth/me", headers={"authorization": f"Bearer {issued.secret}"}).status_code == 401


def wrong_code() -> str:
    """A six-digit code that is none of the three codes accepted now (current step ±1)."""
    totp = pyotp.TOTP(SECRET)
    accepted = {totp.at(time.time() + d) for d in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


class TestSecondFactorBruteForce:
    def test_entering_the_password_again_between_wrong_codes_does_not_reset_their_count(self, client, db):
        """Finding 5: four wrong codes, the password again, four codes… (48 wrong codes in 4 s, never locked)."""
        user = make_user(db, totp_secret=SECRET)
        db.commit()
        wrong_tried = 0
        for _ in range(3):
            if password_step(client, user).status_code != 303:
                break
            for _ in range(4):
                if post_form(client, "/connexion/code", {"code": wrong_code()}).status_code != 401:
                    break  # locked: back to the login page
                wrong_tried += 1
        assert wrong_tried == 4  # the fifth wrong code (first of the second round) locked the second factor
        db.expire_all()
        assert db.get(UserAccount, user.id).second_factor_locked_until is not None
        assert password_step(client, user).status_code == 401

    def test_a_code_used_a_moment_ago_is_called_already_used(self, app, client, db):
        """Issue 17: signing in twice within a minute said "Code incorrect."."""
        from fastapi.testclient import TestClient

        user = make_user(db, totp_secret=SECRET)
        db.commit()
        code = pyotp.TOTP(SECRET).now()
        password_step(client, user)
        first = post_form(client, "/connexion/code", {"code": code})
        with TestClient(app, base_url="http://127.0.0.1") as other:
            password_step(other, user)
            again = post_form(other, "/connexion/code", {"code": code})
        if first.status_code == 303 and again.status_code == 401:
            assert "déjà été utilisé" in again.text and "code suivant" in again.text
            assert "Code incorrect" not in again.text
        else:  # the 30-second step turned between the two: the second code was a fresh one
            assert again.status_code == 303


class TestPasswordChange:
    NEW = "Nouveau-Mot-2026!"

    def test_a_one_time_password_must_be_replaced_before_any_page(self, client, db):
        """Finding 6: an administrator's reset gives a one-time password; the first sign-in replaces it."""
        from maillage.auth import service

        user = make_user(db, totp_secret=SECRET)
        one_time = service.reset_password(db, user)
        db.commit()
        password_step(client, user, password=one_time, suite="/compte")
        done = post_form(client, "/connexion/code", {"code": pyotp.TOTP(SECRET).now(), "suite": "/compte"})
        assert done.status_code == 303 and done.headers["location"] == "/connexion/mot-de-passe?suite=/compte"
        # No page, no API until the password is changed.
        assert client.get("/compte", headers=HTML, follow_redirects=False).status_code == 303
        assert client.get("/api/auth/me").status_code == 401
        login = client.get("/connexion?suite=/compte", follow_redirects=False)
        assert login.headers["location"].startswith("/connexion/mot-de-passe")
        refused = post_form(client, "/connexion/mot-de-passe", {"new_password": one_time, "confirmation": one_time})
        assert refused.status_code == 422 and "doit différer" in refused.text
        changed = post_form(client, "/connexion/mot-de-passe",
                            {"new_password": self.NEW, "confirmation": self.NEW, "suite": "/compte"})
        assert changed.status_code == 303 and changed.headers["location"] == "/compte"
        assert client.get("/compte", headers=HTML).status_code == 200
        db.expire_all()
        assert not db.get(UserAccount, user.id).must_change_password

    def test_cancelling_the_forced_change_ends_the_session(self, client, db):
        from maillage.auth import service

        user = make_user(db, totp_secret=SECRET)
        one_time = service.reset_password(db, user)
        db.commit()
        password_step(client, user, password=one_time)
        post_form(client, "/connexion/code", {"code": pyotp.TOTP(SECRET).now()})
        assert post_form(client, "/deconnexion", {}).status_code == 303
        db.expire_all()
        assert db.scalars(select(AuthSession).where(AuthSession.revoked_at.is_(None))).all() == []

    def test_change_on_the_account_page_needs_password_and_code_and_ends_other_sessions(self, app, client, db):
        from fastapi.testclient import TestClient

        user = make_user(db, totp_secret=SECRET)
        sign_in(client, db, user)
        with TestClient(app, base_url="http://127.0.0.1") as other:
            sign_in(other, db, user)
            refused = post_form(client, "/compte/mot-de-passe", {
                "current_password": "Wrong-Password-42", "code": pyotp.TOTP(SECRET).now(),
                "new_password": self.NEW, "confirmation": self.NEW})
            assert refused.status_code == 422 and "Mot de passe actuel incorrect" in refused.text
            done = post_form(client, "/compte/mot-de-passe", {
                "current_password": DEFAULT_PASSWORD, "code": pyotp.TOTP(SECRET).now(),
                "new_password": self.NEW, "confirmation": self.NEW})
            assert done.status_code == 303
            assert other.get("/api/auth/me").status_code == 401  # the other browser is signed out
        assert client.get("/compte?mot_de_passe=modifie", headers=HTML).status_code == 200  # this one goes on
        db.expire_all()
        assert db.get(UserAccount, user.id).failed_logins == 1

    def test_an_administrator_resets_a_password_from_the_accounts_page(self, client, db):
        admin = make_user(db, "administrator")
        nurse = make_user(db, "nurse")
        sign_in(client, db, admin)
        page = post_form(client, f"/admin/comptes/{nurse.id}/reinitialiser-mot-de-passe", {})
        assert page.status_code == 200
        one_time = page.text.split('id="mot-de-passe-unique">')[1].split("<")[0]
        db.expire_all()
        assert db.get(UserAccount, nurse.id).must_change_password
        from maillage.auth import service

        assert service.authenticate_password(db, nurse.username, one_time).ok

    def test_the_reset_action_is_for_administrators(self, client, db):
        nurse = make_user(db, "nurse")
        assert_triplet(client, db, "POST", f"/admin/comptes/{nurse.id}/reinitialiser-mot-de-passe",
                       wrong_role_user=make_user(db, "physician"), outsider_user=None, page=True)


class TestAccountPagesNeedASession:
    def test_a_service_token_cannot_revoke_another_users_token(self, client, db):
        """Finding 7: POST /compte/jetons/{id}/revoquer with a service token revoked any user's token."""
        from maillage.auth import tokens as auth_tokens

        victim = make_user(db)
        victim_token = auth_tokens.create_personal_token(db, victim, name="dpi", scopes=[])
        svc = auth_tokens.create_service_token(db, service_name="labo", role="physician", name="labo",
                                           scopes=["directory.read"])
        db.commit()
        response = client.post(f"/compte/jetons/{victim_token.id}/revoquer",
                               headers={"authorization": f"Bearer {svc.secret}"}, follow_redirects=False)
        assert response.status_code == 403
        assert auth_tokens.resolve_token(db, victim_token.secret) is not None

    def test_a_personal_token_scoped_to_the_directory_cannot_manage_the_account(self, client, db):
        """Finding 7: a directory-reading token opened /compte, ended every session, deleted its siblings."""
        from maillage.auth import service
        from maillage.auth import tokens as auth_tokens

        user = make_user(db)
        reader = auth_tokens.create_personal_token(db, user, name="annuaire", scopes=["directory.read"])
        sibling = auth_tokens.create_personal_token(db, user, name="dossier", scopes=["patient.read"])
        browser_token, _ = service.start_session(db, user, mfa_passed=True)
        db.commit()
        bearer = {"authorization": f"Bearer {reader.secret}"}
        assert client.get("/compte", headers={**bearer, **HTML}).status_code == 403
        assert client.post("/compte/sessions/revoquer", headers=bearer, follow_redirects=False).status_code == 403
        assert client.post(f"/compte/jetons/{sibling.id}/revoquer", headers=bearer,
                           follow_redirects=False).status_code == 403
        assert client.get("/api/auth/tokens", headers=bearer).status_code == 403
        assert client.delete(f"/api/auth/tokens/{sibling.id}", headers=bearer).status_code == 403
        assert auth_tokens.resolve_token(db, sibling.secret) is not None
        assert service.resolve_session(db, browser_token) is not None
        # A token may still withdraw itself.
        assert client.delete(f"/api/auth/tokens/{reader.id}", headers=bearer).status_code == 204
        assert auth_tokens.resolve_token(db, reader.secret) is None


class TestCsrfBoundToTheSession:
    def test_a_token_minted_for_one_session_is_refused_in_another(self, app, client, db):
        """Finding 9: the CSRF token was bound only to its nonce cookie, which another site can plant."""
        from fastapi.testclient import TestClient

        from maillage.auth.rules import CSRF_COOKIE

        attacker, victim = make_user(db), make_user(db)
        sign_in(client, db, attacker)
        planted_nonce, attacker_token = client.cookies[CSRF_COOKIE], csrf_token(client)
        with TestClient(app, base_url="http://127.0.0.1") as browser:
            browser.cookies.set(CSRF_COOKIE, planted_nonce)  # cookie tossing, before the victim signs in
            sign_in(browser, db, victim)
            assert browser.cookies[CSRF_COOKIE] == planted_nonce
            forged = browser.post("/compte/sessions/revoquer", data={"csrf_token": attacker_token}, headers=HTML,
                                  follow_redirects=False)
            assert forged.status_code == 403
            assert browser.get("/api/auth/me").status_code == 200
            genuine = browser.post("/compte/sessions/revoquer", data={"csrf_token": csrf_token(browser)},
                                   headers=HTML, follow_redirects=False)
            assert genuine.status_code == 303
