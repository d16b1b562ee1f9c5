"""Pro Santé Connect sign-in against a real OpenID Connect provider run on loopback (tests/auth/psc_provider.py).

Each test drives the whole flow over HTTP: Maillage's start route redirects to the provider's authorization
endpoint, the user is picked on the provider's form, the provider redirects back with a code, and Maillage's return
route exchanges it (token endpoint with the client secret, ID token verified on the provider's JWKS, userinfo).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import os
import re
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from maillage.auth.middleware import SESSION_COOKIE
from maillage.auth.psc import clear_providers, rpps_of
from maillage.kit.clock import frozen, now
from maillage.models.audit import AuditEntry
from maillage.models.auth import LoginAttempt, UserAccount
from maillage.models.directory import Professional
from maillage.models.psc import PscAccessRequest, PscLogin
from tests.auth.psc_provider import Provider, query_of, running_provider
from tests.fixtures.factories import make_user
from tests.fixtures.web import csrf_token, sign_in

KNOWN = "f:550dc1c8:810001234567"      # a physician with an account in Maillage
NEWCOMER = "f:550dc1c8:810007654321"   # in the directory, no account yet
STRANGER = "f:550dc1c8:810009999999"   # not in the directory
USERS: dict[str, dict[str, Any]] = {
    KNOWN: {"acr": "eidas1", "SubjectNameID": "810001234567", "given_name": "Claire", "family_name": "Dupont"},
    NEWCOMER: {"acr": "eidas1", "SubjectNameID": "810007654321", "given_name": "Marc", "family_name": "Lenoir"},
    STRANGER: {"acr": "eidas1", "SubjectNameID": "810009999999", "given_name": "Paul", "family_name": "Inconnu"},
}


def _port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 8650 + int(worker[2:] or 0) % 4


@pytest.fixture
def provider() -> Iterator[Provider]:
    clear_providers()
    with running_provider(_port(), USERS) as running:
        yield running
    clear_providers()


@pytest.fixture
def settings(settings, provider):  # type: ignore[no-untyped-def]
    client_id, secret = provider.register("http://127.0.0.1/connexion/psc/retour")
    return settings.model_copy(update={
        "psc_issuer": provider.issuer, "psc_client_id": client_id, "psc_client_secret": SecretStr(secret),
        "psc_scopes": "openid profile", "public_url": "http://127.0.0.1", "psc_login_minutes": 60,
    })


@pytest.fixture
def directory(db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    known = Professional(rpps="10001234567", national_id="810001234567", last_name="Dupont", first_name="Claire",
                         profession_code="10")
    newcomer = Professional(rpps="10007654321", national_id="810007654321", last_name="Lenoir", first_name="Marc",
                            profession_code="10")
    db.add_all([known, newcomer])
    db.flush()
    user = make_user(db, username="claire.dupont", display_name="Dr Claire Dupont")
    user.person_id = known.id
    admin = make_user(db, "administrator", username="admin.psc")
    db.commit()
    return {"user": user, "admin": admin, "newcomer": newcomer}


def start(client) -> str:  # type: ignore[no-untyped-def]
    answer = client.get("/connexion/psc?suite=/compte", follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    return str(answer.headers["location"])


def come_back(client, location: str):  # type: ignore[no-untyped-def]
    parsed = urlparse(location)
    assert parsed.path == "/connexion/psc/retour"
    return client.get(f"{parsed.path}?{parsed.query}", follow_redirects=False)


def sign_in_as(client, provider: Provider, sub: str):  # type: ignore[no-untyped-def]
    return come_back(client, provider.authorize(start(client), sub))


def reasons(db) -> list[str]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return [a.details["reason"] for a in db.scalars(select(LoginAttempt).order_by(LoginAttempt.at)) if a.details]


class TestSignIn:
    def test_a_known_professional_signs_in_without_the_second_factor_and_lands_on_the_page_asked(
            self, client, db, provider, directory):
        authorization = start(client)
        asked = query_of(authorization)
        assert authorization.startswith(f"{provider.issuer}/oauth2/authorize?")
        assert asked["acr_values"] == "eidas1" and asked["response_type"] == "code"
        assert asked["code_challenge_method"] == "S256" and len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32
        stored = db.scalar(select(PscLogin))
        assert stored is not None and stored.nonce == asked["nonce"]  # kept server-side, the state only hashed
        assert stored.state_hash != asked["state"]
        answer = come_back(client, provider.authorize(authorization, KNOWN))
        assert answer.status_code == 303 and answer.headers["location"] == "/compte"
        assert SESSION_COOKIE in client.cookies
        page = client.get("/compte")
        assert page.status_code == 200 and "Dr Claire Dupont" in page.text
        # PKCE: the verifier sent to the token endpoint is the one whose S256 digest was the challenge.
        verifier = provider.token_requests[-1]["code_verifier"][0]
        digest = urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        assert digest == asked["code_challenge"]
        db.expire_all()
        user = db.get(UserAccount, directory["user"].id)
        assert user.external_issuer == provider.issuer and user.external_subject == KNOWN
        assert db.scalar(select(PscLogin)) is None  # one use
        success = db.scalars(select(AuditEntry).where(AuditEntry.action == "login",
                                                      AuditEntry.outcome == "success")).all()
        assert [e.details["second_factor"] for e in success] == ["psc"]

    def test_the_button_shows_only_when_configured(self, client, provider, directory, app):
        assert "Se connecter avec Pro Santé Connect" in client.get("/connexion").text
        app.state.settings = app.state.settings.model_copy(update={"psc_issuer": ""})
        assert "Pro Santé Connect" not in client.get("/connexion").text
        assert client.get("/connexion/psc", follow_redirects=False).status_code == 404

    def test_logout_ends_the_session_at_the_provider_too(self, client, db, provider, directory):
        sign_in_as(client, provider, KNOWN)
        answer = client.post("/deconnexion", data={"csrf_token": csrf_token(client)}, follow_redirects=False)
        assert answer.status_code == 200 and "Vous êtes déconnecté de Maillage" in answer.text
        found = re.search(r'href="([^"]+)"', answer.text.split("<h1>", 1)[1])
        assert found is not None
        target = html.unescape(found.group(1))
        assert target.startswith(f"{provider.issuer}/oauth2/end_session?")
        assert query_of(target)["post_logout_redirect_uri"] == "http://127.0.0.1/connexion"
        assert client.get("/compte", follow_redirects=False).status_code in (302, 303, 401)


class TestRefusals:
    def test_an_assurance_level_below_the_required_one_is_refused(self, client, db, provider, directory, app):
        app.state.settings = app.state.settings.model_copy(update={"psc_acr": "eidas2"})
        clear_providers()
        authorization = start(client)
        assert query_of(authorization)["acr_values"] == "eidas2"
        answer = come_back(client, provider.authorize(authorization, KNOWN))  # the provider answers eidas1
        assert answer.status_code == 401 and "carte CPS" in answer.text
        assert SESSION_COOKIE not in client.cookies
        assert reasons(db) == ["acr_too_low"]

    def test_an_unknown_professional_is_refused_and_audited(self, client, db, provider, directory):
        answer = sign_in_as(client, provider, STRANGER)
        assert answer.status_code == 401 and "annuaire" in answer.text
        assert reasons(db) == ["unknown_professional"]
        failures = db.scalars(select(AuditEntry).where(AuditEntry.action == "login",
                                                       AuditEntry.outcome == "failure")).all()
        assert [e.details["reason"] for e in failures] == ["unknown_professional"]

    def test_an_expired_id_token_is_refused(self, client, db, provider, directory):
        location = provider.authorize(start(client), KNOWN)
        with frozen(now() + dt.timedelta(minutes=20)):  # the provider's tokens last 5 minutes
            answer = come_back(client, location)
        assert answer.status_code == 401 and SESSION_COOKIE not in client.cookies
        assert reasons(db) == ["id_token_expired"]

    def test_a_tampered_id_token_is_refused(self, client, db, provider, directory):
        provider.tamper = True
        answer = sign_in_as(client, provider, KNOWN)
        assert answer.status_code == 401 and SESSION_COOKIE not in client.cookies
        assert reasons(db) == ["id_token_bad_signature"]

    def test_a_return_without_the_browser_that_started_is_refused(self, client, db, provider, directory):
        location = provider.authorize(start(client), KNOWN)
        client.cookies.delete("maillage_psc", path="/connexion/psc/retour")
        client.cookies.clear()
        answer = come_back(client, location)
        assert answer.status_code == 400 and reasons(db) == ["state_mismatch"]

    def test_a_state_is_used_once(self, client, db, provider, directory):
        location = provider.authorize(start(client), KNOWN)
        assert come_back(client, location).status_code == 303
        client.cookies.delete(SESSION_COOKIE)
        assert come_back(client, location).status_code == 400


class TestKeyRotation:
    def test_a_token_signed_with_a_new_key_is_accepted_after_one_refetch_of_the_keys(
            self, client, db, provider, directory):
        from maillage.auth.psc import provider_for

        assert sign_in_as(client, provider, KNOWN).status_code == 303
        fetches = provider_for(client.app.state.settings).jwks_fetches
        assert fetches == 1
        provider.rotate()
        client.cookies.clear()
        second = sign_in_as(client, provider, KNOWN)
        assert second.status_code == 303, reasons(db)
        assert provider_for(client.app.state.settings).jwks_fetches == 2  # once, for the unknown key id
        client.cookies.clear()
        assert sign_in_as(client, provider, KNOWN).status_code == 303
        assert provider_for(client.app.state.settings).jwks_fetches == 2  # cached again


class TestAccessRequests:
    def test_a_newcomer_waits_for_an_administrator_then_signs_in(self, client, db, provider, directory):
        answer = sign_in_as(client, provider, NEWCOMER)
        assert answer.status_code == 202 and "transmise" in answer.text
        request = db.scalar(select(PscAccessRequest))
        assert request is not None and request.status == "pending" and request.display_name == "Marc Lenoir"
        client.cookies.clear()
        sign_in(client, db, directory["admin"])
        page = client.get("/admin/psc")
        assert page.status_code == 200 and "Marc Lenoir" in page.text
        refused = client.post(f"/admin/psc/{request.id}/decision", data={
            "csrf_token": csrf_token(client), "decision": "approve", "role": "administrator"})
        assert refused.status_code == 422  # only care roles are granted here
        decided = client.post(f"/admin/psc/{request.id}/decision", data={
            "csrf_token": csrf_token(client), "decision": "approve", "role": "physician"})
        assert decided.status_code == 200 and "Compte ouvert pour Marc Lenoir" in decided.text
        client.cookies.clear()
        assert sign_in_as(client, provider, NEWCOMER).status_code == 303
        db.expire_all()
        account = db.scalar(select(UserAccount).where(UserAccount.external_subject == NEWCOMER))
        assert account is not None and account.role == "physician"
        assert account.person_id == directory["newcomer"].id

    def test_the_requests_page_is_for_administrators(self, client, db, provider, directory):
        sign_in(client, db, directory["user"])
        assert client.get("/admin/psc").status_code == 403


def test_rpps_is_the_national_identifier_without_its_leading_8() -> None:
    # DOMAIN.md (identifiers): IdNat_PS is "8" + RPPS (11 digits) or "0" + ADELI; never constructed, only read.
    assert rpps_of("810001234567") == "10001234567"
    assert rpps_of("0123456789") is None and rpps_of(None) is None and rpps_of("8abc") is None
