"""Login (password, then second factor), TOTP enrolment, logout, the account page, account administration."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from maillage.auth import repository as repo
from maillage.auth import service
from maillage.auth.actor import Actor
from maillage.auth.middleware import clear_session_cookie, set_session_cookie
from maillage.auth.rules import ROLE_LABELS, Role
from maillage.authz.deps import audit_context, current_actor, require
from maillage.authz.policy import ROLE_PERMISSIONS, Permission
from maillage.exceptions import MaillageError, NotFound
from maillage.kit.clock import now
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.templating import templates
from maillage.models.auth import AuthSession, UserAccount

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a local path may follow the login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates().TemplateResponse(request, name, context, status_code=status_code)


def _pending(request: Request, db: Any) -> tuple[AuthSession, UserAccount] | None:
    pending = getattr(request.state, "pending_session", None)
    if not pending:
        return None
    auth_session = db.get(AuthSession, pending[0])
    user = db.get(UserAccount, pending[1])
    if auth_session is None or user is None:
        return None
    return auth_session, user


@router.get("/connexion", response_class=HTMLResponse)
def login_page(request: Request, db: DbSession, suite: str = "/") -> Response:
    if getattr(request.state, "actor", None) is not None:
        return RedirectResponse(safe_next(suite), status_code=303)
    if _pending(request, db) is not None:
        return RedirectResponse(f"/connexion/code?suite={safe_next(suite)}", status_code=303)
    return render(request, "web/login.html", {"error": None, "suite": safe_next(suite)})


@router.post("/connexion", response_class=HTMLResponse)
def login_submit(
    request: Request,
    db: DbSession,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    suite: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings = request.app.state.settings
    address = request.client.host if request.client else ""
    result = service.authenticate_password(db, username, password, address=address,
                                           context=audit_context(request), settings=settings)
    if not result.ok or result.user is None:
        request.state.commit_on_error = True
        return render(request, "web/login.html", {"error": result.message, "suite": safe_next(suite)}, 401)
    token, _ = service.start_session(db, result.user, mfa_passed=False, address=address,
                                     user_agent=request.headers.get("user-agent", ""), settings=settings)
    step = "/connexion/code" if result.user.totp_enrolled_at else "/connexion/enrolement"
    response = RedirectResponse(f"{step}?suite={safe_next(suite)}", status_code=303)
    set_session_cookie(response, request, token, settings)
    return response


@router.get("/connexion/code", response_class=HTMLResponse)
def code_page(request: Request, db: DbSession, suite: str = "/") -> Response:
    found = _pending(request, db)
    if found is None:
        return RedirectResponse("/connexion", status_code=303)
    if found[1].totp_enrolled_at is None:
        return RedirectResponse(f"/connexion/enrolement?suite={safe_next(suite)}", status_code=303)
    return render(request, "auth/code.html", {"error": None, "suite": safe_next(suite)})


@router.post("/connexion/code", response_class=HTMLResponse)
def code_submit(
    request: Request, db: DbSession, code: Annotated[str, Form(max_length=64)] = "",
    suite: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings = request.app.state.settings
    found = _pending(request, db)
    if found is None:
        return RedirectResponse("/connexion", status_code=303)
    auth_session, user = found
    method = service.verify_second_factor(db, user, code)
    if method is None:
        request.state.commit_on_error = True
        result = service.record_second_factor_failure(db, user, auth_session, context=audit_context(request),
                                                      settings=settings)
        if result == "locked":
            response = RedirectResponse("/connexion", status_code=303)
            clear_session_cookie(response)
            return response
        return render(request, "auth/code.html", {"error": "Code incorrect.", "suite": safe_next(suite)}, 401)
    token, _ = service.complete_login(db, auth_session, user, method=method, context=audit_context(request),
                                      settings=settings)
    response = RedirectResponse(safe_next(suite), status_code=303)
    set_session_cookie(response, request, token, settings)
    return response


@router.get("/connexion/enrolement", response_class=HTMLResponse)
def enrol_page(request: Request, db: DbSession, suite: str = "/") -> Response:
    found = _pending(request, db)
    if found is None:
        return RedirectResponse("/connexion", status_code=303)
    if found[1].totp_enrolled_at is not None:
        return RedirectResponse(f"/connexion/code?suite={safe_next(suite)}", status_code=303)
    enrolment = service.pending_totp_enrolment(db, found[1], request.app.state.settings)
    return render(request, "auth/enrol.html", {"enrolment": enrolment, "error": None, "suite": safe_next(suite)})


@router.post("/connexion/enrolement", response_class=HTMLResponse)
def enrol_submit(
    request: Request, db: DbSession, code: Annotated[str, Form(max_length=64)] = "",
    suite: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings = request.app.state.settings
    found = _pending(request, db)
    if found is None:
        return RedirectResponse("/connexion", status_code=303)
    auth_session, user = found
    if user.totp_enrolled_at is not None:
        return RedirectResponse("/connexion/code", status_code=303)
    try:
        codes = service.confirm_totp_enrolment(db, user, code)
    except MaillageError as exc:
        enrolment = service.pending_totp_enrolment(db, user, settings)
        return render(request, "auth/enrol.html",
                      {"enrolment": enrolment, "error": exc.message, "suite": safe_next(suite)}, 422)
    token, _ = service.complete_login(db, auth_session, user, method="totp_enrolment",
                                      context=audit_context(request), settings=settings)
    response = render(request, "auth/recovery_codes.html", {"codes": codes, "suite": safe_next(suite)})
    set_session_cookie(response, request, token, settings)
    return response


@router.post("/deconnexion")
def logout(request: Request, db: DbSession) -> Response:
    actor = getattr(request.state, "actor", None)
    pending = getattr(request.state, "pending_session", None)
    session_id = actor.session_id if isinstance(actor, Actor) else (pending[0] if pending else None)
    if session_id is not None:
        auth_session = db.get(AuthSession, session_id)
        if auth_session is not None:
            service.revoke_session(db, auth_session)
    response = RedirectResponse("/connexion", status_code=303)
    clear_session_cookie(response)
    return response


# -- My account -------------------------------------------------------------------------------------------


@router.get("/compte", response_class=HTMLResponse)
def account_page(request: Request, db: DbSession, actor: Annotated[Actor, Depends(current_actor)]) -> Response:
    user = db.get(UserAccount, actor.user_id)
    if user is None:
        raise NotFound()
    return render(request, "auth/account.html", {
        "user": user, "sessions": repo.active_sessions_of(db, user.id, now()),
        "tokens": repo.tokens_of(db, user.id), "new_token": None,
        "scopes": sorted(p.value for p in ROLE_PERMISSIONS[Role(user.role)]),
    })


@router.post("/compte/sessions/revoquer")
def revoke_everywhere(request: Request, db: DbSession, actor: Annotated[Actor, Depends(current_actor)]) -> Response:
    user = db.get(UserAccount, actor.user_id)
    if user is None:
        raise NotFound()
    service.revoke_all_sessions(db, user)
    response = RedirectResponse("/connexion", status_code=303)
    clear_session_cookie(response)
    return response


@router.post("/compte/jetons", response_class=HTMLResponse)
def create_token_page(
    request: Request, db: DbSession, actor: Annotated[Actor, Depends(current_actor)],
    name: Annotated[str, Form(max_length=100)] = "", days: Annotated[int, Form(ge=1, le=3650)] = 90,
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    user = db.get(UserAccount, actor.user_id)
    if user is None or actor.auth_method != "session":
        raise NotFound()
    issued = service.create_personal_token(db, user, name=name, scopes=scopes or [], days=days,
                                           settings=request.app.state.settings)
    return render(request, "auth/account.html", {
        "user": user, "sessions": repo.active_sessions_of(db, user.id, now()),
        "tokens": repo.tokens_of(db, user.id), "new_token": issued,
        "scopes": sorted(p.value for p in ROLE_PERMISSIONS[Role(user.role)]),
    })


@router.post("/compte/jetons/{token_id}/revoquer")
def revoke_token_page(
    token_id: uuid.UUID, db: DbSession, actor: Annotated[Actor, Depends(current_actor)],
) -> Response:
    user = db.get(UserAccount, actor.user_id)
    service.revoke_token(db, token_id, owner=user)
    return RedirectResponse("/compte", status_code=303)


# -- Account administration -------------------------------------------------------------------------------

AdminActor = Annotated[Actor, Depends(require(Permission.USERS_ADMIN))]


@router.get("/admin/comptes", response_class=HTMLResponse)
def users_page(request: Request, db: DbSession, actor: AdminActor) -> Response:
    return render(request, "auth/users.html", {"users": repo.list_users(db), "now": now(),
                                               "role_labels": ROLE_LABELS})


def _admin_action(db: Any, actor: Actor, request: Request, user_id: uuid.UUID, action: str) -> Response:
    user = db.get(UserAccount, user_id)
    if user is None:
        raise NotFound("Compte introuvable.")
    {"unlock": service.unlock_user, "reset_2fa": service.reset_second_factor,
     "disable": service.disable_user}[action](db, user)
    service.audit_admin_action(db, actor, user, action, audit_context(request))
    return RedirectResponse("/admin/comptes", status_code=303)


@router.post("/admin/comptes/{user_id}/deverrouiller")
def unlock(request: Request, user_id: uuid.UUID, db: DbSession, actor: AdminActor) -> Response:
    return _admin_action(db, actor, request, user_id, "unlock")


@router.post("/admin/comptes/{user_id}/reinitialiser-2fa")
def reset_2fa(request: Request, user_id: uuid.UUID, db: DbSession, actor: AdminActor) -> Response:
    return _admin_action(db, actor, request, user_id, "reset_2fa")


@router.post("/admin/comptes/{user_id}/desactiver")
def disable(request: Request, user_id: uuid.UUID, db: DbSession, actor: AdminActor) -> Response:
    return _admin_action(db, actor, request, user_id, "disable")
