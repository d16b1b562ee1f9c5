"""Every query of tele-expertise. Transitions are conditional UPDATEs on (status, version) so that two concurrent
actions on one request cannot both succeed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.models.directory import SpecialtyLine, SpecialtyLineCommitment, SpecialtyLineMember
from maillage.models.document import Document
from maillage.models.teleexpertise import (
    TeleexpertiseAct,
    TeleexpertiseAdmission,
    TeleexpertiseEvent,
    TeleexpertiseMessage,
    TeleexpertiseNotification,
    TeleexpertiseRequest,
)

OWNER_TYPE = "teleexpertise_request"


def get(session: Session, request_id: uuid.UUID) -> TeleexpertiseRequest | None:
    return session.get(TeleexpertiseRequest, request_id)


def add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def transition(session: Session, request: TeleexpertiseRequest, *, expect_status: str,
               check_assignee: bool = False, assignee: uuid.UUID | None = None, values: dict[str, Any]) -> bool:
    """Apply ``values`` only if the row still has the status and version read (and, with ``check_assignee``, that
    assignee, None meaning nobody). True if this caller won; the request object is refreshed either way."""
    stmt = update(TeleexpertiseRequest).where(
        TeleexpertiseRequest.id == request.id,
        TeleexpertiseRequest.status == expect_status,
        TeleexpertiseRequest.version == request.version,
    )
    if check_assignee:
        stmt = stmt.where(TeleexpertiseRequest.assignee_id.is_(None) if assignee is None
                          else TeleexpertiseRequest.assignee_id == assignee)
    stmt = stmt.values(version=request.version + 1, **values).execution_options(synchronize_session=False)
    won = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    session.flush()
    session.refresh(request)
    return bool(won)


def line(session: Session, line_id: uuid.UUID) -> SpecialtyLine | None:
    return session.get(SpecialtyLine, line_id)


def commitment_minutes(session: Session, line_id: uuid.UUID, urgency: str) -> int | None:
    return session.scalar(select(SpecialtyLineCommitment.response_minutes).where(
        SpecialtyLineCommitment.line_id == line_id, SpecialtyLineCommitment.urgency == urgency))


def line_user_ids(session: Session, line_id: uuid.UUID,
                  roles: Sequence[str] = ("answering", "backup")) -> set[uuid.UUID]:
    """Active accounts of the professionals answering (or backing up) a line."""
    rows = session.scalars(
        select(UserAccount.id).join(SpecialtyLineMember, SpecialtyLineMember.professional_id == UserAccount.person_id)
        .where(SpecialtyLineMember.line_id == line_id, SpecialtyLineMember.role.in_(list(roles)),
               UserAccount.status == "active")
    )
    return set(rows)


def line_member_account(session: Session, line_id: uuid.UUID, professional_id: uuid.UUID) -> uuid.UUID | None:
    """The active account of a professional answering (or backing up) the line, if any."""
    return session.scalar(
        select(UserAccount.id).join(SpecialtyLineMember, SpecialtyLineMember.professional_id == UserAccount.person_id)
        .where(SpecialtyLineMember.line_id == line_id, SpecialtyLineMember.professional_id == professional_id,
               UserAccount.status == "active").limit(1)
    )


def open_lines(session: Session) -> list[SpecialtyLine]:
    return list(session.scalars(select(SpecialtyLine).where(
        SpecialtyLine.active.is_(True), SpecialtyLine.published.is_(True), SpecialtyLine.teleexpertise.is_(True))
        .order_by(SpecialtyLine.title)))


def lines_of_user(session: Session, user_id: uuid.UUID) -> list[SpecialtyLine]:
    return list(session.scalars(
        select(SpecialtyLine).join(SpecialtyLineMember, SpecialtyLineMember.line_id == SpecialtyLine.id)
        .join(UserAccount, UserAccount.person_id == SpecialtyLineMember.professional_id)
        .where(UserAccount.id == user_id).distinct().order_by(SpecialtyLine.title)
    ))


def user(session: Session, user_id: uuid.UUID) -> UserAccount | None:
    return session.get(UserAccount, user_id)


def users_by_ids(session: Session, ids: Sequence[uuid.UUID | None]) -> dict[uuid.UUID, UserAccount]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(UserAccount).where(UserAccount.id.in_(wanted)))}


def events(session: Session, request_id: uuid.UUID) -> list[TeleexpertiseEvent]:
    return list(session.scalars(select(TeleexpertiseEvent).where(TeleexpertiseEvent.request_id == request_id)
                                .order_by(TeleexpertiseEvent.at, TeleexpertiseEvent.id)))


def messages(session: Session, request_id: uuid.UUID) -> list[TeleexpertiseMessage]:
    return list(session.scalars(select(TeleexpertiseMessage).where(TeleexpertiseMessage.request_id == request_id)
                                .order_by(TeleexpertiseMessage.created_at, TeleexpertiseMessage.id)))


def open_question(session: Session, request_id: uuid.UUID) -> TeleexpertiseMessage | None:
    return session.scalar(select(TeleexpertiseMessage).where(
        TeleexpertiseMessage.request_id == request_id, TeleexpertiseMessage.kind == "question",
        TeleexpertiseMessage.answered_at.is_(None)).order_by(TeleexpertiseMessage.created_at.desc()).limit(1))


def attachments(session: Session, request_id: uuid.UUID) -> list[Document]:
    return list(session.scalars(select(Document).where(
        Document.owner_type == OWNER_TYPE, Document.owner_id == str(request_id), Document.deleted_at.is_(None))
        .order_by(Document.uploaded_at)))


def admission_of(session: Session, request_id: uuid.UUID) -> TeleexpertiseAdmission | None:
    return session.scalar(select(TeleexpertiseAdmission).where(TeleexpertiseAdmission.request_id == request_id))


def acts_of(session: Session, request_id: uuid.UUID) -> list[TeleexpertiseAct]:
    return list(session.scalars(select(TeleexpertiseAct).where(TeleexpertiseAct.request_id == request_id)
                                .order_by(TeleexpertiseAct.code.desc())))


def count_acts(session: Session, *, patient_id: uuid.UUID, professional_user_id: uuid.UUID, code: str,
               start: dt.date, end: dt.date, billable_only: bool = True) -> int:
    stmt = select(func.count()).select_from(TeleexpertiseAct).where(
        TeleexpertiseAct.patient_id == patient_id, TeleexpertiseAct.professional_user_id == professional_user_id,
        TeleexpertiseAct.code == code, TeleexpertiseAct.act_date >= start, TeleexpertiseAct.act_date <= end)
    if billable_only:
        stmt = stmt.where(TeleexpertiseAct.billable.is_(True))
    return int(session.scalar(stmt) or 0)


def of_requester(session: Session, user_id: uuid.UUID, *, limit: int, offset: int) -> list[TeleexpertiseRequest]:
    return list(session.scalars(select(TeleexpertiseRequest).where(TeleexpertiseRequest.requester_id == user_id)
                                .order_by(TeleexpertiseRequest.updated_at.desc(), TeleexpertiseRequest.id)
                                .limit(limit).offset(offset)))


URGENCY_RANK = case({"very_urgent": 0, "urgent": 1, "routine": 2}, value=TeleexpertiseRequest.urgency, else_=3)


def worklist(session: Session, line_id: uuid.UUID, statuses: Sequence[str], *, limit: int,
             offset: int) -> list[TeleexpertiseRequest]:
    """Open requests of a line, the most urgent first, then the earliest due."""
    return list(session.scalars(
        select(TeleexpertiseRequest).where(TeleexpertiseRequest.line_id == line_id,
                                           TeleexpertiseRequest.status.in_(list(statuses)))
        .order_by(URGENCY_RANK, TeleexpertiseRequest.due_at, TeleexpertiseRequest.id).limit(limit).offset(offset)))


def of_line(session: Session, line_id: uuid.UUID, since: dt.datetime) -> list[TeleexpertiseRequest]:
    return list(session.scalars(select(TeleexpertiseRequest).where(
        TeleexpertiseRequest.line_id == line_id, TeleexpertiseRequest.submitted_at.is_not(None),
        or_(TeleexpertiseRequest.submitted_at >= since, TeleexpertiseRequest.closed_at.is_(None)))))


def unreminded(session: Session, statuses: Sequence[str]) -> list[TeleexpertiseRequest]:
    return list(session.scalars(select(TeleexpertiseRequest).where(
        TeleexpertiseRequest.status.in_(list(statuses)), TeleexpertiseRequest.reminder_sent_at.is_(None),
        TeleexpertiseRequest.due_at.is_not(None)).order_by(TeleexpertiseRequest.due_at)))


def overdue_unescalated(session: Session, statuses: Sequence[str], at: dt.datetime) -> list[TeleexpertiseRequest]:
    return list(session.scalars(select(TeleexpertiseRequest).where(
        TeleexpertiseRequest.status.in_(list(statuses)), TeleexpertiseRequest.escalated_at.is_(None),
        TeleexpertiseRequest.due_at < at).order_by(TeleexpertiseRequest.due_at)))


def stamp_once(session: Session, request_id: uuid.UUID, column: str, at: dt.datetime) -> bool:
    """Set a once-only timestamp (reminder, escalation) if still empty; True if this caller set it."""
    col = getattr(TeleexpertiseRequest, column)
    won = session.execute(update(TeleexpertiseRequest).where(TeleexpertiseRequest.id == request_id, col.is_(None))
                          .values({column: at}).execution_options(synchronize_session=False)
                          ).rowcount == 1  # type: ignore[attr-defined]
    session.flush()
    return bool(won)


def unread_notifications(session: Session, user_id: uuid.UUID) -> int:
    return int(session.scalar(select(func.count()).select_from(TeleexpertiseNotification).where(
        TeleexpertiseNotification.user_id == user_id, TeleexpertiseNotification.read_at.is_(None))) or 0)


def recent_notifications(session: Session, user_id: uuid.UUID, limit: int) -> list[TeleexpertiseNotification]:
    return list(session.scalars(select(TeleexpertiseNotification).where(TeleexpertiseNotification.user_id == user_id)
                                .order_by(TeleexpertiseNotification.created_at.desc(), TeleexpertiseNotification.id)
                                .limit(limit)))


def mark_notifications_read(session: Session, user_id: uuid.UUID, request_id: uuid.UUID, at: dt.datetime) -> None:
    session.execute(update(TeleexpertiseNotification).where(
        TeleexpertiseNotification.user_id == user_id, TeleexpertiseNotification.request_id == request_id,
        TeleexpertiseNotification.read_at.is_(None)).values(read_at=at).execution_options(synchronize_session=False))
    session.flush()
