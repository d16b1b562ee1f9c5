"""Patient documents (``maillage.document``): metadata here, content encrypted in the vault (``vault_blob``).

``patient_id`` references the patient record (``ON DELETE RESTRICT``: a record with documents is never
deleted; duplicates are merged, not removed). ``owner_type``/``owner_id`` say what the document is
attached to (the patient's record itself, a tele-expertise request, …). A deleted document keeps its
row (who uploaded and deleted what, when) and loses its content: ``blob_id`` is null exactly when
``deleted_at`` is set.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id
from maillage.kit.sealed import SealedText

DOCUMENT_MEDIA_TYPES_SQL = "'application/pdf', 'image/jpeg', 'image/png', 'image/webp'"


class Document(Base):
    __tablename__ = "document"
    __table_args__ = (
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
        CheckConstraint(f"media_type in ({DOCUMENT_MEDIA_TYPES_SQL})", name="media_type_allowed"),
        CheckConstraint("(deleted_at is null) = (blob_id is not null)", name="content_until_deleted"),
        Index("ix_document_patient_uploaded", "patient_id", "uploaded_at"),
        Index("ix_document_owner", "owner_type", "owner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"))
    owner_type: Mapped[str] = mapped_column(String(60))
    owner_id: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(SealedText("document.display_name"))
    title: Mapped[str | None] = mapped_column(SealedText("document.title"), default=None)
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("vault_blob.id"), unique=True, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    page_count: Mapped[int | None] = mapped_column(Integer, default=None)
    purpose: Mapped[str] = mapped_column(String(40))
    uploaded_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"), default=None)
