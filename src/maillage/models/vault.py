"""Encrypted values and blob metadata (``maillage.vault``). No column ever holds plaintext.

Each row carries its own data key, wrapped (AES-256-GCM) under the key-encryption key ``kek_id``; the
key-encryption keys themselves live outside the database.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Index, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime


class SealedValue(Base):
    """A small secret or free-text body of an object, encrypted in the database (one row per field)."""

    __tablename__ = "vault_sealed_value"
    __table_args__ = (
        UniqueConstraint("object_type", "object_id", "field"),
        Index("ix_vault_sealed_value_kek_id", "kek_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(60))
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class Blob(Base):
    """Metadata of a document whose ciphertext is a file of the blob store, named by ``id``."""

    __tablename__ = "vault_blob"
    __table_args__ = (
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
        Index("ix_vault_blob_object", "object_type", "object_id"),
        Index("ix_vault_blob_kek_id", "kek_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(100))
    media_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    plaintext_sha256: Mapped[str] = mapped_column(String(64))
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
