"""Accounts, second factor, sessions, API tokens, device credentials, login attempts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id

ROLES_SQL = (
    "'physician', 'midwife', 'nurse', 'coordinating_nurse', 'pharmacist', 'billing_officer', 'analyst', "
    "'identity_officer', 'administrator', 'direction', 'programme_manager'"
)


class UserAccount(Base):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(f"role in ({ROLES_SQL})", name="role_known"),
        CheckConstraint("status in ('active', 'disabled')", name="status_known"),
        CheckConstraint("failed_logins >= 0", name="failed_logins_non_negative"),
        CheckConstraint("second_factor_failures >= 0", name="second_factor_failures_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The person of the directory this account belongs to (set when the directory exists).
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    # A one-time password (set by an administrator or ``maillage user create``) must be replaced at the first
    # sign-in, and is refused after ``password_expires_at`` (24 h).
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # TOTP: the secret itself is sealed in the vault (object user_account/<id>, field "totp").
    totp_enrolled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # Wrong second-factor codes, counted apart: a correct password does not reset them (docs/security.md, 3).
    second_factor_failures: Mapped[int] = mapped_column(Integer, default=0)
    second_factor_locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    external_issuer: Mapped[str | None] = mapped_column(String(255), default=None)
    external_subject: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class UserEstablishment(Base):
    """The establishments an account acts for (the directory's establishment ids)."""

    __tablename__ = "user_establishment"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    establishment_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class RecoveryCode(Base):
    __tablename__ = "recovery_code"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class AuthSession(Base):
    """A browser session. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "auth_session"
    __table_args__ = (Index("ix_auth_session_user_active", "user_id", "revoked_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"))
    mfa_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    establishment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)


class ApiToken(Base):
    """Personal access tokens (of a user) and service tokens (of a named service, with a role)."""

    __tablename__ = "api_token"
    __table_args__ = (
        CheckConstraint("kind in ('personal', 'service')", name="kind_known"),
        CheckConstraint(
            "(kind = 'personal' and user_id is not null) or (kind = 'service' and service_name is not null)",
            name="owner_present",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), default=None, index=True
    )
    service_name: Mapped[str | None] = mapped_column(String(100), default=None)
    service_role: Mapped[str | None] = mapped_column(String(32), default=None)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class DeviceCredential(Base):
    """One secret per connected device or gateway, scoped to ingestion only."""

    __tablename__ = "device_credential"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    device_identifier: Mapped[str] = mapped_column(String(128), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    establishment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class LoginAttempt(Base):
    """Failed and successful logins, for the per-address rate limit (the account counter is on the account)."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_address_at", "address", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)


class LoginThrottle(Base):
    """Consecutive password failures of one account from one address, and that pair's progressive lock-out.

    Failures from an address lock that address out of the account; the account-wide counter on
    ``UserAccount`` applies only to addresses the account has never signed in from (docs/security.md, 1).
    """

    __tablename__ = "login_throttle"
    __table_args__ = (
        UniqueConstraint("username", "address"),
        CheckConstraint("failures >= 0", name="failures_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
