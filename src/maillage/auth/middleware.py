"""Resolve who is calling, once per request, before any route runs.

- Browser: the ``maillage_session`` cookie → a session whose second factor is passed → ``request.state.actor``.
  A session still waiting for its second factor is exposed as ``request.state.pending_session`` only.
- API: ``Authorization: Bearer mlg_pat_…`` (personal) or ``mlg_svc_…`` (service) → ``request.state.actor``
  with the token's scopes; ``mlg_dev_…`` (a device) → ``request.state.device`` and nothing else.
- A session whose second factor is passed but whose password is a one-time password still to replace is
  ``request.state.password_change_session`` only: no actor until the password is changed.
- CSRF: every browser gets an HttpOnly ``maillage_csrf`` nonce cookie; pages embed
  ``HMAC(secret_key, nonce, SHA-256(session cookie))`` (``request.state.csrf_token``) in forms and in the HTMX
  header, and ``csrf_protect`` checks it on every unsafe request authenticated by cookie. The token is bound to
  the session: one minted for another session (an attacker's own, planted with its nonce) is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maillage.auth import caller
from maillage.auth import tokens as auth_tokens
from maillage.auth.rules import CSRF_COOKIE, TOKEN_PREFIXES
from maillage.config import Settings
from maillage.exceptions import PermissionDenied
from maillage.kit.logging import bind_context
from maillage.kit.tokens import hash_token, keyed_digest, new_token, same
from maillage.security.deps import SESSION_COOKIE

SKIP_PREFIXES = ("/static/", "/healthz", "/readyz", "/metrics")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def cookie_is_secure(settings: Settings, scope: Scope) -> bool:
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").split(":")[0]
    return not (scope.get("scheme") == "http" and host in ("127.0.0.1", "localhost", "::1", "[::1]"))


def csrf_token_for(settings: Settings, nonce: str, session_token: str = "") -> str:
    """The CSRF token of a browser (its nonce cookie) in a session (its session cookie, "" when none)."""
    bound = hash_token(session_token) if session_token else "-"
    return keyed_digest(settings.secret_key, f"csrf:{nonce}:{bound}")


def bind_csrf_to_session(request: Request, session_token: str) -> None:
    """After a new session cookie is issued, pages rendered by the same request carry its CSRF token."""
    settings: Settings = request.app.state.settings
    nonce = getattr(request.state, "csrf_nonce", "")
    if nonce:
        request.state.csrf_token = csrf_token_for(settings, nonce, session_token)


@contextmanager
def caller_connection(sessions: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection for who is calling: on an engine, a plain pooled connection, in autocommit on PostgreSQL (no
    BEGIN / COMMIT round trips around one read and the occasional update of the last use); otherwise (a session
    factory bound to one connection, as in tests) the connection of a session, committed at the end."""
    bind = sessions.kw.get("bind")
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn
            conn.commit()
        return
    with sessions() as db:
        yield db.connection()
        db.commit()


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SKIP_PREFIXES):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        headers = dict(scope.get("headers") or [])
        # Starlette's parser (a split, as browsers send cookies), not http.cookies' regular expressions and morsels.
        cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
        settings: Settings = scope["app"].state.settings
        sessions = scope["app"].state.sessionmaker
        auth_header = headers.get(b"authorization", b"").decode("latin-1")
        session_token = cookies.get(SESSION_COOKIE, "")

        bearer = auth_header[7:].strip() if auth_header.lower().startswith("bearer ") else None
        idle = settings.session_idle_minutes

        def resolve() -> caller.SessionCaller:
            with caller_connection(sessions) as conn:
                return caller.who_is_calling(conn, bearer=bearer, session_token=session_token, idle_minutes=idle)

        def resolve_device() -> None:
            with sessions() as db:
                device = auth_tokens.resolve_device(db, bearer or "")
                db.commit()
            if device is not None:
                state["device"] = device

        found = caller.NOBODY
        if bearer is not None and bearer.startswith(TOKEN_PREFIXES["device"]):
            await run_in_threadpool(resolve_device)
        elif bearer is not None or session_token:
            caller_engine: AsyncEngine | None = getattr(scope["app"].state, "caller_engine", None)
            if caller_engine is not None:  # awaited on the event loop: no hand-off to a worker thread
                async with caller_engine.connect() as aconn:
                    found = await aconn.run_sync(caller.who_is_calling, bearer=bearer, session_token=session_token,
                                                 idle_minutes=idle)
            else:
                found = await run_in_threadpool(resolve)
        if found.actor is not None:
            state["actor"] = found.actor
            state["auth_via"] = found.via
        elif found.password_change is not None:
            state["password_change_session"] = found.password_change
        elif found.pending is not None:
            state["pending_session"] = found.pending

        state["cookie_session"] = bool(session_token)
        actor = state.get("actor")
        if actor is not None:
            bind_context(actor_id=str(actor.user_id))

        nonce = cookies.get(CSRF_COOKIE, "")
        set_nonce = not nonce or len(nonce) > 100
        if set_nonce:
            nonce = new_token(nbytes=24)
        state["csrf_nonce"] = nonce
        state["csrf_token"] = csrf_token_for(settings, nonce, session_token if len(session_token) <= 200 else "")
        secure = cookie_is_secure(settings, scope)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and set_nonce:
                h = MutableHeaders(scope=message)
                flags = "; HttpOnly; SameSite=Strict; Path=/" + ("; Secure" if secure else "")
                h.append("set-cookie", f"{CSRF_COOKIE}={nonce}{flags}")
            await send(message)

        await self.app(scope, receive, send_wrapper)


async def csrf_protect(request: HTTPConnection) -> None:
    """Refuse an unsafe request authenticated by cookie unless it carries the page's CSRF token.

    Requests authenticated by a bearer token carry no ambient credential and need no CSRF token. A WebSocket has no
    method and no form: its route checks the handshake's ``Origin`` itself (the teleconsultation signalling).
    """
    if not isinstance(request, Request):
        return
    if request.method not in UNSAFE_METHODS or getattr(request.state, "auth_via", None) == "token":
        return
    if getattr(request.state, "device", None) is not None:
        return
    content_type = request.headers.get("content-type", "")
    is_form = content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data", "text/plain"))
    if not getattr(request.state, "cookie_session", False) and not is_form:
        return  # no ambient credential and not something a cross-site page can post: nothing to forge
    expected = getattr(request.state, "csrf_token", "")
    supplied = request.headers.get("x-csrf-token", "")
    if not supplied and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value: Any = form.get("csrf_token", "")
        supplied = value if isinstance(value, str) else ""
    if not expected or not supplied or not same(expected, supplied):
        raise PermissionDenied("Jeton anti-falsification (CSRF) manquant ou invalide : rechargez la page.")


def set_session_cookie(response: Any, request: Request, token: str, settings: Settings) -> None:
    bind_csrf_to_session(request, token)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", path="/",
        secure=cookie_is_secure(settings, request.scope), max_age=settings.session_absolute_hours * 3600,
    )


def clear_session_cookie(response: Any) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
