"""FastAPI dependencies that resolve the actor of a request.

The authentication middleware (``maillage.auth.middleware``) puts the authenticated actor, if any,
on ``request.state.actor``. Routes declare what they need:

    actor: Annotated[Actor, Depends(require(Permission.AUDIT_READ))]

Anonymous → 401 (a redirect to the login page for a browser), authenticated without the permission → 403.
Tests may override ``current_actor`` with ``app.dependency_overrides``.

The dependencies a route declares are ``async def``: they only read what the middleware resolved, and FastAPI runs a
plain ``def`` dependency in a worker thread, a hand-off to the thread pool and back (a queue, a wake-up, a wait for
the interpreter lock) for a few attribute reads (docs/adr/0013-web-tier-cpu-per-request.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from maillage.exceptions import NotAuthenticated, PermissionDenied
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows

SESSION_COOKIE = "maillage_session"


def optional_actor(request: Request) -> Actor | None:
    actor = getattr(request.state, "actor", None)
    return actor if isinstance(actor, Actor) else None


# How a caller authenticates, as the OpenAPI document states it. The middleware has already resolved the
# credential; these two only read it (auto_error=False), so that every operation that needs an actor
# documents its security requirement: a bearer token, or a browser session (plus X-CSRF-Token when unsafe).
bearer_token = HTTPBearer(
    auto_error=False, scheme_name="jeton",
    description="Jeton d'accès personnel (`mlg_pat_…`) ou de service (`mlg_svc_…`) : `Authorization: Bearer …`.",
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="session",
    description="Session du navigateur, double authentification passée ; toute requête non sûre porte aussi "
                "l'en-tête `X-CSRF-Token` de la page.",
)


async def current_actor(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)] = None,
    _session: Annotated[str | None, Security(session_cookie)] = None,
) -> Actor:
    actor = optional_actor(request)
    if actor is None:
        raise NotAuthenticated()
    return actor


def require(permission: Permission) -> Callable[[Actor], Awaitable[Actor]]:
    async def dependency(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if not role_allows(actor.role, permission):
            raise PermissionDenied()
        if actor.scopes and permission.value not in actor.scopes:
            raise PermissionDenied("Ce jeton ne donne pas accès à cette action.")
        return actor

    dependency.__name__ = f"require_{permission.value.replace('.', '_')}"
    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route-protection test
    return dependency


CurrentActor = Annotated[Actor, Depends(current_actor)]


def audit_context(request: Request) -> AuditContext:
    """Where a request comes from, for the audit trail."""
    return AuditContext(
        request_id=str(getattr(request.state, "request_id", "") or ""),
        address=request.client.host if request.client else "",
    )
