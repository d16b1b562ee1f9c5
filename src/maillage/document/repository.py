"""Every query of the document package. Deleted documents are never returned by the finders."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maillage.models.document import Document


def add(session: Session, document: Document) -> Document:
    session.add(document)
    session.flush()
    return document


def get_live(session: Session, document_id: uuid.UUID) -> Document | None:
    """The document if it exists and is not deleted (one query)."""
    return session.scalar(select(Document).where(Document.id == document_id, Document.deleted_at.is_(None)))


def count_live_for_owner(session: Session, owner_type: str, owner_id: str) -> int:
    return int(session.scalar(
        select(func.count()).select_from(Document).where(
            Document.owner_type == owner_type, Document.owner_id == owner_id, Document.deleted_at.is_(None))
    ) or 0)


def list_live_for_patient(
    session: Session,
    patient_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
    owner_type: str | None = None,
    owner_id: str | None = None,
) -> list[Document]:
    """Newest first, ``limit`` rows from ``offset`` (one query)."""
    query = select(Document).where(Document.patient_id == patient_id, Document.deleted_at.is_(None))
    if owner_type is not None:
        query = query.where(Document.owner_type == owner_type)
    if owner_id is not None:
        query = query.where(Document.owner_id == owner_id)
    query = query.order_by(Document.uploaded_at.desc(), Document.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))
