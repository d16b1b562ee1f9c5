"""Every query of the auth package."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from maillage.models.auth import (
    ApiToken,
    AuthSession,
    DeviceCredential,
    LoginAttempt,
    LoginThrottle,
    RecoveryCode,
    UserAccount,
    UserEstablishment,
)


def user_by_username(session: Session, username: str) -> UserAccount | None:
    return session.scalar(select(UserAccount).where(UserAccount.username == username))


def user_by_id(session: Session, user_id: uuid.UUID) -> UserAccount | None:
    return session.get(UserAccount, user_id)


def user_by_external(session: Session, issuer: str, subject: str) -> UserAccount | None:
    return session.scalar(
        select(UserAccount).where(UserAccount.external_issuer == issuer, UserAccount.external_subject == subject)
    )


def list_users(session: Session, limit: int = 500) -> Sequence[UserAccount]:
    return session.scalars(select(UserAccount).order_by(UserAccount.username).limit(limit)).all()


def establishments_of(session: Session, user_id: uuid.UUID) -> list[UserEstablishment]:
    return list(
        session.scalars(
            select(UserEstablishment)
            .where(UserEstablishment.user_id == user_id)
            .order_by(UserEstablishment.is_default.desc(), UserEstablishment.establishment_id)
        )
    )


def establishment_ids_of(session: Session, user_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """The account's establishments, default first: who is calling reads them on every request, as plain ids (no
    entity loaded, no identity map)."""
    return tuple(
        session.scalars(
            select(UserEstablishment.establishment_id)
            .where(UserEstablishment.user_id == user_id)
            .order_by(UserEstablishment.is_default.desc(), UserEstablishment.establishment_id)
        )
    )


def session_by_token_hash(session: Session, token_hash: str) -> tuple[AuthSession, UserAccount | None] | None:
    """The session of a cookie and its account, in one query."""
    row = session.execute(
        select(AuthSession, UserAccount).outerjoin(UserAccount, UserAccount.id == AuthSession.user_id)
        .where(AuthSession.token_hash == token_hash)
    ).first()
    return None if row is None else (row[0], row[1])


# -- Who is calling: Core rows on a plain connection (no entity, no identity map), one statement per request ------

_sessions: Table = AuthSession.__table__  # type: ignore[assignment]
_tokens: Table = ApiToken.__table__  # type: ignore[assignment]
_users: Table = UserAccount.__table__  # type: ignore[assignment]
_memberships: Table = UserEstablishment.__table__  # type: ignore[assignment]

CallerRow = Row[*tuple[Any, ...]]  # a row of the statements below: read by name

_CALLER_ACCOUNT = (_users.c.id.label("user_id"), _users.c.username, _users.c.display_name, _users.c.role,
                   _users.c.status, _memberships.c.establishment_id.label("member_of"))
_MEMBERSHIP_ORDER = (_memberships.c.is_default.desc(), _memberships.c.establishment_id)

_SESSION_CALLER = (
    select(_sessions.c.id, _sessions.c.mfa_passed, _sessions.c.establishment_id, _sessions.c.last_seen_at,
           _sessions.c.expires_at, _sessions.c.revoked_at, _users.c.must_change_password, *_CALLER_ACCOUNT)
    .select_from(_sessions.join(_users, _users.c.id == _sessions.c.user_id)
                 .outerjoin(_memberships, _memberships.c.user_id == _users.c.id))
    .where(_sessions.c.token_hash == bindparam("token_hash"))
    .order_by(*_MEMBERSHIP_ORDER)
)

_TOKEN_CALLER = (
    select(_tokens.c.id, _tokens.c.kind, _tokens.c.service_name, _tokens.c.service_role, _tokens.c.name,
           _tokens.c.scopes, _tokens.c.expires_at, _tokens.c.revoked_at, _tokens.c.last_used_at, *_CALLER_ACCOUNT)
    .select_from(_tokens.outerjoin(_users, _users.c.id == _tokens.c.user_id)
                 .outerjoin(_memberships, _memberships.c.user_id == _users.c.id))
    .where(_tokens.c.token_hash == bindparam("token_hash"))
    .order_by(*_MEMBERSHIP_ORDER)
)


def session_caller_rows(conn: Connection, token_hash: str) -> Sequence[CallerRow]:
    """The session of a cookie, its account and the account's establishments (default first), in one statement:
    one row per establishment (one row with ``member_of`` None when it has none), none when the hash is unknown."""
    return conn.execute(_SESSION_CALLER, {"token_hash": token_hash}).all()


def token_caller_rows(conn: Connection, token_hash: str) -> Sequence[CallerRow]:
    """A token, its account (None for a service token) and the account's establishments, in one statement."""
    return conn.execute(_TOKEN_CALLER, {"token_hash": token_hash}).all()


def touch_session(conn: Connection, session_id: uuid.UUID, at: dt.datetime) -> None:
    conn.execute(update(_sessions).where(_sessions.c.id == session_id).values(last_seen_at=at))


def touch_token(conn: Connection, token_id: uuid.UUID, at: dt.datetime) -> None:
    conn.execute(update(_tokens).where(_tokens.c.id == token_id).values(last_used_at=at))


def active_sessions_of(session: Session, user_id: uuid.UUID, at: dt.datetime) -> Sequence[AuthSession]:
    return session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > at)
        .order_by(AuthSession.last_seen_at.desc())
    ).all()


def revoke_sessions_of(session: Session, user_id: uuid.UUID, at: dt.datetime) -> int:
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def token_by_hash(session: Session, token_hash: str) -> tuple[ApiToken, UserAccount | None] | None:
    """A token and its account (personal tokens; None for a service token), in one query."""
    row = session.execute(
        select(ApiToken, UserAccount).outerjoin(UserAccount, UserAccount.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash)
    ).first()
    return None if row is None else (row[0], row[1])


def tokens_of(session: Session, user_id: uuid.UUID) -> Sequence[ApiToken]:
    return session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc())
    ).all()


def revoke_tokens_of(session: Session, user_id: uuid.UUID, at: dt.datetime) -> int:
    result = session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).values(revoked_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def device_by_hash(session: Session, secret_hash: str) -> DeviceCredential | None:
    return session.scalar(select(DeviceCredential).where(DeviceCredential.secret_hash == secret_hash))


def device_by_identifier(session: Session, identifier: str) -> DeviceCredential | None:
    return session.scalar(select(DeviceCredential).where(DeviceCredential.device_identifier == identifier))


def unused_recovery_codes(session: Session, user_id: uuid.UUID) -> Sequence[RecoveryCode]:
    return session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    ).all()


def delete_recovery_codes(session: Session, user_id: uuid.UUID) -> None:
    for code in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id)):
        session.delete(code)


def failures_from_address(session: Session, address: str, since: dt.datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.address == address, LoginAttempt.at >= since, LoginAttempt.success.is_(False))
        )
        or 0
    )


def oldest_failure_from_address(session: Session, address: str, since: dt.datetime) -> dt.datetime | None:
    return session.scalar(
        select(func.min(LoginAttempt.at)).where(
            LoginAttempt.address == address, LoginAttempt.at >= since, LoginAttempt.success.is_(False)
        )
    )


def throttle_of(session: Session, username: str, address: str) -> LoginThrottle | None:
    return session.scalar(
        select(LoginThrottle).where(LoginThrottle.username == username, LoginThrottle.address == address)
    )


def delete_throttles_of(session: Session, username: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))


def signed_in_from(session: Session, user_id: uuid.UUID, address: str, since: dt.datetime) -> bool:
    """Whether the account completed a sign-in (second factor passed) from ``address`` since ``since``."""
    return session.scalar(
        select(AuthSession.id).where(
            AuthSession.user_id == user_id, AuthSession.address == address, AuthSession.mfa_passed.is_(True),
            AuthSession.created_at >= since,
        ).limit(1)
    ) is not None
