"""Pro Santé Connect: the OpenID Connect adapter behind the port of ``auth/oidc.py``.

Authorization code flow with PKCE (S256), ``state`` and ``nonce`` kept server-side (``PscLogin``), the assurance
level asked with ``acr_values`` and checked in the ID token, the client secret sent to the token endpoint
(``client_secret_basic``), the ID token verified on the provider's published keys (JWKS; an unknown ``kid``
makes the keys be fetched again once: the provider rotated them), then the user information read with the
access token: ``SubjectNameID`` (or ``preferred_username``) is the IdNat_PS, "8" followed by the RPPS number.

The JOSE work (signatures, key sets, claims) is joserfc's, PKCE's challenge authlib's: nothing hand-written.
Endpoints come from the provider's discovery document, fetched once per process.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from maillage.auth.oidc import ExternalIdentity, acr_satisfies
from maillage.config import Settings
from maillage.kit.clock import now
from maillage.models.auth import UserAccount

SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256")


class PscError(Exception):
    """A sign-in refused at the provider step; ``reason`` goes to the audit trail, never to the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def rpps_of(national_id: str | None) -> str | None:
    """The RPPS number of an IdNat_PS ("8" + RPPS); None for an ADELI-based identifier ("0" + ADELI) or nothing."""
    if national_id and national_id.startswith("8") and national_id[1:].isdigit() and len(national_id) == 12:
        return national_id[1:]
    return None


def new_pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (64 URL-safe characters) and its S256 challenge (RFC 7636 §4.1–4.2)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str


def _key_id(token: str) -> str | None:
    """The ``kid`` of a compact JWS's protected header (read only to choose the key; joserfc verifies)."""
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, TypeError):
        return None
    kid = header.get("kid")
    return str(kid) if kid else None


class PscProvider:
    """One per serve process: the discovery document and the key set are cached, the key set refreshed on an
    unknown key id."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.issuer = settings.psc_issuer.rstrip("/")
        self.client_id = settings.psc_client_id
        self._secret = settings.psc_client_secret.get_secret_value()
        self.scopes = settings.psc_scopes
        self.acr = settings.psc_acr
        self.skew = settings.psc_clock_skew_seconds
        self._http = httpx.Client(timeout=settings.psc_timeout_seconds, transport=transport)
        self._lock = threading.Lock()
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self.jwks_fetches = 0

    # -- The provider's published metadata ----------------------------------------------------------------

    def _get_json(self, url: str, **kwargs: Any) -> Any:
        try:
            response = self._http.get(url, **kwargs)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PscError("provider_unreachable") from exc

    def discovery(self) -> dict[str, Any]:
        with self._lock:
            if self._discovery is None:
                document = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
                if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != self.issuer:
                    raise PscError("discovery_issuer_mismatch")
                self._discovery = document
            return self._discovery

    def key_set(self, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys
        if cached is not None and not refresh:
            return cached
        document = self._get_json(self.discovery()["jwks_uri"])
        try:
            keys = KeySet.import_key_set(document)
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise PscError("jwks_invalid") from exc
        with self._lock:
            self._keys = keys
            self.jwks_fetches += 1
        return keys

    # -- The flow ---------------------------------------------------------------------------------------------

    def authorization_url(self, state: str, nonce: str, redirect_uri: str, code_challenge: str) -> str:
        query = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": self.scopes, "state": state, "nonce": nonce, "acr_values": self.acr,
            "code_challenge": code_challenge, "code_challenge_method": "S256",
        }
        return f"{self.discovery()['authorization_endpoint']}?{urlencode(query)}"

    def _token_request(self, code: str, redirect_uri: str, code_verifier: str) -> Tokens:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": code_verifier}
        try:
            response = self._http.post(self.discovery()["token_endpoint"], data=data,
                                       auth=(self.client_id, self._secret))
        except httpx.HTTPError as exc:
            raise PscError("provider_unreachable") from exc
        if response.status_code != 200:
            raise PscError("token_refused")
        try:
            body = response.json()
            return Tokens(id_token=str(body["id_token"]), access_token=str(body["access_token"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise PscError("token_response_invalid") from exc

    def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature (on the provider's keys), issuer, audience, expiry, issue
        time and nonce are checked; PscError otherwise."""
        try:
            try:
                token = jwt.decode(id_token, self.key_set(), algorithms=list(SIGNING_ALGORITHMS))
            except (InvalidKeyIdError, BadSignatureError) as first:
                # An unknown key id, or no key id and a signature our only key does not verify: the provider may
                # have rotated its keys since we fetched them. Fetched again once, no more; a token that names a
                # key we hold and fails its signature is refused at once.
                if isinstance(first, BadSignatureError) and _key_id(id_token) is not None:
                    raise
                token = jwt.decode(id_token, self.key_set(refresh=True), algorithms=list(SIGNING_ALGORITHMS))
        except InvalidKeyIdError as exc:
            raise PscError("id_token_unknown_key") from exc
        except BadSignatureError as exc:
            raise PscError("id_token_bad_signature") from exc
        except (JoseError, ValueError, TypeError) as exc:
            raise PscError("id_token_malformed") from exc
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(now().timestamp()), leeway=self.skew,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except ExpiredTokenError as exc:
            raise PscError("id_token_expired") from exc
        except InvalidTokenError as exc:
            raise PscError("id_token_not_yet_valid") from exc
        except (InvalidClaimError, MissingClaimError) as exc:
            raise PscError(f"id_token_claim_{getattr(exc, 'claim', 'invalid')}") from exc
        claims = dict(token.claims)
        if int(claims["iat"]) > int(now().timestamp()) + self.skew:
            raise PscError("id_token_issued_in_future")
        azp = claims.get("azp")
        if azp is not None and azp != self.client_id:
            raise PscError("id_token_claim_azp")
        return claims

    def user_info(self, access_token: str) -> dict[str, Any]:
        try:
            response = self._http.get(self.discovery()["userinfo_endpoint"],
                                      headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise PscError("provider_unreachable") from exc
        if response.status_code != 200:
            raise PscError("userinfo_refused")
        if response.headers.get("content-type", "").startswith("application/jwt"):
            try:
                token = jwt.decode(response.text, self.key_set(), algorithms=list(SIGNING_ALGORITHMS))
            except (JoseError, ValueError) as exc:
                raise PscError("userinfo_bad_signature") from exc
            return dict(token.claims)
        try:
            body = json.loads(response.text)
        except ValueError as exc:
            raise PscError("userinfo_invalid") from exc
        if not isinstance(body, dict):
            raise PscError("userinfo_invalid")
        return body

    def exchange_code(self, code: str, redirect_uri: str, nonce: str, code_verifier: str) -> ExternalIdentity:
        """The verified identity behind an authorization code; PscError when anything does not hold, including an
        assurance level below the configured one."""
        tokens = self._token_request(code, redirect_uri, code_verifier)
        claims = self.verify_id_token(tokens.id_token, nonce)
        acr = claims.get("acr")
        if not acr_satisfies(acr if isinstance(acr, str) else None, self.acr):
            raise PscError("acr_too_low")
        info = self.user_info(tokens.access_token)
        if info.get("sub") != claims["sub"]:
            raise PscError("userinfo_subject_mismatch")
        national_id = info.get("SubjectNameID") or info.get("preferred_username")
        national_id = str(national_id) if national_id else None
        names = " ".join(str(info[k]) for k in ("given_name", "family_name") if info.get(k))
        return ExternalIdentity(issuer=self.issuer, subject=str(claims["sub"]), rpps=rpps_of(national_id),
                                acr=str(acr), display_name=names or None, national_id=national_id)

    def end_session_url(self, id_token_hint: str | None, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end its session at the provider too (None when it publishes no such
        endpoint)."""
        try:
            endpoint = self.discovery().get("end_session_endpoint")
        except PscError:
            return None
        if not endpoint:
            return None
        query = {"post_logout_redirect_uri": post_logout_redirect_uri, "client_id": self.client_id,
                 "state": secrets.token_urlsafe(16)}
        if id_token_hint:
            query["id_token_hint"] = id_token_hint
        return f"{endpoint}?{urlencode(query)}"

    def close(self) -> None:
        self._http.close()


_providers: dict[tuple[str, str], PscProvider] = {}
_providers_lock = threading.Lock()


def provider_for(settings: Settings) -> PscProvider:
    """The process's provider for these settings (its caches shared by every request)."""
    key = (settings.psc_issuer, settings.psc_client_id)
    with _providers_lock:
        found = _providers.get(key)
        if found is None:
            found = _providers[key] = PscProvider(settings)
        return found


def end_session_redirect(settings: Settings, user: UserAccount | None) -> str | None:
    """Where a logout goes for an account linked to Pro Santé Connect: the provider's end-session endpoint (its
    own session would otherwise sign the browser in again at once), which brings the browser back to the login
    page; None for any other account or when PSC is off."""
    if not settings.psc_enabled or user is None or user.external_issuer != settings.psc_issuer.rstrip("/"):
        return None
    return provider_for(settings).end_session_url(None, settings.base_url.rstrip("/") + "/connexion")


def clear_providers() -> None:
    """Forget the cached providers (tests start a new provider per test)."""
    with _providers_lock:
        for provider in _providers.values():
            provider.close()
        _providers.clear()
