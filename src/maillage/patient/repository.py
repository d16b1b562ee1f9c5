"""Every query of the patient package.

Lists and searches that return patient data are scoped by the caller with the ``accessible`` subquery of
``maillage.authz.service.accessible_patients``; the identity-vigilance queries are the identity officer's, who is
audited for each list (the service does it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
from maillage.models.patient import IdentityMerge, IdentityPairReview, Patient, PatientAllergy, PatientConsent

MAX_LIMIT = 100


def patient(session: Session, patient_id: uuid.UUID) -> Patient | None:
    return session.get(Patient, patient_id)


def patients_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Patient]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Patient).where(Patient.id.in_(wanted)))}


def patients_in(session: Session, accessible: Select[tuple[uuid.UUID]], ids: Iterable[uuid.UUID]) -> list[Patient]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return list(session.scalars(select(Patient).where(Patient.id.in_(wanted), Patient.id.in_(accessible))))


def name_parts(session: Session, accessible: Select[tuple[uuid.UUID]],
               ids: Iterable[uuid.UUID]) -> Sequence[Any]:
    """(id, used name, birth name, used given name, given names) of these patients, within ``accessible``."""
    wanted = list(set(ids))
    if not wanted:
        return []
    return session.execute(select(Patient.id, Patient.used_name, Patient.birth_name, Patient.used_given_name,
                                  Patient.given_names)
                           .where(Patient.id.in_(wanted), Patient.id.in_(accessible))).all()


def active_with_duplicate_key(session: Session, key: str) -> Patient | None:
    return session.scalar(
        select(Patient).where(Patient.duplicate_key == key, Patient.merged_into_id.is_(None))
        .order_by(Patient.created_at).limit(1)
    )


def active_with_matricule(session: Session, matricule: str) -> Patient | None:
    return session.scalar(
        select(Patient).where(Patient.ins_matricule == matricule, Patient.merged_into_id.is_(None))
        .order_by(Patient.created_at).limit(1)
    )


def search(
    session: Session, accessible: Select[tuple[uuid.UUID]], *, matricule: str | None = None,
    name: str | None = None, given_name: str | None = None, birth_date: dt.date | None = None, limit: int = 20,
) -> Sequence[Patient]:
    stmt = select(Patient).where(Patient.id.in_(accessible), Patient.merged_into_id.is_(None))
    if matricule:
        stmt = stmt.where(Patient.ins_matricule == matricule)
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(or_(Patient.birth_name_norm.like(f"{escaped}%", escape="\\"),
                              Patient.used_name_norm.like(f"{escaped}%", escape="\\")))
    if given_name:
        escaped = given_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Patient.first_given_name_norm.like(f"{escaped}%", escape="\\"))
    if birth_date:
        stmt = stmt.where(Patient.birth_date == birth_date)
    stmt = stmt.order_by(Patient.birth_name_norm, Patient.first_given_name_norm, Patient.birth_date)
    return session.scalars(stmt.limit(max(1, min(limit, MAX_LIMIT)))).all()


def page_for_exchange(
    session: Session, accessible: Select[tuple[uuid.UUID]], *, ids: Sequence[uuid.UUID] | None,
    matricule: str | None, oid: str | None, updated: Sequence[tuple[str, dt.datetime]], by_updated: bool,
    descending: bool, after: tuple[dt.datetime | None, uuid.UUID] | None, limit: int,
) -> Sequence[Patient]:
    """A keyset page of the records the caller may see, for an exchange format (the FHIR door): ordered by
    (``updated_at``, id) or by id, after the position ``after``; ``matricule`` matches qualified identities only (an
    INS may leave only for those). ``updated``: (operator, instant) bounds on ``updated_at``."""
    stmt = select(Patient).where(Patient.id.in_(accessible))
    if ids is not None:
        stmt = stmt.where(Patient.id.in_(ids))
    if matricule is not None:
        stmt = stmt.where(Patient.ins_matricule == matricule, Patient.identity_status == "QUAL")
        if oid is not None:
            stmt = stmt.where(Patient.ins_oid == oid)
    for op, at in updated:
        stmt = stmt.where({">=": Patient.updated_at >= at, ">": Patient.updated_at > at, "<": Patient.updated_at < at,
                           "<=": Patient.updated_at <= at}[op])
    if after is not None:
        key, last = after
        if not by_updated or key is None:
            stmt = stmt.where(Patient.id < last if descending else Patient.id > last)
        elif descending:
            stmt = stmt.where(or_(Patient.updated_at < key, and_(Patient.updated_at == key, Patient.id < last)))
        else:
            stmt = stmt.where(or_(Patient.updated_at > key, and_(Patient.updated_at == key, Patient.id > last)))
    columns = [Patient.updated_at, Patient.id] if by_updated else [Patient.id]
    stmt = stmt.order_by(*[c.desc() if descending else c.asc() for c in columns])
    return session.scalars(stmt.limit(limit)).all()


def followed(session: Session, accessible: Select[tuple[uuid.UUID]], professional_id: uuid.UUID | None,
             limit: int = 50) -> Sequence[Patient]:
    """The active records the caller may see, those whose médecin traitant they are first."""
    first = case((Patient.attending_professional_id == professional_id, 0), else_=1) if professional_id else None
    order = [first] if first is not None else []
    return session.scalars(
        select(Patient).where(Patient.id.in_(accessible), Patient.merged_into_id.is_(None))
        .order_by(*order, Patient.birth_name_norm, Patient.first_given_name_norm).limit(limit)
    ).all()


def current_relationships(session: Session, patient_id: uuid.UUID, at: dt.datetime) -> Sequence[CareRelationship]:
    return session.scalars(
        select(CareRelationship).where(
            CareRelationship.patient_id == patient_id, CareRelationship.starts_at <= at,
            or_(CareRelationship.ends_at.is_(None), CareRelationship.ends_at > at),
        )
    ).all()


# --- Consents -----------------------------------------------------------------------------------------------


def consents_of(session: Session, patient_ids: Sequence[uuid.UUID]) -> Sequence[PatientConsent]:
    """Every recorded choice of these records, newest first."""
    return session.scalars(
        select(PatientConsent).where(PatientConsent.patient_id.in_(list(patient_ids)))
        .order_by(PatientConsent.recorded_at.desc(), PatientConsent.id)
    ).all()


def user_names(session: Session, user_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Display names of the accounts that recorded something (consents, merges)."""
    wanted = [u for u in set(user_ids) if u is not None]
    if not wanted:
        return {}
    rows = session.execute(select(UserAccount.id, UserAccount.display_name).where(UserAccount.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


def group_ids(session: Session, patient_id: uuid.UUID) -> list[uuid.UUID]:
    """The record and every record merged into it (directly or through a chain): one person's records."""
    found = [patient_id]
    frontier = [patient_id]
    while frontier:
        children = list(session.scalars(select(Patient.id).where(Patient.merged_into_id.in_(frontier))))
        children = [c for c in children if c not in found]
        found.extend(children)
        frontier = children
    return found


def latest_data_reuse_objections(session: Session) -> Select[Any]:
    """Records whose latest data-reuse choice is an objection (not yet extended to merged records)."""
    latest = (
        select(PatientConsent.patient_id, func.max(PatientConsent.recorded_at).label("at"))
        .where(PatientConsent.purpose == "data_reuse").group_by(PatientConsent.patient_id).subquery()
    )
    return (
        select(PatientConsent.patient_id)
        .join(latest, and_(latest.c.patient_id == PatientConsent.patient_id, latest.c.at == PatientConsent.recorded_at))
        .where(PatientConsent.purpose == "data_reuse", PatientConsent.decision == "objection")
    )


def merge_links(session: Session) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
    """(merged record, kept record) for every record currently merged."""
    rows = session.execute(select(Patient.id, Patient.merged_into_id).where(Patient.merged_into_id.is_not(None)))
    return [(pid, kept) for pid, kept in rows if kept is not None]


# --- Identity vigilance -------------------------------------------------------------------------------------


def duplicate_candidates(session: Session, limit: int = 2000) -> Sequence[Patient]:
    """Active records sharing a date of birth, a birth name and first given name, or an INS matricule with
    another active record: the pool the worklist compares pairwise."""
    active = Patient.merged_into_id.is_(None)
    same_date = select(Patient.birth_date).where(active).group_by(Patient.birth_date).having(func.count() > 1)
    same_names = (
        select(Patient.birth_name_norm, Patient.first_given_name_norm).where(active)
        .group_by(Patient.birth_name_norm, Patient.first_given_name_norm).having(func.count() > 1).subquery()
    )
    same_ins = (
        select(Patient.ins_matricule).where(active, Patient.ins_matricule.is_not(None))
        .group_by(Patient.ins_matricule).having(func.count() > 1)
    )
    stmt = (
        select(Patient)
        .outerjoin(same_names, and_(same_names.c.birth_name_norm == Patient.birth_name_norm,
                                    same_names.c.first_given_name_norm == Patient.first_given_name_norm))
        .where(active, or_(Patient.birth_date.in_(same_date), same_names.c.birth_name_norm.is_not(None),
                           Patient.ins_matricule.in_(same_ins)))
        .order_by(Patient.birth_date, Patient.birth_name_norm).limit(limit)
    )
    return session.scalars(stmt).all()


def reviewed_pairs(session: Session) -> set[tuple[uuid.UUID, uuid.UUID]]:
    return {(a, b) for a, b in session.execute(
        select(IdentityPairReview.first_patient_id, IdentityPairReview.second_patient_id))}


def pair_review(session: Session, first: uuid.UUID, second: uuid.UUID) -> IdentityPairReview | None:
    return session.scalar(select(IdentityPairReview).where(IdentityPairReview.first_patient_id == first,
                                                           IdentityPairReview.second_patient_id == second))


def merge(session: Session, merge_id: uuid.UUID) -> IdentityMerge | None:
    return session.get(IdentityMerge, merge_id)


def recent_merges(session: Session, limit: int = 50) -> Sequence[IdentityMerge]:
    return session.scalars(select(IdentityMerge).order_by(IdentityMerge.merged_at.desc()).limit(limit)).all()




# --- Allergies ----------------------------------------------------------------------------------------------


def allergies_of(session: Session, patient_ids: Sequence[uuid.UUID]) -> Sequence[PatientAllergy]:
    """Every allergy entry of these records (entered in error included), newest first."""
    return session.scalars(
        select(PatientAllergy).where(PatientAllergy.patient_id.in_(list(patient_ids)))
        .order_by(PatientAllergy.recorded_at.desc(), PatientAllergy.id)
    ).all()


def allergy(session: Session, allergy_id: uuid.UUID) -> PatientAllergy | None:
    return session.get(PatientAllergy, allergy_id)
