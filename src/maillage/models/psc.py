"""Pro Santé Connect: the sign-ins under way (pre-login state) and the access requests waiting for an administrator."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id


class PscLogin(Base):
    """A sign-in sent to Pro Santé Connect and not yet back: what the return must match.

    ``state`` and the browser binding are stored as SHA-256 only; ``nonce`` must come back inside the ID token
    and ``code_verifier`` (PKCE) is sent to the token endpoint. One use: the row is deleted when the browser
    returns, whatever the outcome.
    """

    __tablename__ = "psc_login"
    __table_args__ = (Index("ix_psc_login_expires_at", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    suite: Mapped[str] = mapped_column(String(2000), default="/")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PscAccessRequest(Base):
    """A professional of the directory signed in with Pro Santé Connect and has no account yet: an administrator
    approves (an account is created and linked) or refuses."""

    __tablename__ = "psc_access_request"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'approved', 'refused')", name="status_known"),
        Index("ix_psc_access_request_status", "status", "requested_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255), unique=True)
    national_id: Mapped[str] = mapped_column(String(12))
    professional_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("professional.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)

