"""Every query of the authz package."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, and_, exists, or_, select, update
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.models.authz import BreakGlassAccess, CareRelationship
from maillage.models.directory import ProfessionalRole, SpecialtyLineMember
from maillage.models.patient import Patient


def _current_relationship(user_id: uuid.UUID, at: dt.datetime) -> list[object]:
    return [
        CareRelationship.user_id == user_id,
        CareRelationship.starts_at <= at,
        or_(CareRelationship.ends_at.is_(None), CareRelationship.ends_at > at),
    ]


def has_current_relationship(session: Session, user_id: uuid.UUID, patient_id: uuid.UUID, at: dt.datetime) -> bool:
    stmt = select(
        exists().where(CareRelationship.patient_id == patient_id, *_current_relationship(user_id, at))  # type: ignore[arg-type]
    )
    return bool(session.scalar(stmt))


def cared_for_ids(session: Session, user_id: uuid.UUID, patient_ids: Iterable[uuid.UUID],
                  at: dt.datetime) -> set[uuid.UUID]:
    """Those of ``patient_ids`` the user has a current care relationship with (a break-the-glass access is not one)."""
    wanted = list(set(patient_ids))
    if not wanted:
        return set()
    return set(session.scalars(select(CareRelationship.patient_id).where(
        CareRelationship.patient_id.in_(wanted), *_current_relationship(user_id, at))))  # type: ignore[arg-type]


def current_access_ends(session: Session, user_id: uuid.UUID, patient_id: uuid.UUID,
                        at: dt.datetime) -> tuple[bool, list[dt.datetime]]:
    """(whether a current relationship without end exists, the ends of the current bounded relationships and of the
    live break-the-glass accesses)."""
    ends = list(session.scalars(select(CareRelationship.ends_at).where(
        CareRelationship.patient_id == patient_id, *_current_relationship(user_id, at))))  # type: ignore[arg-type]
    glass = session.scalars(select(BreakGlassAccess.expires_at).where(
        BreakGlassAccess.user_id == user_id, BreakGlassAccess.patient_id == patient_id,
        BreakGlassAccess.starts_at <= at, BreakGlassAccess.expires_at > at))
    return any(e is None for e in ends), [e for e in ends if e is not None] + list(glass)


def active_break_glass(
    session: Session, user_id: uuid.UUID, patient_id: uuid.UUID, at: dt.datetime
) -> BreakGlassAccess | None:
    return session.scalar(
        select(BreakGlassAccess)
        .where(
            BreakGlassAccess.user_id == user_id,
            BreakGlassAccess.patient_id == patient_id,
            BreakGlassAccess.starts_at <= at,
            BreakGlassAccess.expires_at > at,
        )
        .order_by(BreakGlassAccess.expires_at.desc())
        .limit(1)
    )


def patient_exists(session: Session, patient_id: uuid.UUID) -> bool:
    """Whether a patient record has this id (merged records included: they still exist, pointing at another)."""
    return bool(session.scalar(select(exists().where(Patient.id == patient_id))))


def accessible_patient_ids(user_id: uuid.UUID, at: dt.datetime) -> Select[tuple[uuid.UUID]]:
    """A subquery of the patients a user may see now: current relationships and live break-the-glass."""
    via_relationship = select(CareRelationship.patient_id).where(*_current_relationship(user_id, at))  # type: ignore[arg-type]
    via_break_glass = select(BreakGlassAccess.patient_id).where(
        BreakGlassAccess.user_id == user_id, BreakGlassAccess.starts_at <= at, BreakGlassAccess.expires_at > at
    )
    return via_relationship.union(via_break_glass)  # type: ignore[return-value]


def find_relationship(
    session: Session, *, user_id: uuid.UUID, patient_id: uuid.UUID, kind: str, source_type: str | None,
    source_id: str | None,
) -> CareRelationship | None:
    return session.scalar(
        select(CareRelationship).where(
            CareRelationship.user_id == user_id,
            CareRelationship.patient_id == patient_id,
            CareRelationship.kind == kind,
            (CareRelationship.source_type.is_(None) if source_type is None
             else CareRelationship.source_type == source_type),
            CareRelationship.source_id.is_(None) if source_id is None else CareRelationship.source_id == source_id,
            CareRelationship.ends_at.is_(None),
        )
    )


def end_relationships(
    session: Session, *, source_type: str, source_id: str, at: dt.datetime, user_id: uuid.UUID | None = None
) -> int:
    conditions = [
        CareRelationship.source_type == source_type,
        CareRelationship.source_id == source_id,
        or_(CareRelationship.ends_at.is_(None), CareRelationship.ends_at > at),  # a bounded one ends now too
    ]
    if user_id is not None:
        conditions.append(CareRelationship.user_id == user_id)
    result = session.execute(update(CareRelationship).where(and_(*conditions)).values(ends_at=at))
    return int(getattr(result, "rowcount", 0) or 0)



def break_glass_to_review(session: Session, limit: int = 200) -> Sequence[BreakGlassAccess]:
    return session.scalars(
        select(BreakGlassAccess)
        .where(BreakGlassAccess.reviewed_at.is_(None))
        .order_by(BreakGlassAccess.starts_at.desc())
        .limit(limit)
    ).all()


def teammates(user_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """The accounts that share a team with ``user_id``: a specialty line they both answer for, or a care unit they
    both work in (through their directory professional)."""
    person = select(UserAccount.person_id).where(UserAccount.id == user_id).scalar_subquery()
    my_lines = select(SpecialtyLineMember.line_id).where(SpecialtyLineMember.professional_id == person)
    my_units = select(ProfessionalRole.care_unit_id).where(ProfessionalRole.professional_id == person,
                                                           ProfessionalRole.care_unit_id.is_not(None))
    by_line = (select(UserAccount.id)
               .join(SpecialtyLineMember, SpecialtyLineMember.professional_id == UserAccount.person_id)
               .where(SpecialtyLineMember.line_id.in_(my_lines)))
    by_unit = (select(UserAccount.id)
               .join(ProfessionalRole, ProfessionalRole.professional_id == UserAccount.person_id)
               .where(ProfessionalRole.care_unit_id.in_(my_units)))
    return by_line.union(by_unit)  # type: ignore[return-value]
