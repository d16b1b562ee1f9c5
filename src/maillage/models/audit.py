"""The audit trail: append-only, hash-chained access traces, and the anchors left by purges.

Rows are written only by ``maillage.audit`` (see docs/adr/0004-audit-hash-chain.md): entries at commit
time by a session hook, anchors by the purge. The database refuses UPDATE and DELETE on both tables
(triggers in the migration); only the purge may delete entries, and only those covered by an anchor.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.db import Base, PortableJSON, UTCDateTime
from maillage.kit.sealed import SealedText

# BIGINT on PostgreSQL, INTEGER (the rowid alias that autoincrements) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """One access trace: who, what, why, when, from where, outcome; chained to the previous entry."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        CheckConstraint("seq > 0", name="seq_positive"),
        CheckConstraint("outcome in ('success', 'denied', 'failure')", name="outcome_known"),
        Index("ix_audit_entry_patient_seq", "patient_id", "seq"),
        Index("ix_audit_entry_actor_seq", "actor_id", "seq"),
        Index("ix_audit_entry_occurred_at", "occurred_at"),
        Index("ix_audit_entry_break_glass_seq", "break_glass", "seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Position in the chain: consecutive from the anchor (or 1), assigned at commit under the chain lock.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Who
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(40))
    establishment_id: Mapped[str | None] = mapped_column(String(64))
    # What
    action: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(128))
    patient_id: Mapped[str | None] = mapped_column(String(64))
    # Why
    purpose: Mapped[str | None] = mapped_column(String(64))
    break_glass: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(SealedText("audit_entry.reason"))
    # Outcome and from where
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, str | int | bool | None] | None] = mapped_column(PortableJSON)
    # The chain: the previous entry's hash, and this one's: HMAC-SHA256 (hex) under the audit key ``key_id`` of
    # prev_hash || canonical content; SHA-256 for the entries written before the keyed epoch (key_id NULL).
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(64))


class AuditEntryPatient(Base):
    """A patient that a list read (an entry of action ``search``) returned: "who saw this patient" by lists.

    Written with its entry, at commit; covered by the chain through the entry's hashed details, which hold the
    count and the SHA-256 of the sorted ids (``patients`` and ``patients_sha256``, see audit/rules.py
    ``list_patients_digest``). Append-only like the trail: the database refuses UPDATE, and DELETE except for
    rows of entries a purge removes (the cascade of the entry's delete).
    """

    __tablename__ = "audit_entry_patient"

    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("audit_entry.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AuditAnchor(Base):
    """Left by a purge: the last purged entry's seq and hash, where verification now starts."""

    __tablename__ = "audit_anchor"
    __table_args__ = (CheckConstraint("through_seq > 0", name="through_seq_positive"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    through_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    through_hash: Mapped[str] = mapped_column(String(64))
    purged_count: Mapped[int] = mapped_column(BigInteger)
    cutoff: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retention_days: Mapped[int] = mapped_column(Integer)
