"""Login (password, then second factor, then the replacement of a one-time password), TOTP enrolment, logout,
the account page, account administration.

The account pages (``/compte…``) manage credentials: they need a browser session whose second factor is
passed, never an API token, and act on the signed-in account's own sessions and tokens only.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from maillage.auth import repository as repo
from maillage.auth import rules, second_factor, service
from maillage.auth import tokens as auth_tokens
from maillage.auth.middleware import bind_csrf_to_session, clear_session_cookie, set_session_cookie
from maillage.auth.psc import end_session_redirect
from maillage.exceptions import MaillageError, NotFound, PermissionDenied
from maillage.kit.clock import now
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.templating import templates
from maillage.models.auth import AuthSession, UserAccount
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, current_actor, require
from maillage.security.policy import PERMISSION_LABELS, ROLE_PERMISSIONS, Permission, permission_label
from maillage.security.roles import Role

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


def _password_change(request: Request, db: Any) -> tuple[AuthSession, UserAccount] | None:
    found = getattr(request.state, "password_change_session", None)
    if not found:
        return None
    auth_session = db.get(AuthSession, found[0])
    user = db.get(UserAccount, found[1])
    if auth_session is None or user is None:
        return None
    return auth_session, user


PASSWORD_CHANGE_PATH = "/connexion/mot-de-passe"  # noqa: S105 - a URL, not a password


def _after_second_factor(user: UserAccount, suite: str) -> str:
    """Where a sign-in goes once the second factor is passed: the page asked for, or first the replacement
    of a one-time password."""
    return f"{PASSWORD_CHANGE_PATH}?suite={safe_next(suite)}" if user.must_change_password else safe_next(suite)


@router.get("/connexion", response_class=HTMLResponse)
def login_page(request: Request, db: DbSession, suite: str = "/") -> Response:
    if getattr(request.state, "actor", None) is not None:
        return RedirectResponse(safe_next(suite), status_code=303)
    if _password_change(request, db) is not None:
        return RedirectResponse(f"{PASSWORD_CHANGE_PATH}?suite={safe_next(suite)}", status_code=303)
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
    try:
        method = second_factor.verify_second_factor(db, user, code)
    except second_factor.CodeAlreadyUsed as exc:
        return render(request, "auth/code.html", {"error": exc.message, "suite": safe_next(suite)}, 401)
    if method is None:
        request.state.commit_on_error = True
        result = second_factor.record_second_factor_failure(db, user, auth_session, context=audit_context(request),
                                                      settings=settings)
        if result == "locked":
            response = RedirectResponse("/connexion", status_code=303)
            clear_session_cookie(response)
            return response
        return render(request, "auth/code.html", {"error": "Code incorrect.", "suite": safe_next(suite)}, 401)
    token, _ = service.complete_login(db, auth_session, user, method=method, context=audit_context(request),
                                      settings=settings)
    response = RedirectResponse(_after_second_factor(user, suite), status_code=303)
    set_session_cookie(response, request, token, settings)
    return response


@router.get("/connexion/enrolement", response_class=HTMLResponse)
def enrol_page(request: Request, db: DbSession, suite: str = "/") -> Response:
    found = _pending(request, db)
    if found is None:
        return RedirectResponse("/connexion", status_code=303)
    if found[1].totp_enrolled_at is not None:
        return RedirectResponse(f"/connexion/code?suite={safe_next(suite)}", status_code=303)
    enrolment = second_factor.pending_totp_enrolment(db, found[1], request.app.state.settings)
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
        codes = second_factor.confirm_totp_enrolment(db, user, code)
    except MaillageError as exc:
        enrolment = second_factor.pending_totp_enrolment(db, user, settings)
        return render(request, "auth/enrol.html",
                      {"enrolment": enrolment, "error": exc.message, "suite": safe_next(suite)}, 422)
    token, _ = service.complete_login(db, auth_session, user, method="totp_enrolment",
                                      context=audit_context(request), settings=settings)
    bind_csrf_to_session(request, token)
    response = render(request, "auth/recovery_codes.html", {"codes": codes, "suite": _after_second_factor(user, suite)})
    set_session_cookie(response, request, token, settings)
    return response


@router.get(PASSWORD_CHANGE_PATH, response_class=HTMLResponse)
def forced_change_page(request: Request, db: DbSession, suite: str = "/") -> Response:
    if _password_change(request, db) is None:
        return RedirectResponse(f"/connexion?suite={safe_next(suite)}", status_code=303)
    return render(request, "auth/password_change.html", {"error": None, "details": [], "suite": safe_next(suite)})


@router.post(PASSWORD_CHANGE_PATH, response_class=HTMLResponse)
def forced_change_submit(
    request: Request, db: DbSession, new_password: Annotated[str, Form(max_length=1024)] = "",
    confirmation: Annotated[str, Form(max_length=1024)] = "", suite: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings = request.app.state.settings
    found = _password_change(request, db)
    if found is None:
        return RedirectResponse("/connexion", status_code=303)
    auth_session, user = found
    try:
        service.complete_forced_change(db, user, new_password=new_password, confirmation=confirmation,
                                       context=audit_context(request))
    except MaillageError as exc:
        return render(request, "auth/password_change.html",
                      {"error": exc.message, "details": exc.details or [], "suite": safe_next(suite)}, 422)
    # Every session ended with the change; this browser gets a new one (password and second factor just passed).
    token, _ = service.start_session(db, user, mfa_passed=True, address=auth_session.address or "",
                                     user_agent=auth_session.user_agent or "", settings=settings)
    response = RedirectResponse(safe_next(suite), status_code=303)
    set_session_cookie(response, request, token, settings)
    return response


@router.post("/deconnexion")
def logout(request: Request, db: DbSession) -> Response:
    actor = getattr(request.state, "actor", None)
    state = request.state
    pending = getattr(state, "pending_session", None) or getattr(state, "password_change_session", None)
    session_id = actor.session_id if isinstance(actor, Actor) else (pending[0] if pending else None)
    end_session_url = None
    if session_id is not None:
        auth_session = db.get(AuthSession, session_id)
        if auth_session is not None:
            service.revoke_session(db, auth_session)
            end_session_url = end_session_redirect(request.app.state.settings,
                                                   db.get(UserAccount, auth_session.user_id))
    # Signed in through Pro Santé Connect: its session ends too. A page sends the browser there, since the CSP's
    # form-action keeps a form's redirect on this site.
    response: Response = (render(request, "auth/psc_logged_out.html", {"end_session_url": end_session_url})
                          if end_session_url else RedirectResponse("/connexion", status_code=303))
    clear_session_cookie(response)
    return response


# -- My account -------------------------------------------------------------------------------------------


async def account_actor(request: Request, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    """The account pages manage credentials: a browser session with its second factor passed, nothing else
    (a personal token, whatever its scopes, or a service token is refused)."""
    if getattr(request.state, "auth_via", None) != "cookie" or actor.session_id is None:
        raise PermissionDenied("La gestion du compte demande une session ouverte avec la double authentification.")
    return actor


AccountActor = Annotated[Actor, Depends(account_actor)]


def _own_account(db: Any, actor: Actor) -> UserAccount:
    user = db.get(UserAccount, actor.user_id)
    if user is None:
        raise NotFound()
    return user


def _account_page(request: Request, db: Any, user: UserAccount, status_code: int = 200, **extra: Any) -> Response:
    context: dict[str, Any] = {
        "user": user, "sessions": repo.active_sessions_of(db, user.id, now()),
        "tokens": repo.tokens_of(db, user.id), "new_token": None, "password_error": None, "password_details": [],
        "password_changed": False,
        "scopes": sorted(((p.value, PERMISSION_LABELS[p]) for p in ROLE_PERMISSIONS[Role(user.role)]),
                         key=lambda scope: scope[1]),
        "scope_label": permission_label, "describe_user_agent": rules.describe_user_agent,
    }
    context.update(extra)
    return render(request, "auth/account.html", context, status_code)


@router.get("/compte", response_class=HTMLResponse)
def account_page(request: Request, db: DbSession, actor: AccountActor, mot_de_passe: str = "") -> Response:
    return _account_page(request, db, _own_account(db, actor), password_changed=mot_de_passe == "modifie")


@router.post("/compte/sessions/revoquer")
def revoke_everywhere(request: Request, db: DbSession, actor: AccountActor) -> Response:
    service.revoke_all_sessions(db, _own_account(db, actor))
    response = RedirectResponse("/connexion", status_code=303)
    clear_session_cookie(response)
    return response


@router.post("/compte/mot-de-passe", response_class=HTMLResponse)
def change_password(
    request: Request, db: DbSession, actor: AccountActor,
    current_password: Annotated[str, Form(max_length=1024)] = "", code: Annotated[str, Form(max_length=64)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "", confirmation: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    settings = request.app.state.settings
    user = _own_account(db, actor)
    try:
        service.change_password(db, user, current_password=current_password, code=code, new_password=new_password,
                                confirmation=confirmation, context=audit_context(request), settings=settings)
    except MaillageError as exc:
        request.state.commit_on_error = True  # keep the failure counters; nothing else was changed
        return _account_page(request, db, user, 422, password_error=exc.message, password_details=exc.details or [])
    # Every session ended with the change, this one too: this browser gets a new one.
    auth_session = db.get(AuthSession, actor.session_id)
    token, _ = service.start_session(db, user, mfa_passed=True,
                                     address=(auth_session.address if auth_session else "") or "",
                                     user_agent=(auth_session.user_agent if auth_session else "") or "",
                                     settings=settings)
    response = RedirectResponse("/compte?mot_de_passe=modifie", status_code=303)
    set_session_cookie(response, request, token, settings)
    return response


@router.post("/compte/jetons", response_class=HTMLResponse)
def create_token_page(
    request: Request, db: DbSession, actor: AccountActor,
    name: Annotated[str, Form(max_length=100)] = "", days: Annotated[int, Form(ge=1, le=3650)] = 90,
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    user = _own_account(db, actor)
    issued = auth_tokens.create_personal_token(db, user, name=name, scopes=scopes or [], days=days,
                                           settings=request.app.state.settings)
    return _account_page(request, db, user, new_token=issued)


@router.post("/compte/jetons/{token_id}/revoquer")
def revoke_token_page(token_id: uuid.UUID, db: DbSession, actor: AccountActor) -> Response:
    auth_tokens.revoke_token(db, token_id, owner=_own_account(db, actor))
    return RedirectResponse("/compte", status_code=303)


# -- Account administration -------------------------------------------------------------------------------

AdminActor = Annotated[Actor, Depends(require(Permission.USERS_ADMIN))]


def _users_page(request: Request, db: Any, **extra: Any) -> Response:
    return render(request, "auth/users.html", {"users": repo.list_users(db), "now": now(),
                                               "role_labels": Role.labels(), "one_time": None, **extra})


@router.get("/admin/comptes", response_class=HTMLResponse)
def users_page(request: Request, db: DbSession, actor: AdminActor) -> Response:
    return _users_page(request, db)


@router.post("/admin/comptes/{user_id}/reinitialiser-mot-de-passe", response_class=HTMLResponse)
def reset_password(request: Request, user_id: uuid.UUID, db: DbSession, actor: AdminActor) -> Response:
    """A one-time password, shown once on the page that answers (never stored in clear, never in a URL)."""
    user = db.get(UserAccount, user_id)
    if user is None:
        raise NotFound("Compte introuvable.")
    password = service.reset_password(db, user, request.app.state.settings)
    service.audit_admin_action(db, actor, user, "reset_password", audit_context(request))
    return _users_page(request, db, one_time={"username": user.username, "password": password,
                                              "hours": request.app.state.settings.one_time_password_hours})


def _admin_action(db: Any, actor: Actor, request: Request, user_id: uuid.UUID, action: str) -> Response:
    user = db.get(UserAccount, user_id)
    if user is None:
        raise NotFound("Compte introuvable.")
    {"unlock": service.unlock_user, "reset_2fa": second_factor.reset_second_factor,
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
