"""Every query of the directory package.

Searches compare ``search_text`` (the upper-case, accent-free form ``search_form`` builds) with the words of the
query, so they behave the same on SQLite and PostgreSQL. Nothing here is patient data.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount, UserEstablishment
from maillage.models.directory import (
    CareUnit,
    Establishment,
    Ght,
    Professional,
    ProfessionalRole,
    SpecialtyLine,
    SpecialtyLineCommitment,
    SpecialtyLineMember,
)

MAX_LIMIT = 200
CHUNK = 500
_LIGATURES = str.maketrans({"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss"})


def search_form(*parts: str | None) -> str:
    """The comparison form of text: upper case, no diacritics, punctuation read as spaces, single spaces."""
    text = " ".join(p for p in parts if p)
    text = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).upper()
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", text).split())


def escape_like(text: str) -> str:
    """``text`` as a literal ``LIKE`` pattern with ``\\`` as the escape: ``%`` and ``_`` are no longer wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _words_condition(column: object, query: str, *names: object) -> list[object]:
    """Every word of the query must appear in the column (as a substring, ``LIKE`` with escaped wildcards).

    ``search_text`` keeps letters and digits only, so a query of nothing but punctuation or symbols (``%``,
    ``_``, ``&``) has no word to look for: its pieces are then looked for as typed in the ``names`` columns,
    escaped too, so that "%" finds the names that contain "%" and not every row.
    """
    words = search_form(query).split()[:8]
    if words:
        return [column.like(f"%{escape_like(word)}%", escape="\\")  # type: ignore[attr-defined]
                for word in words]
    return [or_(*(name.like(f"%{escape_like(piece)}%", escape="\\")  # type: ignore[attr-defined]
                  for name in names))
            for piece in query.split()[:8]]


def _page(stmt: Select, limit: int, offset: int) -> Select:
    return stmt.limit(max(1, min(limit, MAX_LIMIT))).offset(max(0, offset))


# --- GHT ---------------------------------------------------------------------------------------------------


def ghts(session: Session) -> Sequence[Ght]:
    return session.scalars(select(Ght).order_by(Ght.name)).all()


# --- Establishments ----------------------------------------------------------------------------------------


def search_establishments(
    session: Session, *, query: str = "", kind: str | None = None, commune_insee: str | None = None,
    ght_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0,
) -> Sequence[Establishment]:
    stmt = select(Establishment).where(Establishment.active.is_(True))
    if query.strip():
        stmt = stmt.where(*_words_condition(Establishment.search_text, query, Establishment.name))  # type: ignore[arg-type]
    if kind:
        stmt = stmt.where(Establishment.kind == kind)
    if commune_insee:
        stmt = stmt.where(Establishment.commune_insee == commune_insee)
    if ght_id:
        stmt = stmt.where(Establishment.ght_id == ght_id)
    stmt = stmt.order_by(Establishment.ght_role.is_(None), Establishment.ght_role.desc(), Establishment.name)
    return session.scalars(_page(stmt, limit, offset)).all()


def establishment(session: Session, establishment_id: uuid.UUID) -> Establishment | None:
    return session.get(Establishment, establishment_id)


def establishments_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Establishment]:
    wanted = list(set(ids))
    found: dict[uuid.UUID, Establishment] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.scalars(select(Establishment).where(Establishment.id.in_(wanted[start:start + CHUNK])))
        found.update({e.id: e for e in rows})
    return found


def establishments_by_finess(session: Session, numbers: Iterable[str]) -> dict[str, Establishment]:
    wanted = sorted(set(numbers))
    found: dict[str, Establishment] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.scalars(select(Establishment).where(Establishment.finess_et.in_(wanted[start:start + CHUNK])))
        found.update({e.finess_et: e for e in rows if e.finess_et})
    return found


def establishments_of_legal_entity(session: Session, numbers: Iterable[str]) -> dict[str, Establishment]:
    """One establishment per FINESS EJ (the support site of the legal entity first, then the first by name)."""
    wanted = sorted(set(numbers))
    found: dict[str, Establishment] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.scalars(
            select(Establishment).where(Establishment.finess_ej.in_(wanted[start:start + CHUNK]))
            .order_by(Establishment.ght_role.is_(None), Establishment.name)
        )
        for e in rows:
            if e.finess_ej and e.finess_ej not in found:
                found[e.finess_ej] = e
    return found


def units_of(session: Session, establishment_id: uuid.UUID) -> Sequence[CareUnit]:
    return session.scalars(
        select(CareUnit).where(CareUnit.establishment_id == establishment_id).order_by(CareUnit.name)
    ).all()


def care_unit(session: Session, unit_id: uuid.UUID) -> CareUnit | None:
    return session.get(CareUnit, unit_id)


def child_establishments(session: Session, parent_id: uuid.UUID) -> Sequence[Establishment]:
    return session.scalars(
        select(Establishment).where(Establishment.parent_id == parent_id).order_by(Establishment.name)
    ).all()


def count_establishments_by_kind(session: Session, ght_id: uuid.UUID | None = None) -> dict[str, int]:
    stmt = select(Establishment.kind, func.count()).where(Establishment.active.is_(True))
    if ght_id is not None:
        stmt = stmt.where(Establishment.ght_id == ght_id)
    return {kind: int(n) for kind, n in session.execute(stmt.group_by(Establishment.kind))}


# --- Professionals -----------------------------------------------------------------------------------------


def search_professionals(
    session: Session, *, query: str = "", specialty_code: str | None = None, profession_code: str | None = None,
    establishment_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0,
) -> Sequence[Professional]:
    stmt = select(Professional).where(Professional.active.is_(True))
    if query.strip():
        digits = re.sub(r"\s", "", query)
        if digits.isdigit() and len(digits) in (9, 11, 10, 12):
            stmt = stmt.where(or_(Professional.rpps == digits, Professional.adeli == digits,
                                  Professional.national_id == digits))
        else:
            stmt = stmt.where(*_words_condition(Professional.search_text, query, Professional.last_name,
                                               Professional.first_name))  # type: ignore[arg-type]
    if specialty_code:
        stmt = stmt.where(Professional.specialty_code == specialty_code)
    if profession_code:
        stmt = stmt.where(Professional.profession_code == profession_code)
    if establishment_id:
        stmt = stmt.where(Professional.id.in_(
            select(ProfessionalRole.professional_id).where(ProfessionalRole.establishment_id == establishment_id)
        ))
    stmt = stmt.order_by(Professional.last_name, Professional.first_name)
    return session.scalars(_page(stmt, limit, offset)).all()


def professional(session: Session, professional_id: uuid.UUID) -> Professional | None:
    return session.get(Professional, professional_id)


def professional_by_rpps(session: Session, rpps: str) -> Professional | None:
    return session.scalar(select(Professional).where(Professional.rpps == rpps))


def professionals_by_national_id(session: Session, national_ids: Iterable[str]) -> dict[str, Professional]:
    wanted = sorted(set(national_ids))
    found: dict[str, Professional] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.scalars(select(Professional).where(Professional.national_id.in_(wanted[start:start + CHUNK])))
        found.update({p.national_id: p for p in rows})
    return found


def professionals_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Professional]:
    wanted = list(set(ids))
    found: dict[uuid.UUID, Professional] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.scalars(select(Professional).where(Professional.id.in_(wanted[start:start + CHUNK])))
        found.update({p.id: p for p in rows})
    return found


def places_of_professionals(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Establishment]]:
    """Where each professional practises (primary place first), in one query for a short list of professionals."""
    wanted = list(set(ids))[:CHUNK]
    rows = session.execute(
        select(ProfessionalRole.professional_id, Establishment)
        .join(Establishment, Establishment.id == ProfessionalRole.establishment_id)
        .where(ProfessionalRole.professional_id.in_(wanted))
        .order_by(ProfessionalRole.is_primary.desc(), Establishment.name)).all()
    found: dict[uuid.UUID, list[Establishment]] = {}
    for professional_id, establishment in rows:
        found.setdefault(professional_id, []).append(establishment)
    return found


def roles_of_professional(session: Session, professional_id: uuid.UUID) -> Sequence[ProfessionalRole]:
    return session.scalars(
        select(ProfessionalRole).where(ProfessionalRole.professional_id == professional_id)
        .order_by(ProfessionalRole.is_primary.desc(), ProfessionalRole.site_name)
    ).all()


def roles_by_professional_ids(
    session: Session, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, ProfessionalRole]]:
    """Existing roles of these professionals, keyed by professional then activity key (for idempotent imports)."""
    wanted = list(set(ids))
    found: dict[uuid.UUID, dict[str, ProfessionalRole]] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.scalars(
            select(ProfessionalRole).where(ProfessionalRole.professional_id.in_(wanted[start:start + CHUNK]))
        )
        for role in rows:
            found.setdefault(role.professional_id, {})[role.activity_key] = role
    return found


def staff_of(session: Session, establishment_id: uuid.UUID, limit: int = 200) -> Sequence[tuple[Professional,
                                                                                                ProfessionalRole]]:
    rows = session.execute(
        select(Professional, ProfessionalRole)
        .join(ProfessionalRole, ProfessionalRole.professional_id == Professional.id)
        .where(ProfessionalRole.establishment_id == establishment_id, Professional.active.is_(True))
        .order_by(Professional.last_name, Professional.first_name).limit(limit)
    ).all()
    return [(p, r) for p, r in rows]


def professional_of_user(session: Session, user_id: uuid.UUID) -> Professional | None:
    return session.scalar(
        select(Professional).join(UserAccount, UserAccount.person_id == Professional.id)
        .where(UserAccount.id == user_id)
    )


def professionals_of_users(session: Session, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Professional]:
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = session.execute(select(UserAccount.id, Professional)
                           .join(UserAccount, UserAccount.person_id == Professional.id)
                           .where(UserAccount.id.in_(wanted)))
    return {user_id: professional for user_id, professional in rows}


def user_ids_of_professionals(session: Session, professional_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Professional id -> user account id, for the professionals who have an account."""
    wanted = list(set(professional_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(UserAccount.person_id, UserAccount.id).where(UserAccount.person_id.in_(wanted),
                                                            UserAccount.status == "active")
    ).all()
    return {pid: uid for pid, uid in rows if pid is not None}


def set_user_establishments(session: Session, user_id: uuid.UUID, establishment_ids: Sequence[uuid.UUID]) -> None:
    existing = {row.establishment_id: row for row in session.scalars(
        select(UserEstablishment).where(UserEstablishment.user_id == user_id))}
    for index, est in enumerate(establishment_ids):
        row = existing.get(est)
        if row is None:
            session.add(UserEstablishment(user_id=user_id, establishment_id=est, is_default=(index == 0)))
        else:
            row.is_default = index == 0


# --- Specialty lines ---------------------------------------------------------------------------------------


def search_lines(
    session: Session, *, query: str = "", specialty_code: str | None = None, audience: str | None = None,
    modality: str | None = None, establishment_id: uuid.UUID | None = None, published_only: bool = False,
    professional_id: uuid.UUID | None = None, limit: int = 100, offset: int = 0,
) -> Sequence[SpecialtyLine]:
    stmt = select(SpecialtyLine).where(SpecialtyLine.active.is_(True))
    if published_only:
        stmt = stmt.where(SpecialtyLine.published.is_(True))
    if specialty_code:
        stmt = stmt.where(SpecialtyLine.specialty_code == specialty_code)
    if establishment_id:
        stmt = stmt.where(SpecialtyLine.establishment_id == establishment_id)
    if professional_id:
        stmt = stmt.where(SpecialtyLine.id.in_(
            select(SpecialtyLineMember.line_id).where(SpecialtyLineMember.professional_id == professional_id)
        ))
    audience_column = {
        "city": SpecialtyLine.accepts_city, "ehpad": SpecialtyLine.accepts_ehpad,
        "usmp": SpecialtyLine.accepts_usmp, "ght_hospitals": SpecialtyLine.accepts_ght_hospitals,
    }.get(audience or "")
    if audience_column is not None:
        stmt = stmt.where(audience_column.is_(True))
    if modality == "teleexpertise":
        stmt = stmt.where(SpecialtyLine.teleexpertise.is_(True))
    elif modality == "teleconsultation":
        stmt = stmt.where(SpecialtyLine.teleconsultation.is_(True))
    if query.strip():
        stmt = stmt.where(*_words_condition(SpecialtyLine.search_text, query, SpecialtyLine.title))  # type: ignore[arg-type]
    stmt = stmt.order_by(SpecialtyLine.title)
    return session.scalars(_page(stmt, limit, offset)).all()


def line(session: Session, line_id: uuid.UUID) -> SpecialtyLine | None:
    return session.get(SpecialtyLine, line_id)


def commitments_of(session: Session, line_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[SpecialtyLineCommitment]]:
    wanted = list(set(line_ids))
    found: dict[uuid.UUID, list[SpecialtyLineCommitment]] = {i: [] for i in wanted}
    if wanted:
        rows = session.scalars(select(SpecialtyLineCommitment).where(SpecialtyLineCommitment.line_id.in_(wanted))
                               .order_by(SpecialtyLineCommitment.response_minutes))
        for c in rows:
            found[c.line_id].append(c)
    return found


def members_of(session: Session, line_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[tuple[SpecialtyLineMember,
                                                                                                Professional]]]:
    wanted = list(set(line_ids))
    found: dict[uuid.UUID, list[tuple[SpecialtyLineMember, Professional]]] = {i: [] for i in wanted}
    if wanted:
        rows = session.execute(
            select(SpecialtyLineMember, Professional)
            .join(Professional, Professional.id == SpecialtyLineMember.professional_id)
            .where(SpecialtyLineMember.line_id.in_(wanted))
            .order_by(SpecialtyLineMember.role, Professional.last_name)
        ).all()
        for m, p in rows:
            found[m.line_id].append((m, p))
    return found


def care_units_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CareUnit]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(CareUnit).where(CareUnit.id.in_(wanted)))}


def replace_commitments(session: Session, line_id: uuid.UUID, delays: dict[str, int]) -> None:
    existing = {c.urgency: c for c in session.scalars(
        select(SpecialtyLineCommitment).where(SpecialtyLineCommitment.line_id == line_id))}
    for urgency, stale in existing.items():
        if urgency not in delays:
            session.delete(stale)
    for urgency, minutes in delays.items():
        row = existing.get(urgency)
        if row is None:
            session.add(SpecialtyLineCommitment(line_id=line_id, urgency=urgency, response_minutes=minutes))
        else:
            row.response_minutes = minutes


def replace_members(session: Session, line_id: uuid.UUID, members: Sequence[tuple[uuid.UUID, str]]) -> None:
    existing = {(m.professional_id, m.role): m for m in session.scalars(
        select(SpecialtyLineMember).where(SpecialtyLineMember.line_id == line_id))}
    wanted = set(members)
    for key, row in existing.items():
        if key not in wanted:
            session.delete(row)
    for professional_id, role in members:
        if (professional_id, role) not in existing:
            session.add(SpecialtyLineMember(line_id=line_id, professional_id=professional_id, role=role))


def lines_answered_by(session: Session, professional_id: uuid.UUID) -> Sequence[tuple[SpecialtyLine, str]]:
    rows = session.execute(
        select(SpecialtyLine, SpecialtyLineMember.role)
        .join(SpecialtyLineMember, SpecialtyLineMember.line_id == SpecialtyLine.id)
        .where(SpecialtyLineMember.professional_id == professional_id, SpecialtyLine.active.is_(True))
        .order_by(SpecialtyLine.title)
    ).all()
    return [(line_, role) for line_, role in rows]
