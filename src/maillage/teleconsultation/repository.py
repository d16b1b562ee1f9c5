"""Queries of teleconsultation: availability ranges, appointments, links. No rule and no access check here."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount, UserEstablishment
from maillage.models.directory import Establishment, Professional, SpecialtyLine, SpecialtyLineMember
from maillage.models.teleconsultation import (
    TeleconsultationAct,
    TeleconsultationActivity,
    TeleconsultationAppointment,
    TeleconsultationAvailability,
    TeleconsultationEvent,
    TeleconsultationGuest,
    TeleconsultationLateNotice,
    TeleconsultationLink,
    TeleconsultationNotice,
    TeleconsultationQualitySample,
)
from maillage.patient import labels as patient_labels
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


# --- Scheduling and after-care -------------------------------------------------------------------------------------


def line_coordinator_ids(session: Session, line_id: uuid.UUID) -> set[uuid.UUID]:
    """Active accounts of the line's coordinators."""
    return set(session.scalars(
        select(UserAccount.id).join(SpecialtyLineMember, SpecialtyLineMember.professional_id == UserAccount.person_id)
        .where(SpecialtyLineMember.line_id == line_id, SpecialtyLineMember.role == "coordinator",
               UserAccount.status == "active")))


def coordinated_lines(session: Session, user_id: uuid.UUID) -> list[SpecialtyLine]:
    """The teleconsultation lines the user coordinates."""
    return list(session.scalars(
        select(SpecialtyLine).join(SpecialtyLineMember, SpecialtyLineMember.line_id == SpecialtyLine.id)
        .join(UserAccount, UserAccount.person_id == SpecialtyLineMember.professional_id)
        .where(UserAccount.id == user_id, SpecialtyLineMember.role == "coordinator",
               SpecialtyLine.teleconsultation.is_(True), SpecialtyLine.active.is_(True))
        .order_by(SpecialtyLine.title).distinct()))


def attending_account_ids(session: Session, patient_id: uuid.UUID) -> set[uuid.UUID]:
    """Active accounts of the patient's declared médecin traitant (none when not declared or not on the platform);
    the patient's facts come from the patient package (the appointment's access is checked and audited)."""
    facts = patient_labels.pathway_facts_for_audited_acts(session, [patient_id]).get(patient_id)
    if facts is None or facts.attending_professional_id is None:
        return set()
    return set(session.scalars(select(UserAccount.id).where(
        UserAccount.person_id == facts.attending_professional_id, UserAccount.status == "active")))


def appointment_readers(session: Session, appt: TeleconsultationAppointment) -> set[uuid.UUID]:
    """Who reads an appointment besides its requester and practitioner: the line's coordinators, and the patient's
    médecin traitant once the signed report was sent to them."""
    readers = line_coordinator_ids(session, appt.line_id)
    if appt.report_sent_at is not None:
        readers |= attending_account_ids(session, appt.patient_id)
    return readers


def line_appointments(session: Session, line_id: uuid.UUID, start: dt.datetime, end: dt.datetime,
                      limit: int) -> list[TeleconsultationAppointment]:
    return list(session.scalars(
        select(TeleconsultationAppointment).where(
            TeleconsultationAppointment.line_id == line_id,
            TeleconsultationAppointment.starts_at >= start, TeleconsultationAppointment.starts_at < end)
        .order_by(TeleconsultationAppointment.starts_at, TeleconsultationAppointment.practitioner_id).limit(limit)))


def move_links(session: Session, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
    """The patient's live links follow a rescheduled appointment to its new slot."""
    result = session.execute(update(TeleconsultationLink).where(TeleconsultationLink.appointment_id == from_id,
                                                                TeleconsultationLink.revoked_at.is_(None))
                             .values(appointment_id=to_id).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def stamp_once(session: Session, appointment_id: uuid.UUID, column: str, at: dt.datetime) -> bool:
    """Set a timestamp column if it is still empty (a conditional UPDATE: of two workers, one wins)."""
    col = getattr(TeleconsultationAppointment, column)
    result = session.execute(update(TeleconsultationAppointment)
                             .where(TeleconsultationAppointment.id == appointment_id, col.is_(None))
                             .values({column: at}).execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1


def due_reminders(session: Session, column: str, start: dt.datetime, end: dt.datetime,
                  limit: int = 500) -> list[TeleconsultationAppointment]:
    """Live appointments starting in ``[start, end)`` whose reminder ``column`` is not sent yet."""
    col = getattr(TeleconsultationAppointment, column)
    return list(session.scalars(
        select(TeleconsultationAppointment).where(
            TeleconsultationAppointment.status.in_(("booked", "waiting")), col.is_(None),
            TeleconsultationAppointment.starts_at >= start, TeleconsultationAppointment.starts_at < end)
        .order_by(TeleconsultationAppointment.starts_at, TeleconsultationAppointment.id).limit(limit)))


def notice(session: Session, appointment_id: uuid.UUID, user_id: uuid.UUID, kind: str) -> TeleconsultationNotice | None:
    return session.scalar(select(TeleconsultationNotice).where(
        TeleconsultationNotice.appointment_id == appointment_id, TeleconsultationNotice.user_id == user_id,
        TeleconsultationNotice.kind == kind))


def notices_of(session: Session, user_id: uuid.UUID, limit: int) -> list[TeleconsultationNotice]:
    return list(session.scalars(
        select(TeleconsultationNotice).where(TeleconsultationNotice.user_id == user_id)
        .order_by(TeleconsultationNotice.created_at.desc(), TeleconsultationNotice.kind).limit(limit)))


def unread_notices(session: Session, user_id: uuid.UUID) -> int:
    return int(session.scalar(select(func.count()).select_from(TeleconsultationNotice).where(
        TeleconsultationNotice.user_id == user_id, TeleconsultationNotice.read_at.is_(None))) or 0)


def mark_notices_read(session: Session, user_id: uuid.UUID, appointment_id: uuid.UUID, at: dt.datetime) -> None:
    session.execute(update(TeleconsultationNotice).where(
        TeleconsultationNotice.user_id == user_id, TeleconsultationNotice.appointment_id == appointment_id,
        TeleconsultationNotice.read_at.is_(None)).values(read_at=at).execution_options(synchronize_session=False))


def events_of(session: Session, appointment_ids: Iterable[uuid.UUID]) -> list[TeleconsultationEvent]:
    ids = list(appointment_ids)
    return list(session.scalars(select(TeleconsultationEvent).where(TeleconsultationEvent.appointment_id.in_(ids))
                                .order_by(TeleconsultationEvent.at, TeleconsultationEvent.kind)))


def professional_of(session: Session, user_id: uuid.UUID) -> Professional | None:
    return session.scalar(select(Professional).join(UserAccount, UserAccount.person_id == Professional.id)
                          .where(UserAccount.id == user_id))


def establishment_kinds_of(session: Session, user_id: uuid.UUID) -> set[str]:
    return set(session.scalars(select(Establishment.kind).join(
        UserEstablishment, UserEstablishment.establishment_id == Establishment.id)
        .where(UserEstablishment.user_id == user_id)))


def acts_of_year(session: Session, user_id: uuid.UUID, year: int) -> list[tuple[TeleconsultationAct, bool]]:
    """The practitioner's teleconsultation acts of a calendar year, each with whether the practitioner is the
    patient's médecin traitant (such acts are excluded from the yearly share)."""
    acts = list(session.scalars(select(TeleconsultationAct).where(
        TeleconsultationAct.professional_user_id == user_id,
        TeleconsultationAct.act_date >= dt.date(year, 1, 1), TeleconsultationAct.act_date <= dt.date(year, 12, 31))
        .order_by(TeleconsultationAct.act_date, TeleconsultationAct.id)))
    person_id = session.scalar(select(UserAccount.person_id).where(UserAccount.id == user_id))
    facts = patient_labels.pathway_facts_for_audited_acts(session, {a.patient_id for a in acts})
    return [(act, person_id is not None and act.patient_id in facts
             and facts[act.patient_id].attending_professional_id == person_id) for act in acts]


def activity(session: Session, user_id: uuid.UUID, year: int) -> TeleconsultationActivity | None:
    return session.scalar(select(TeleconsultationActivity).where(TeleconsultationActivity.user_id == user_id,
                                                                 TeleconsultationActivity.year == year))


def count_line_appointments(session: Session, line_ids: Iterable[uuid.UUID], start: dt.datetime,
                            end: dt.datetime) -> int:
    """How many live appointments the lines hold between two instants (a count: no patient data)."""
    ids = list(line_ids)
    if not ids:
        return 0
    return int(session.scalar(select(func.count()).select_from(TeleconsultationAppointment).where(
        TeleconsultationAppointment.line_id.in_(ids), TeleconsultationAppointment.status.in_(("booked", "waiting")),
        TeleconsultationAppointment.starts_at >= start, TeleconsultationAppointment.starts_at < end)) or 0)
# --- The waiting room and the room's quality (waiting.py, quality.py) ----------------------------------------------


def recent_durations(session: Session, practitioner_id: uuid.UUID, limit: int) -> list[dt.timedelta]:
    """How long the practitioner's last ``limit`` held consultations lasted (admitted → ended), newest first."""
    rows = session.execute(
        select(TeleconsultationAppointment.admitted_at, TeleconsultationAppointment.ended_at).where(
            TeleconsultationAppointment.practitioner_id == practitioner_id,
            TeleconsultationAppointment.status == "done",
            TeleconsultationAppointment.admitted_at.is_not(None), TeleconsultationAppointment.ended_at.is_not(None))
        .order_by(TeleconsultationAppointment.ended_at.desc(), TeleconsultationAppointment.id).limit(limit))
    return [ended - admitted for admitted, ended in rows if admitted is not None and ended is not None]


def practitioner_open(session: Session, practitioner_id: uuid.UUID, start: dt.datetime, end: dt.datetime,
                      statuses: Iterable[str]) -> list[TeleconsultationAppointment]:
    """The practitioner's appointments of [start, end) in ``statuses``, in queue order (slot, then arrival)."""
    return list(session.scalars(
        select(TeleconsultationAppointment).where(
            TeleconsultationAppointment.practitioner_id == practitioner_id,
            TeleconsultationAppointment.starts_at >= start, TeleconsultationAppointment.starts_at < end,
            TeleconsultationAppointment.status.in_(list(statuses)))
        .order_by(TeleconsultationAppointment.starts_at, TeleconsultationAppointment.arrived_at,
                  TeleconsultationAppointment.id)))


def latest_late_notice(session: Session, practitioner_id: uuid.UUID,
                       since: dt.datetime) -> TeleconsultationLateNotice | None:
    return session.scalar(
        select(TeleconsultationLateNotice).where(TeleconsultationLateNotice.practitioner_id == practitioner_id,
                                                 TeleconsultationLateNotice.sent_at >= since)
        .order_by(TeleconsultationLateNotice.sent_at.desc(), TeleconsultationLateNotice.id).limit(1))


def quality_count(session: Session, appointment_id: uuid.UUID) -> int:
    return int(session.scalar(select(func.count()).select_from(TeleconsultationQualitySample)
                              .where(TeleconsultationQualitySample.appointment_id == appointment_id)) or 0)


def last_quality_at(session: Session, appointment_id: uuid.UUID, role: str) -> dt.datetime | None:
    return session.scalar(select(func.max(TeleconsultationQualitySample.at)).where(
        TeleconsultationQualitySample.appointment_id == appointment_id, TeleconsultationQualitySample.role == role))


def quality_samples(session: Session, appointment_id: uuid.UUID) -> list[TeleconsultationQualitySample]:
    return list(session.scalars(
        select(TeleconsultationQualitySample).where(TeleconsultationQualitySample.appointment_id == appointment_id)
        .order_by(TeleconsultationQualitySample.at, TeleconsultationQualitySample.id)))


# --- Third participants (participants.py) ---------------------------------------------------------------------------


def guests_of(session: Session, appointment_id: uuid.UUID) -> list[TeleconsultationGuest]:
    return list(session.scalars(select(TeleconsultationGuest).where(TeleconsultationGuest.appointment_id ==
                                                                    appointment_id)
                                .order_by(TeleconsultationGuest.created_at, TeleconsultationGuest.id)))


def guest(session: Session, guest_id: uuid.UUID) -> TeleconsultationGuest | None:
    return session.get(TeleconsultationGuest, guest_id)


def guest_by_token(session: Session, token_hash: str) -> TeleconsultationGuest | None:
    return session.scalar(select(TeleconsultationGuest).where(TeleconsultationGuest.token_hash == token_hash))


def guest_by_session(session: Session, session_hash: str) -> TeleconsultationGuest | None:
    return session.scalar(select(TeleconsultationGuest).where(TeleconsultationGuest.session_hash == session_hash))


def guest_of_user(session: Session, appointment_id: uuid.UUID, user_id: uuid.UUID) -> TeleconsultationGuest | None:
    return session.scalar(select(TeleconsultationGuest).where(
        TeleconsultationGuest.appointment_id == appointment_id, TeleconsultationGuest.user_id == user_id,
        TeleconsultationGuest.revoked_at.is_(None)).order_by(TeleconsultationGuest.created_at.desc()).limit(1))


def invitations_of_user(session: Session, user_id: uuid.UUID, since: dt.datetime) -> list[TeleconsultationGuest]:
    return list(session.scalars(
        select(TeleconsultationGuest).join(TeleconsultationAppointment,
                                           TeleconsultationAppointment.id == TeleconsultationGuest.appointment_id)
        .where(TeleconsultationGuest.user_id == user_id, TeleconsultationGuest.revoked_at.is_(None),
               TeleconsultationAppointment.ends_at >= since,
               TeleconsultationAppointment.status.in_(("booked", "waiting", "in_consultation")))
        .order_by(TeleconsultationAppointment.starts_at, TeleconsultationGuest.id)))


def open_guest(session: Session, guest_row: TeleconsultationGuest, *, session_hash: str, at: dt.datetime) -> bool:
    """Mark the guest's link opened (once: a conditional UPDATE)."""
    result = session.execute(
        update(TeleconsultationGuest)
        .where(TeleconsultationGuest.id == guest_row.id, TeleconsultationGuest.opened_at.is_(None),
               TeleconsultationGuest.revoked_at.is_(None))
        .values(opened_at=at, session_hash=session_hash).execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1


def decide_guest(session: Session, guest_row: TeleconsultationGuest, *, decision: str, at: dt.datetime) -> bool:
    """Record the patient's decision on a guest who consented (once: a conditional UPDATE)."""
    result = session.execute(
        update(TeleconsultationGuest)
        .where(TeleconsultationGuest.id == guest_row.id, TeleconsultationGuest.patient_decision.is_(None),
               TeleconsultationGuest.consent_at.is_not(None), TeleconsultationGuest.revoked_at.is_(None))
        .values(patient_decision=decision, patient_decision_at=at).execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1


def active_user_by_username(session: Session, username: str) -> UserAccount | None:
    return session.scalar(select(UserAccount).where(UserAccount.username == username,
                                                    UserAccount.status == "active"))
