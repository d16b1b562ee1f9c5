"""Every query of billing: the acts of the capabilities not yet in the ledger, the facts the rules need, the ledger
itself (one establishment-month, one professional-month), and the statements' sums."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, case, exists, func, select, tuple_
from sqlalchemy.orm import Session

from maillage.billing.rules import FORFAIT_CODES, TELECONSULTATION_CODES, EntryStatus
from maillage.models.auth import UserAccount, UserEstablishment
from maillage.models.billing import BillingDeclaredActivity, BillingEntry, BillingStatement
from maillage.models.directory import Establishment, Professional, SpecialtyLine
from maillage.models.monitoring import MonitoringForfait, MonitoringTeam
from maillage.models.teleconsultation import TeleconsultationAct, TeleconsultationAppointment
from maillage.models.teleexpertise import TeleexpertiseAct, TeleexpertiseRequest

COUNTED = (EntryStatus.TO_BILL.value, EntryStatus.BILLED.value)


# The ledger's collector holds this PostgreSQL advisory lock until its transaction ends.
COLLECT_LOCK_KEY = 5_020_261_207


def lock_collection(session: Session) -> None:
    """Serialize collections until the end of the transaction (PostgreSQL; SQLite serializes writers already): the
    officer's "reprendre les actes" and the worker's job never write the same act twice (the second waits, then
    finds it collected), and a yearly cap counts the acts the first one wrote."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(COLLECT_LOCK_KEY)))


def lock_summary(session: Session, establishment_id: uuid.UUID, month: dt.date) -> None:
    """Serialize the refreshes of one establishment-month's stored statement until the end of the transaction
    (PostgreSQL): the second refresh waits, then sums what the first committed, so the stored figures never miss a
    write; two first refreshes never insert the same statement twice."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(establishment_id.bytes + month.isoformat().encode()).digest()
        session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))


def _not_collected(source: str, source_id: Any) -> Any:
    return ~exists().where(BillingEntry.source_id == source_id, BillingEntry.source == source)


def new_teleexpertise_acts(
        session: Session, limit: int) -> Sequence[Row[TeleexpertiseAct, bool, uuid.UUID, uuid.UUID | None]]:
    """Tele-expertise acts not in the ledger yet, oldest first, with the request's inpatient flag and the places of
    the act: the establishment of the line the request was addressed to (where the expert answered, for TE2) and
    the one the requester asked from (for RQD)."""
    return session.execute(
        select(TeleexpertiseAct, TeleexpertiseRequest.patient_inpatient, SpecialtyLine.establishment_id,
               TeleexpertiseRequest.requester_establishment_id)
        .join(TeleexpertiseRequest, TeleexpertiseRequest.id == TeleexpertiseAct.request_id)
        .join(SpecialtyLine, SpecialtyLine.id == TeleexpertiseRequest.line_id)
        .where(_not_collected("teleexpertise", TeleexpertiseAct.id))
        .order_by(TeleexpertiseAct.act_date, TeleexpertiseAct.created_at, TeleexpertiseAct.code.desc())
        .limit(limit)).all()


def new_teleconsultation_acts(
        session: Session, limit: int) -> Sequence[Row[TeleconsultationAct, str, uuid.UUID]]:
    """Teleconsultation acts (the physician's and the nurse's) not in the ledger yet, with the appointment's status
    and the consultation's establishment (its line's)."""
    return session.execute(
        select(TeleconsultationAct, TeleconsultationAppointment.status, SpecialtyLine.establishment_id)
        .join(TeleconsultationAppointment, TeleconsultationAppointment.id == TeleconsultationAct.appointment_id)
        .join(SpecialtyLine, SpecialtyLine.id == TeleconsultationAppointment.line_id)
        .where(_not_collected("teleconsultation", TeleconsultationAct.id))
        .order_by(TeleconsultationAct.act_date, TeleconsultationAct.created_at)
        .limit(limit)).all()


def new_forfaits(session: Session, limit: int) -> Sequence[Row[MonitoringForfait, uuid.UUID]]:
    """Operator forfaits not in the ledger yet, with the team's establishment."""
    return session.execute(
        select(MonitoringForfait, MonitoringTeam.establishment_id)
        .join(MonitoringTeam, MonitoringTeam.id == MonitoringForfait.team_id)
        .where(_not_collected("monitoring", MonitoringForfait.id))
        .order_by(MonitoringForfait.month, MonitoringForfait.recorded_at)
        .limit(limit)).all()


def professional_facts(session: Session, user_id: uuid.UUID) -> tuple[str | None, str | None]:
    """The role and the RPPS of an account."""
    row = session.execute(
        select(UserAccount.role, Professional.rpps)
        .outerjoin(Professional, Professional.id == UserAccount.person_id)
        .where(UserAccount.id == user_id)).first()
    return (None, None) if row is None else (row[0], row[1])


def first_establishment(session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    """The first establishment an account acts for: the place of an act only when the act names none (a request
    recorded before the requester's establishment was kept)."""
    return session.scalar(
        select(UserEstablishment.establishment_id).where(UserEstablishment.user_id == user_id)
        .order_by(UserEstablishment.establishment_id).limit(1))


def finess_of(session: Session, establishment_id: uuid.UUID | None) -> str | None:
    if establishment_id is None:
        return None
    return session.scalar(select(Establishment.finess_et).where(Establishment.id == establishment_id))


def establishment(session: Session, establishment_id: uuid.UUID) -> Establishment | None:
    return session.get(Establishment, establishment_id)


def establishments(session: Session, ids: Sequence[uuid.UUID]) -> list[Establishment]:
    if not ids:
        return []
    return list(session.scalars(select(Establishment).where(Establishment.id.in_(ids)).order_by(Establishment.name)))


def billable_te2_before(session: Session, *, patient_id: uuid.UUID, user_id: uuid.UUID, act_date: dt.date) -> int:
    """TE2 of the same patient and requis counted (to bill or billed) from 1 January to ``act_date``."""
    return session.scalar(select(func.count()).select_from(BillingEntry).where(
        BillingEntry.patient_id == patient_id, BillingEntry.professional_user_id == user_id,
        BillingEntry.code == "TE2", BillingEntry.status.in_(COUNTED),
        BillingEntry.act_date >= dt.date(act_date.year, 1, 1), BillingEntry.act_date <= act_date)) or 0


def forfait_counted(session: Session, *, patient_id: uuid.UUID, month: dt.date) -> bool:
    return session.scalar(select(exists().where(
        BillingEntry.patient_id == patient_id, BillingEntry.month == month,
        BillingEntry.code.in_(FORFAIT_CODES), BillingEntry.status.in_(COUNTED)))) or False


def add(session: Session, entry: BillingEntry) -> BillingEntry:
    session.add(entry)
    session.flush()
    return entry


def entry(session: Session, entry_id: uuid.UUID) -> BillingEntry | None:
    return session.get(BillingEntry, entry_id)


def entries_for_update(session: Session, ids: Sequence[uuid.UUID]) -> list[BillingEntry]:
    return list(session.scalars(select(BillingEntry).where(BillingEntry.id.in_(ids)).with_for_update()))


def _scope(establishment_id: uuid.UUID | None, user_id: uuid.UUID | None, month: dt.date) -> Any:
    where = [BillingEntry.month == month]
    if establishment_id is not None:
        where.append(BillingEntry.establishment_id == establishment_id)
    if user_id is not None:
        where.append(BillingEntry.professional_user_id == user_id)
    return and_(*where)


def sums(session: Session, *, month: dt.date, establishment_id: uuid.UUID | None = None,
         user_id: uuid.UUID | None = None) -> tuple[list[tuple[str, str, int, Decimal]], int]:
    """(code, status, count, amount) of one establishment's or one professional's month, and how many of its entries
    the tele-expertise yearly cap refused or reached: one grouped scan of the month."""
    capped = case(((BillingEntry.reason == "te_cap") | BillingEntry.cap_reached, 1), else_=0)
    rows = session.execute(
        select(BillingEntry.code, BillingEntry.status, func.count(), func.sum(BillingEntry.amount), func.sum(capped))
        .where(_scope(establishment_id, user_id, month))
        .group_by(BillingEntry.code, BillingEntry.status)).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows], sum(int(r[4] or 0) for r in rows)


# A position in a month's list of entries, in the list's order: (act date, code, entry id).
Cursor = tuple[dt.date, str, uuid.UUID]


def entries(session: Session, *, month: dt.date, establishment_id: uuid.UUID | None = None,
            user_id: uuid.UUID | None = None, status: str | None = None, limit: int | None = None,
            after: Cursor | None = None, before: Cursor | None = None) -> list[BillingEntry]:
    """A month's entries ordered by act date, code and id; a page of them after (or before) a position: keyset
    paging, read in the order of ``ix_billing_entry_page`` / ``ix_billing_entry_page_status`` (stable when entries
    are added; no offset to skip)."""
    key = tuple_(BillingEntry.act_date, BillingEntry.code, BillingEntry.id)
    query = select(BillingEntry).where(_scope(establishment_id, user_id, month))
    if status:
        query = query.where(BillingEntry.status == status)
    if after is not None:
        query = query.where(key > tuple_(*after))
    if before is not None:
        query = query.where(key < tuple_(*before)).order_by(
            BillingEntry.act_date.desc(), BillingEntry.code.desc(), BillingEntry.id.desc())
    else:
        query = query.order_by(BillingEntry.act_date, BillingEntry.code, BillingEntry.id)
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.scalars(query))
    return rows[::-1] if before is not None else rows


def count_entries(session: Session, *, month: dt.date, establishment_id: uuid.UUID | None = None,
                  status: str | None = None) -> int:
    query = select(func.count()).select_from(BillingEntry).where(_scope(establishment_id, None, month))
    if status:
        query = query.where(BillingEntry.status == status)
    return session.scalar(query) or 0


def professionals(session: Session, user_ids: Sequence[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [u for u in set(user_ids) if u is not None]
    if not wanted:
        return {}
    rows = session.execute(select(UserAccount.id, UserAccount.display_name).where(UserAccount.id.in_(wanted))).all()
    return {r[0]: r[1] for r in rows}


def scopes_with_entries(session: Session, month: dt.date) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The establishments and the professionals with entries in ``month``."""
    est = session.scalars(select(BillingEntry.establishment_id).where(
        BillingEntry.month == month, BillingEntry.establishment_id.is_not(None)).distinct())
    pro = session.scalars(select(BillingEntry.professional_user_id).where(
        BillingEntry.month == month, BillingEntry.professional_user_id.is_not(None)).distinct())
    return [e for e in est if e is not None], [p for p in pro if p is not None]


def stored_statement(session: Session, scope: str, scope_id: uuid.UUID, month: dt.date) -> BillingStatement | None:
    return session.scalar(select(BillingStatement).where(
        BillingStatement.scope == scope, BillingStatement.scope_id == scope_id, BillingStatement.month == month))


def save_statement(session: Session, scope: str, scope_id: uuid.UUID, month: dt.date,
                   lines: list[dict[str, object]], at: dt.datetime) -> None:
    existing = session.scalar(select(BillingStatement).where(
        BillingStatement.scope == scope, BillingStatement.scope_id == scope_id, BillingStatement.month == month))
    if existing is None:
        session.add(BillingStatement(scope=scope, scope_id=scope_id, month=month, lines=lines, computed_at=at))
    else:
        existing.lines, existing.computed_at = lines, at
    session.flush()


# -- The teleconsultation share of a professional's year ----------------------------------------------------------


def acts_for(session: Session, user_id: uuid.UUID, establishment_ids: Sequence[uuid.UUID]) -> bool:
    """Whether an account acts for one of ``establishment_ids``."""
    return (bool(establishment_ids) and session.scalar(select(exists().where(
        UserEstablishment.user_id == user_id, UserEstablishment.establishment_id.in_(establishment_ids))))) or False


def person_of(session: Session, user_id: uuid.UUID) -> tuple[str, uuid.UUID | None, str | None] | None:
    """An account's display name, its person of the directory and that person's specialty."""
    row = session.execute(
        select(UserAccount.display_name, UserAccount.person_id, Professional.specialty_code)
        .outerjoin(Professional, Professional.id == UserAccount.person_id).where(UserAccount.id == user_id)).first()
    return None if row is None else (row[0], row[1], row[2])


def teleconsultations_of_year(session: Session, user_id: uuid.UUID, year: int) -> list[BillingEntry]:
    """The professional's teleconsultations of a calendar year counted in the ledger (to bill or billed), in act
    order, every establishment: the share is the doctor's, not an establishment's."""
    return list(session.scalars(select(BillingEntry).where(
        BillingEntry.professional_user_id == user_id, BillingEntry.code.in_(TELECONSULTATION_CODES),
        BillingEntry.status.in_(COUNTED), BillingEntry.act_date >= dt.date(year, 1, 1),
        BillingEntry.act_date <= dt.date(year, 12, 31))
        .order_by(BillingEntry.act_date, BillingEntry.code, BillingEntry.id)))


def declarations(session: Session, user_id: uuid.UUID, year: int) -> list[BillingDeclaredActivity]:
    """The declarations of a professional's year, latest first (the first one applies)."""
    return list(session.scalars(select(BillingDeclaredActivity).where(
        BillingDeclaredActivity.user_id == user_id, BillingDeclaredActivity.year == year)
        .order_by(BillingDeclaredActivity.declared_at.desc(), BillingDeclaredActivity.id.desc())))
