"""Every query of the document package. Deleted documents are never returned by the finders."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
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


def live_generated_from(session: Session, origin_type: str, origin_id: str) -> Document | None:
    """The live document a platform object produced (its report, its prescription), if there is one."""
    return session.scalar(select(Document).where(
        Document.origin_type == origin_type, Document.origin_id == origin_id, Document.deleted_at.is_(None))
        .order_by(Document.version.desc()).limit(1))


@dataclass(frozen=True)
class Filters:
    """What the patient's document list is narrowed to (None: no narrowing on that field)."""

    owner_type: str | None = None
    owner_id: str | None = None
    type_codes: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    act_from: dt.date | None = None
    act_to: dt.date | None = None


def visible_to(query: Select[Document], actor_id: uuid.UUID | None,
               teammates: Select[tuple[uuid.UUID]] | None) -> Select[Document]:
    """Documents restricted to their author's team only for the author and their teammates."""
    if actor_id is None:
        return query
    allowed = [Document.confidentiality == "normal", Document.author_id == actor_id]
    if teammates is not None:
        allowed.append(Document.author_id.in_(teammates))
    return query.where(or_(*allowed))


def list_live_for_patient(
    session: Session,
    patient_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
    owner_type: str | None = None,
    owner_id: str | None = None,
    filters: Filters | None = None,
    actor_id: uuid.UUID | None = None,
    teammates: Select[tuple[uuid.UUID]] | None = None,
) -> list[Document]:
    """Newest act first, ``limit`` rows from ``offset`` (one query). With ``actor_id``, restricted documents only
    when the actor wrote them or shares a team with their author (``teammates``)."""
    f = filters or Filters(owner_type=owner_type, owner_id=owner_id)
    query = select(Document).where(Document.patient_id == patient_id, Document.deleted_at.is_(None))
    if f.owner_type is not None:
        query = query.where(Document.owner_type == f.owner_type)
    if f.owner_id is not None:
        query = query.where(Document.owner_id == f.owner_id)
    if f.type_codes:
        query = query.where(Document.type_code.in_(f.type_codes))
    if f.statuses:
        query = query.where(Document.status.in_(f.statuses))
    if f.act_from is not None:
        query = query.where(Document.act_date >= f.act_from)
    if f.act_to is not None:
        query = query.where(Document.act_date <= f.act_to)
    query = visible_to(query, actor_id, teammates)
    query = query.order_by(Document.act_date.desc(), Document.uploaded_at.desc(), Document.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def series(session: Session, series_id: uuid.UUID) -> list[Document]:
    """Every kept version of one document, newest first (one query)."""
    return list(session.scalars(select(Document).where(Document.series_id == series_id,
                                                       Document.deleted_at.is_(None))
                                .order_by(Document.version.desc())))


def last_version(session: Session, series_id: uuid.UUID) -> int:
    """The highest version number of a series, deleted versions included (numbers are never reused)."""
    return int(session.scalar(select(func.max(Document.version)).where(Document.series_id == series_id)) or 0)


@dataclass(frozen=True)
class PatientCare:
    patient_id: uuid.UUID
    last_act: dt.date


def last_care_by_patient(session: Session) -> list[PatientCare]:
    """For each patient with kept documents, the latest act date among all of them (their last stay or
    consultation as the platform knows it), one grouped query."""
    rows = session.execute(select(Document.patient_id, func.max(Document.act_date))
                           .where(Document.deleted_at.is_(None)).group_by(Document.patient_id)
                           .order_by(Document.patient_id))
    return [PatientCare(pid, last) for pid, last in rows]


def kept_for_patients(session: Session, patient_ids: list[uuid.UUID]) -> list[Document]:
    if not patient_ids:
        return []
    return list(session.scalars(select(Document).where(Document.patient_id.in_(patient_ids),
                                                       Document.deleted_at.is_(None))
                                .order_by(Document.patient_id, Document.act_date, Document.id)))


def user_names(session: Session, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Display names of accounts (authors, people who changed a status), one query."""
    if not user_ids:
        return {}
    return dict(session.execute(select(UserAccount.id, UserAccount.display_name)
                                .where(UserAccount.id.in_(sorted(user_ids)))).all())
