"""Sign-in with Pro Santé Connect (start, return, end at the provider) and the administrators' page of access
requests. Off (404) while ``MAILLAGE_PSC_ISSUER`` / ``MAILLAGE_PSC_CLIENT_ID`` are not set."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, select

from maillage.auth import oidc, service
from maillage.auth.middleware import cookie_is_secure, set_session_cookie
from maillage.auth.pages import render, safe_next
from maillage.auth.psc import PscError, new_pkce_pair, provider_for
from maillage.config import Settings
from maillage.exceptions import NotFound, TooManyRequests, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.tokens import hash_token
from maillage.models.auth import UserAccount
from maillage.models.psc import PscLogin
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.security.roles import Role

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

BROWSER_COOKIE = "maillage_psc"
RETURN_PATH = "/connexion/psc/retour"
REFUSED = ("La connexion avec Pro Santé Connect n'a pas abouti. Réessayez, ou connectez-vous avec votre identifiant "
           "et votre mot de passe.")
MESSAGES = {
    "acr_too_low": "Le niveau d'authentification de Pro Santé Connect ne suffit pas pour cet espace : connectez-vous "
                   "avec votre carte CPS ou l'application e-CPS.",
    "unknown_professional": "Votre identifiant national de professionnel de santé n'est pas connu de l'annuaire du "
                            "territoire. Adressez-vous à l'administrateur de la plateforme.",
    "pending_approval": "Votre demande d'accès a été transmise à l'administrateur de la plateforme ; vous pourrez "
                        "vous connecter une fois votre compte ouvert.",
    "access_refused": "Votre demande d'accès n'a pas été acceptée. Adressez-vous à l'administrateur de la plateforme.",
    "disabled": REFUSED,
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    if not settings.psc_enabled:
        raise NotFound()
    return settings


def _redirect_uri(request: Request, settings: Settings) -> str:
    return settings.base_url.rstrip("/") + RETURN_PATH


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _login_page(request: Request, message: str, status_code: int, suite: str = "/") -> Response:
    response = render(request, "web/login.html", {"error": message, "suite": safe_next(suite)}, status_code)
    response.delete_cookie(BROWSER_COOKIE, path=RETURN_PATH)
    return response


@router.get("/connexion/psc")
def psc_start(request: Request, db: DbSession, suite: str = "/") -> Response:
    settings = _settings(request)
    try:
        service.check_address_rate(db, _address(request), settings)
    except TooManyRequests as exc:
        return _login_page(request, exc.message, 429, suite)
    at = now()
    db.execute(delete(PscLogin).where(PscLogin.expires_at <= at))
    state, nonce, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, challenge = new_pkce_pair()
    db.add(PscLogin(state_hash=hash_token(state), browser_hash=hash_token(browser), nonce=nonce,
                    code_verifier=verifier, suite=safe_next(suite)[:2000], created_at=at,
                    expires_at=at + dt.timedelta(minutes=settings.psc_login_minutes)))
    try:
        url = provider_for(settings).authorization_url(state, nonce, _redirect_uri(request, settings), challenge)
    except PscError:
        return _login_page(request, REFUSED, 502, suite)
    response = RedirectResponse(url, status_code=303)
    # Binds the return to this browser: a code and state obtained elsewhere cannot be replayed into it.
    response.set_cookie(BROWSER_COOKIE, browser, httponly=True, samesite="lax", path=RETURN_PATH,
                        secure=cookie_is_secure(settings, request.scope), max_age=settings.psc_login_minutes * 60)
    return response


@router.get(RETURN_PATH)
def psc_return(request: Request, db: DbSession, state: str = "", code: str = "", error: str = "") -> Response:
    settings = _settings(request)
    request.state.commit_on_error = True
    address, context = _address(request), audit_context(request)
    pending = (db.scalar(select(PscLogin).where(PscLogin.state_hash == hash_token(state)).with_for_update())
               if 0 < len(state) <= 200 else None)
    if pending is not None:
        db.delete(pending)  # one use, whatever happens next
        db.flush()
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if pending is None or pending.expires_at <= now() or not browser or hash_token(browser) != pending.browser_hash:
        oidc.record_external_failure(db, "oidc:?", "state_mismatch", address=address, context=context)
        return _login_page(request, REFUSED, 400)
    suite = pending.suite
    if error or not code or len(code) > 2000:
        oidc.record_external_failure(db, "oidc:?", f"provider_error:{error[:40]}" if error else "no_code",
                                     address=address, context=context)
        return _login_page(request, REFUSED, 401, suite)
    try:
        identity = provider_for(settings).exchange_code(code, _redirect_uri(request, settings), pending.nonce,
                                                        pending.code_verifier)
    except PscError as exc:
        oidc.record_external_failure(db, "oidc:?", exc.reason, address=address, context=context)
        return _login_page(request, MESSAGES.get(exc.reason, REFUSED), 401, suite)
    outcome = oidc.sign_in_external(db, identity, required_acr=settings.psc_acr, address=address, context=context)
    if outcome.outcome != "signed_in" or outcome.user is None:
        status = 202 if outcome.outcome == "pending" else 401
        return _login_page(request, MESSAGES.get(outcome.reason, REFUSED), status, suite)
    user = outcome.user
    pending_session = service.start_session(db, user, mfa_passed=False, address=address,
                                            user_agent=request.headers.get("user-agent", ""), settings=settings)[1]
    token, _ = service.complete_login(db, pending_session, user, method="psc", context=context, settings=settings)
    response = RedirectResponse(safe_next(suite), status_code=303)
    set_session_cookie(response, request, token, settings)
    response.delete_cookie(BROWSER_COOKIE, path=RETURN_PATH)
    return response


# -- Access requests (administrators) ---------------------------------------------------------------------

AdminActor = Annotated[Actor, Depends(require(Permission.USERS_ADMIN))]
GRANTABLE_ROLES = (Role.PHYSICIAN, Role.MIDWIFE, Role.NURSE, Role.COORDINATING_NURSE, Role.PHARMACIST)


def _requests_page(request: Request, db: Any, status_code: int = 200, **extra: Any) -> Response:
    return render(request, "auth/psc_requests.html", {
        "requests": oidc.pending_access_requests(db),
        "roles": [(r.value, Role.labels()[r]) for r in GRANTABLE_ROLES],
        "enabled": request.app.state.settings.psc_enabled, "decided": None, "error": None, **extra,
    }, status_code)


@router.get("/admin/psc", response_class=HTMLResponse)
def requests_page(request: Request, db: DbSession, actor: AdminActor) -> Response:
    return _requests_page(request, db)


@router.post("/admin/psc/{request_id}/decision", response_class=HTMLResponse)
def decide(
    request: Request, request_id: uuid.UUID, db: DbSession, actor: AdminActor,
    decision: Annotated[str, Form(max_length=16)] = "", role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    if decision not in ("approve", "refuse") or (decision == "approve"
                                                  and role not in {r.value for r in GRANTABLE_ROLES}):
        raise ValidationFailed("Choisissez un rôle pour ouvrir le compte.",
                               details=[{"field": "role", "message": "Rôle à choisir."}])
    found = oidc.decide_access_request(db, request_id, approve=decision == "approve", role=role,
                                       actor_id=actor.user_id, create_account=service.create_user)
    account = db.get(UserAccount, found.account_id) if found.account_id else None
    if account is not None:
        service.audit_admin_action(db, actor, account, "psc_access_approved", audit_context(request))
    else:
        oidc.audit_user_event(db, None, "admin_psc_access_refused", "success", audit_context(request), actor=actor,
                              request_id=str(found.id))
    return _requests_page(request, db, decided={"name": found.display_name, "approved": account is not None})
