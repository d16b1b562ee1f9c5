"""Patient documents (``maillage.document``): metadata here, content encrypted in the vault (``vault_blob``).

``patient_id`` references the patient record (``ON DELETE RESTRICT``: a record with documents is never
deleted; duplicates are merged, not removed). ``owner_type``/``owner_id`` say what the document is
attached to (the patient's record itself, a tele-expertise request, …). A deleted document keeps its
row (who uploaded and deleted what, when) and loses its content: ``blob_id`` is null exactly when
``deleted_at`` is set.

Issue 20 made documents first class: a LOINC type (its class follows from it, ``document.rules.DOCUMENT_TYPES``),
the date of the act, the author, where it came from (``source``) and what produced it (``origin_type``/
``origin_id``: a tele-expertise request, a consultation, a message's attachment), a status (current, superseded,
entered in error, with the reason sealed), versions (every version of one document shares ``series_id``; a new
version supersedes the previous one, which stays readable), a confidentiality (normal, or restricted to the
author's team) and a legal hold that keeps the retention purge away.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id
from maillage.kit.sealed import SealedText

DOCUMENT_MEDIA_TYPES_SQL = "'application/pdf', 'image/jpeg', 'image/png', 'image/webp'"
DOCUMENT_SOURCES_SQL = "'upload', 'report', 'mail', 'message'"
DOCUMENT_STATUSES_SQL = "'current', 'superseded', 'entered_in_error'"
DOCUMENT_CONFIDENTIALITIES_SQL = "'normal', 'restricted'"


class Document(Base):
    __tablename__ = "document"
    __table_args__ = (
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
        CheckConstraint(f"media_type in ({DOCUMENT_MEDIA_TYPES_SQL})", name="media_type_allowed"),
        CheckConstraint("(deleted_at is null) = (blob_id is not null)", name="content_until_deleted"),
        Index("ix_document_patient_uploaded", "patient_id", "uploaded_at"),
        Index("ix_document_owner", "owner_type", "owner_id"),
        CheckConstraint(f"source in ({DOCUMENT_SOURCES_SQL})", name="source_known"),
        CheckConstraint(f"status in ({DOCUMENT_STATUSES_SQL})", name="status_known"),
        CheckConstraint(f"confidentiality in ({DOCUMENT_CONFIDENTIALITIES_SQL})", name="confidentiality_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("(origin_type is null) = (origin_id is null)", name="origin_complete"),
        UniqueConstraint("series_id", "version", name="uq_document_series_version"),
        Index("ix_document_patient_act", "patient_id", "act_date"),
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
    # SHA-1 of the content (hex), computed at upload: FHIR R4's Attachment.hash is SHA-1, and a search page of
    # DocumentReference must not decrypt every blob to give it. Null for rows stored before it existed, filled the
    # first time the content is read (document.service.export_facts_page).
    sha1: Mapped[str | None] = mapped_column(String(40), default=None)
    blob_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("vault_blob.id"), unique=True, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    page_count: Mapped[int | None] = mapped_column(Integer, default=None)
    purpose: Mapped[str] = mapped_column(String(40))
    uploaded_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"), default=None)
    type_code: Mapped[str] = mapped_column(String(16))
    act_date: Mapped[dt.date] = mapped_column(Date)
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    source: Mapped[str] = mapped_column(String(16), default="upload")
    origin_type: Mapped[str | None] = mapped_column(String(60), default=None)
    origin_id: Mapped[str | None] = mapped_column(String(100), default=None)
    status: Mapped[str] = mapped_column(String(20), default="current")
    status_reason: Mapped[str | None] = mapped_column(SealedText("document.status_reason"), default=None)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    status_changed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"), default=None)
    series_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("document.id"), default=None)
    confidentiality: Mapped[str] = mapped_column(String(12), default="normal")
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
