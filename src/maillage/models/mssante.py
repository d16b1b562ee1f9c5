"""Exchange with the outside by MSSanté-shaped mail (``maillage.exchange``): documents sent, the applicative
mailbox's reading position, and the messages received.

``mssante_send`` is one document sent to one external address; its ``delivery_key`` is the outbox key
(``mail_delivery.key``) that makes the send happen once. ``mssante_mailbox`` holds, per mailbox, the IMAP
``UIDVALIDITY`` and the last UID handled. ``mssante_received`` is one message read from the mailbox, once
(unique by Message-ID, and by UIDVALIDITY + UID): its original bytes are a vault blob, its subject, sender and the
identity the sender declared are sealed; it was filed to a patient (``filed``), waits in the reception inbox
(``pending``: no qualified identity matched), was refused with a French reason (``refused``: nothing filed), or was
matched by a person (``matched``) or set aside (``dismissed``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id
from maillage.kit.sealed import SealedText

SEND_SOURCES_SQL = "'document', 'teleexpertise_report'"
RECEIVED_STATUSES_SQL = "'filed', 'pending', 'refused', 'matched', 'dismissed'"


class MssanteSend(Base):
    __tablename__ = "mssante_send"
    __table_args__ = (
        UniqueConstraint("delivery_key", name="uq_mssante_send_delivery_key"),
        CheckConstraint(f"source_type in ({SEND_SOURCES_SQL})", name="source_type_known"),
        CheckConstraint("status in ('queued', 'sent', 'failed')", name="status_known"),
        Index("ix_mssante_send_patient_created", "patient_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"))
    source_type: Mapped[str] = mapped_column(String(30))
    source_id: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(254))  # a professional's MSSanté address
    delivery_key: Mapped[str] = mapped_column(String(120))
    message_id: Mapped[str] = mapped_column(String(250))
    with_ins: Mapped[bool] = mapped_column(default=False)
    cda_code: Mapped[str | None] = mapped_column(String(20), default=None)  # X-MSS-CODECDA
    xdm_blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("vault_blob.id"), default=None)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    sent_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class MssanteMailbox(Base):
    __tablename__ = "mssante_mailbox"

    name: Mapped[str] = mapped_column(String(254), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    polled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class MssanteReceived(Base):
    __tablename__ = "mssante_received"
    __table_args__ = (
        UniqueConstraint("message_id", name="uq_mssante_received_message_id"),
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_mssante_received_uid"),
        CheckConstraint(f"status in ({RECEIVED_STATUSES_SQL})", name="status_known"),
        CheckConstraint("status not in ('filed', 'matched') or patient_id is not null", name="filed_has_patient"),
        Index("ix_mssante_received_status_received", "status", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    mailbox: Mapped[str] = mapped_column(String(254))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(250))
    sender: Mapped[str] = mapped_column(SealedText("mssante_received.sender"))
    subject: Mapped[str] = mapped_column(SealedText("mssante_received.subject"))
    declared_identity: Mapped[str | None] = mapped_column(SealedText("mssante_received.declared_identity"),
                                                          default=None)
    declared_birth_name: Mapped[str | None] = mapped_column(SealedText("mssante_received.declared_birth_name"),
                                                            default=None)
    declared_birth_date: Mapped[dt.date | None] = mapped_column(default=None)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    document_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10))
    reason_code: Mapped[str | None] = mapped_column(String(30), default=None)
    reason: Mapped[str | None] = mapped_column(String(300), default=None)  # French, from a fixed list, no health data
    raw_blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("vault_blob.id"), default=None)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("patient.id", ondelete="RESTRICT"), default=None, index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    handled_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
