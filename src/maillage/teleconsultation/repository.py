"""Queries of teleconsultation: availability ranges, appointments, links. No rule and no access check here."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.models.directory import SpecialtyLine, SpecialtyLineMember
from maillage.models.teleconsultation import (
    TeleconsultationAppointment,
    TeleconsultationAvailability,
    TeleconsultationLink,
)
from maillage.teleconsultation.rules import Kind, Range

OBJECT_TYPE = "teleconsultation"
HOLDING = ("booked", "waiting", "in_consultation", "done", "no_show")


def as_range(row: TeleconsultationAvailability) -> Range:
    return Range(Kind(row.kind), row.start_minute, row.end_minute, weekday=row.weekday, day=row.day,
                 slot_minutes=row.slot_minutes, line=str(row.line_id) if row.line_id else None, place=row.place)


def ranges_of(session: Session, practitioner_id: uuid.UUID) -> list[TeleconsultationAvailability]:
    return list(session.scalars(
        select(TeleconsultationAvailability).where(TeleconsultationAvailability.practitioner_id == practitioner_id)
        .order_by(TeleconsultationAvailability.kind.desc(), TeleconsultationAvailability.weekday,
                  TeleconsultationAvailability.day, TeleconsultationAvailability.start_minute)))


def taken_starts(session: Session, practitioner_id: uuid.UUID, start: dt.datetime,
                 end: dt.datetime) -> set[dt.datetime]:
    return set(session.scalars(
        select(TeleconsultationAppointment.starts_at).where(
            TeleconsultationAppointment.practitioner_id == practitioner_id,
            TeleconsultationAppointment.starts_at >= start, TeleconsultationAppointment.starts_at < end,
            TeleconsultationAppointment.status.in_(HOLDING))))


def appointment(session: Session, appointment_id: uuid.UUID) -> TeleconsultationAppointment | None:
    return session.get(TeleconsultationAppointment, appointment_id)


def practitioner_day(session: Session, practitioner_id: uuid.UUID, start: dt.datetime,
                     end: dt.datetime) -> list[TeleconsultationAppointment]:
    return list(session.scalars(
        select(TeleconsultationAppointment).where(
            TeleconsultationAppointment.practitioner_id == practitioner_id,
            TeleconsultationAppointment.starts_at >= start, TeleconsultationAppointment.starts_at < end)
        .order_by(TeleconsultationAppointment.starts_at, TeleconsultationAppointment.created_at)))


def booked_by(session: Session, requester_id: uuid.UUID, since: dt.datetime,
              limit: int) -> list[TeleconsultationAppointment]:
    return list(session.scalars(
        select(TeleconsultationAppointment).where(TeleconsultationAppointment.requester_id == requester_id,
                                                  TeleconsultationAppointment.starts_at >= since)
        .order_by(TeleconsultationAppointment.starts_at).limit(limit)))


def transition(session: Session, appt: TeleconsultationAppointment, *, expect_status: str,
               values: dict[str, Any]) -> bool:
    """Conditional UPDATE on the status read: False if another request changed the appointment first."""
    result = session.execute(
        update(TeleconsultationAppointment)
        .where(TeleconsultationAppointment.id == appt.id, TeleconsultationAppointment.status == expect_status)
        .values(**values, version=TeleconsultationAppointment.version + 1)
        .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return False
    session.refresh(appt)
    return True


def teleconsultation_lines(session: Session) -> list[SpecialtyLine]:
    return list(session.scalars(select(SpecialtyLine).where(
        SpecialtyLine.active.is_(True), SpecialtyLine.published.is_(True), SpecialtyLine.teleconsultation.is_(True))
        .order_by(SpecialtyLine.title)))


def line(session: Session, line_id: uuid.UUID) -> SpecialtyLine | None:
    return session.get(SpecialtyLine, line_id)


def line_practitioners(session: Session, line_id: uuid.UUID) -> list[UserAccount]:
    """Active accounts of the professionals answering the line (those who may hold its teleconsultations)."""
    return list(session.scalars(
        select(UserAccount).join(SpecialtyLineMember, SpecialtyLineMember.professional_id == UserAccount.person_id)
        .where(SpecialtyLineMember.line_id == line_id, SpecialtyLineMember.role == "answering",
               UserAccount.status == "active").order_by(UserAccount.display_name)))


def lines_of_practitioner(session: Session, user_id: uuid.UUID) -> list[SpecialtyLine]:
    return list(session.scalars(
        select(SpecialtyLine).join(SpecialtyLineMember, SpecialtyLineMember.line_id == SpecialtyLine.id)
        .join(UserAccount, UserAccount.person_id == SpecialtyLineMember.professional_id)
        .where(UserAccount.id == user_id, SpecialtyLineMember.role == "answering",
               SpecialtyLine.teleconsultation.is_(True), SpecialtyLine.active.is_(True))
        .order_by(SpecialtyLine.title).distinct()))


def users_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, UserAccount]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(UserAccount).where(UserAccount.id.in_(wanted)))}


def link_by_token(session: Session, token_hash: str) -> TeleconsultationLink | None:
    return session.scalar(select(TeleconsultationLink).where(TeleconsultationLink.token_hash == token_hash))


def link_by_session(session: Session, session_hash: str) -> TeleconsultationLink | None:
    return session.scalar(select(TeleconsultationLink).where(TeleconsultationLink.session_hash == session_hash))


def open_link(session: Session, link: TeleconsultationLink, *, session_hash: str, at: dt.datetime) -> bool:
    """Mark the link opened (once: a conditional UPDATE, so two concurrent openings cannot both succeed)."""
    result = session.execute(
        update(TeleconsultationLink)
        .where(TeleconsultationLink.id == link.id, TeleconsultationLink.opened_at.is_(None))
        .values(opened_at=at, session_hash=session_hash).execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1


def revoke_links(session: Session, appointment_id: uuid.UUID, at: dt.datetime) -> None:
    session.execute(update(TeleconsultationLink).where(TeleconsultationLink.appointment_id == appointment_id,
                                                       TeleconsultationLink.revoked_at.is_(None))
                    .values(revoked_at=at).execution_options(synchronize_session=False))
