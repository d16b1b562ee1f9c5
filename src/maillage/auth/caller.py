"""Who is calling: a request's session cookie or bearer token resolved in ONE statement, as Core rows.

Every request that carries a credential asks this (``auth.middleware``), so it is written for the cost of each
request: one SELECT joining the credential, its account and the account's establishments (one row per
establishment), read as plain rows on a plain connection — no ORM entity loaded, no identity map, no unit of work —
and, at most once a minute per credential, one UPDATE of its last use.

Nothing here is cached between requests, on purpose: a revoked session or token, a disabled account, a changed role
or establishment must hold from the very next request, in every serve process; the statement is that check, made
against the committed state of the database each time (docs/adr/0018-web-tier-who-is-calling-and-the-stack.md).

The rules are the ones ``service.resolve_session`` and ``tokens.resolve_token`` apply to entities: a session is live
per ``rules.session_is_live``; a token is refused once revoked or expired, and a personal token when its account is
not active.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from maillage.auth import repository as repo
from maillage.auth.rules import TOKEN_PREFIXES, session_is_live, touch_due
from maillage.kit.clock import now
from maillage.kit.tokens import hash_token
from maillage.security.actor import Actor
from maillage.security.roles import Role

MAX_SECRET_LENGTH = 200


@dataclass(frozen=True)
class SessionCaller:
    """What a session cookie opens: an actor (second factor passed, password in order), or only the next step of
    the sign-in — the second factor (``pending``) or the replacement of a one-time password (``password_change``);
    each of those two is the pair (session id, account id)."""

    actor: Actor | None = None
    pending: tuple[uuid.UUID, uuid.UUID] | None = None
    password_change: tuple[uuid.UUID, uuid.UUID] | None = None
    via: str = ""  # "cookie" or "token" when there is an actor


NOBODY = SessionCaller()


def _establishments(rows: Sequence[repo.CallerRow]) -> tuple[uuid.UUID, ...]:
    return tuple(row.member_of for row in rows if row.member_of is not None)


def session_caller(conn: Connection, token: str, *, idle_minutes: int) -> SessionCaller:
    """The caller behind a session cookie; ``NOBODY`` when it opens nothing (unknown, expired, idle, revoked, its
    account not active)."""
    if not token or len(token) > MAX_SECRET_LENGTH:
        return NOBODY
    rows = repo.session_caller_rows(conn, hash_token(token))
    if not rows:
        return NOBODY
    first, at = rows[0], now()
    if not session_is_live(revoked_at=first.revoked_at, expires_at=first.expires_at, last_seen_at=first.last_seen_at,
                           account_status=first.status, at=at, idle_minutes=idle_minutes):
        return NOBODY
    if touch_due(first.last_seen_at, at):
        repo.touch_session(conn, first.id, at)
    if not first.mfa_passed:
        return SessionCaller(pending=(first.id, first.user_id))
    if first.must_change_password:
        return SessionCaller(password_change=(first.id, first.user_id))
    return SessionCaller(actor=Actor(
        user_id=first.user_id, username=first.username, display_name=first.display_name, role=Role(first.role),
        establishment_ids=_establishments(rows), current_establishment_id=first.establishment_id,
        auth_method="session", session_id=first.id,
    ), via="cookie")


def token_actor(conn: Connection, secret: str) -> Actor | None:
    """The actor of a personal or service token; None when it opens nothing (unknown, revoked, expired, a personal
    token whose account is not active)."""
    if not secret.startswith((TOKEN_PREFIXES["personal"], TOKEN_PREFIXES["service"])) \
            or len(secret) > MAX_SECRET_LENGTH:
        return None
    rows = repo.token_caller_rows(conn, hash_token(secret))
    if not rows:
        return None
    first, at = rows[0], now()
    if first.revoked_at is not None or first.expires_at <= at:
        return None
    if touch_due(first.last_used_at, at):
        repo.touch_token(conn, first.id, at)
    scopes = frozenset(first.scopes or [])
    if first.kind != "personal":
        return Actor(user_id=first.id, username=f"service:{first.service_name}", display_name=first.name,
                     role=Role(first.service_role or Role.ANALYST), auth_method="service_token", scopes=scopes,
                     token_id=first.id)
    if first.user_id is None or first.status != "active":
        return None
    establishments = _establishments(rows)
    return Actor(
        user_id=first.user_id, username=first.username, display_name=first.display_name, role=Role(first.role),
        establishment_ids=establishments, current_establishment_id=establishments[0] if establishments else None,
        auth_method="token", scopes=scopes, token_id=first.id,
    )


def who_is_calling(conn: Connection, *, bearer: str | None, session_token: str, idle_minutes: int) -> SessionCaller:
    """The caller of a request: its bearer token when it sends an ``Authorization: Bearer`` header (then its cookie
    is not looked at), else its session cookie. Device credentials are not resolved here (``tokens.resolve_device``).
    """
    if bearer is not None:
        actor = token_actor(conn, bearer)
        return NOBODY if actor is None else SessionCaller(actor=actor, via="token")
    return session_caller(conn, session_token, idle_minutes=idle_minutes)
