"""Emails the platform sent, one row per reason to write (``key``): the ledger that makes sending idempotent.

A job about to send looks the key up first and writes the row in the transaction that completes the job, so a
job run twice sends once. The row holds ids and a status only: no address, no subject, no body.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id


class MailDelivery(Base):
    __tablename__ = "mail_delivery"
    __table_args__ = (
        UniqueConstraint("key", name="uq_mail_delivery_key"),
        CheckConstraint("status in ('sent', 'skipped')", name="status_known"),
        Index("ix_mail_delivery_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(120))  # e.g. "teleexpertise_notification:<id>"
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(40), default=None)  # why skipped: no_address, inactive
    message_id: Mapped[str | None] = mapped_column(String(250), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
