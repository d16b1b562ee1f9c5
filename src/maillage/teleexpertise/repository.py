"""Every query of tele-expertise. Transitions are conditional UPDATEs on (status, version) so that two concurrent
actions on one request cannot both succeed."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, and_, case, delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.models.directory import Establishment, SpecialtyLine, SpecialtyLineCommitment, SpecialtyLineMember
from maillage.models.document import Document
from maillage.models.teleconsultation import TeleconsultationAppointment
from maillage.models.teleexpertise import (
    TeleexpertiseAct,
    TeleexpertiseAdmission,
    TeleexpertiseBoardSnapshot,
    TeleexpertiseEvent,
    TeleexpertiseMessage,
    TeleexpertiseNotification,
    TeleexpertiseRequest,
)
from maillage.teleexpertise.rules import OPEN, Orientation

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
    assignee, None meaning nobody). True if this caller won; the request object is refreshed either way. A new
    status brings its worklist rank along, so the worklist index always agrees with the status."""
    stmt = update(TeleexpertiseRequest).where(
        TeleexpertiseRequest.id == request.id,
        TeleexpertiseRequest.status == expect_status,
        TeleexpertiseRequest.version == request.version,
    )
    if check_assignee:
        stmt = stmt.where(TeleexpertiseRequest.assignee_id.is_(None) if assignee is None
                          else TeleexpertiseRequest.assignee_id == assignee)
    if "status" in values:
        values = {**values, "worklist_rank": worklist_rank(values["status"], request.urgency)}
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
    """A requester's requests, most recently changed first (read in the order of the requester/updated index)."""
    return list(session.scalars(select(TeleexpertiseRequest).where(TeleexpertiseRequest.requester_id == user_id)
                                .order_by(TeleexpertiseRequest.updated_at.desc(), TeleexpertiseRequest.id.desc())
                                .limit(limit).offset(offset)))


# The worklist's order of urgency; a request outside the open statuses has no rank and is on no worklist.
URGENCY_RANKS = {"very_urgent": 0, "urgent": 1, "routine": 2}
OPEN_STATUSES = frozenset(s.value for s in OPEN)


def worklist_rank(status: str, urgency: str) -> int | None:
    """The ``worklist_rank`` column for a status and an urgency: the urgency's rank while open, else None."""
    return URGENCY_RANKS[urgency] if status in OPEN_STATUSES else None


def worklist(session: Session, line_id: uuid.UUID, *, limit: int, offset: int) -> list[TeleexpertiseRequest]:
    """Open requests of a line, the most urgent first, then the earliest due: an index range scan of the partial
    worklist index (line, rank, due time, id) that stops after ``limit`` rows, whatever the line's history."""
    return list(session.scalars(
        select(TeleexpertiseRequest).where(TeleexpertiseRequest.line_id == line_id,
                                           TeleexpertiseRequest.worklist_rank.is_not(None))
        .order_by(TeleexpertiseRequest.worklist_rank, TeleexpertiseRequest.due_at, TeleexpertiseRequest.id)
        .limit(limit).offset(offset)))


@dataclass
class BoardFigures:
    """One group of the coordinator's board (a line, or a requesting establishment's requests to a line): the requests
    submitted since the start of the period plus those still open, their response times (submission to signed opinion,
    nearest-rank percentiles in seconds), the open and overdue ones now, and the orientations given."""

    volume: int = 0
    answered: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None
    open: int = 0
    overdue: int = 0
    orientations: dict[str, int] = field(default_factory=dict)


@dataclass
class BoardResult:
    lines: dict[uuid.UUID, BoardFigures] = field(default_factory=dict)
    # Keyed by (line, requester's establishment); establishment None: a requester attached to no establishment.
    establishments: dict[tuple[uuid.UUID, uuid.UUID | None], BoardFigures] = field(default_factory=dict)

    def group(self, line_id: uuid.UUID, establishment: tuple[uuid.UUID | None] | None = None) -> BoardFigures:
        """The figures of a line, or with ``establishment`` (a 1-tuple) those of that establishment on the line."""
        if establishment is None:
            return self.lines.setdefault(line_id, BoardFigures())
        return self.establishments.setdefault((line_id, establishment[0]), BoardFigures())


def nearest_rank(ordered: Sequence[float], q: float) -> float | None:
    """The smallest value with at least a share ``q`` of the values at or below it (what PostgreSQL's
    ``percentile_disc`` returns), from values already sorted."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def board_figures(session: Session, line_ids: Sequence[uuid.UUID], since: dt.datetime, at: dt.datetime,
                  overdue_statuses: Sequence[str]) -> BoardResult:
    """The board's figures per line and per requesting establishment on each line, in two indexed queries: the
    requests submitted since ``since`` (an index-only scan of the covering board index), aggregated in the database,
    and the open requests (the partial worklist index). On PostgreSQL the percentiles are computed by the database
    (``percentile_disc`` over GROUPING SETS); elsewhere the period's narrow rows are read and aggregated here, with
    the same definitions. The page does not call this directly: it reads the snapshot (``board_snapshot``)."""
    result = BoardResult(lines={line_id: BoardFigures() for line_id in line_ids})
    if not line_ids:
        return result
    r = TeleexpertiseRequest
    period = (r.line_id.in_(list(line_ids)), r.submitted_at >= since)
    if session.get_bind().dialect.name == "postgresql":
        _period_in_database(session, result, period)
    else:
        _period_in_python(session, result, period)
    overdue = and_(r.status.in_(list(overdue_statuses)), r.due_at < at)
    before = r.submitted_at < since
    live = session.execute(
        select(r.line_id, r.requester_establishment_id, func.count(),
               func.sum(case((overdue, 1), else_=0)), func.sum(case((before, 1), else_=0)))
        .where(r.line_id.in_(list(line_ids)), r.worklist_rank.is_not(None))
        .group_by(r.line_id, r.requester_establishment_id))
    for line_id, establishment_id, n_open, n_overdue, n_before in live:
        for target in (result.group(line_id), result.group(line_id, (establishment_id,))):
            target.open += int(n_open)
            target.overdue += int(n_overdue or 0)
            # Requests still open that were submitted before the period belong to the board too.
            target.volume += int(n_before or 0)
    return result


def _period_in_database(session: Session, result: BoardResult, period: tuple[Any, ...]) -> None:
    r = TeleexpertiseRequest
    delay = r.signed_at - r.submitted_at
    orientations = [o.value for o in Orientation]
    # A GHT-wide board sorts about a hundred thousand narrow rows: keep that sort in memory (this transaction only).
    session.execute(text("SET LOCAL work_mem = '32MB'"))
    stmt = (select(r.line_id, r.requester_establishment_id, func.grouping(r.requester_establishment_id),
                   func.count(), func.count(r.signed_at), func.percentile_disc(0.5).within_group(delay),
                   func.percentile_disc(0.9).within_group(delay),
                   *[func.count().filter(r.orientation == o) for o in orientations])
            .where(*period)
            .group_by(func.grouping_sets(tuple_(r.line_id), tuple_(r.line_id, r.requester_establishment_id))))
    for row in session.execute(stmt):
        line_id, establishment_id, whole_line, volume, answered, p50, p90, *counts = row
        target = result.group(line_id, None if whole_line else (establishment_id,))
        target.volume += int(volume)
        target.answered = int(answered)
        target.median_seconds = p50.total_seconds() if p50 is not None else None
        target.p90_seconds = p90.total_seconds() if p90 is not None else None
        target.orientations = {o: int(n) for o, n in zip(orientations, counts, strict=True) if n}


def _period_in_python(session: Session, result: BoardResult, period: tuple[Any, ...]) -> None:
    r = TeleexpertiseRequest
    delays: dict[tuple[uuid.UUID, tuple[uuid.UUID | None] | None], list[float]] = {}
    rows = session.execute(select(r.line_id, r.requester_establishment_id, r.orientation, r.submitted_at,
                                  r.signed_at).where(*period))
    for line_id, establishment_id, orientation, submitted_at, signed_at in rows:
        for key in ((line_id, None), (line_id, (establishment_id,))):
            target = result.group(*key)
            target.volume += 1
            if signed_at is not None and submitted_at is not None:
                target.answered += 1
                delays.setdefault(key, []).append((signed_at - submitted_at).total_seconds())
            if orientation is not None:
                target.orientations[orientation] = target.orientations.get(orientation, 0) + 1
    for group_key, values in delays.items():
        target = result.group(*group_key)
        values.sort()
        target.median_seconds, target.p90_seconds = nearest_rank(values, 0.5), nearest_rank(values, 0.9)


# --- The board snapshot -------------------------------------------------------------------------------------------

# Any number, the same in every process: the key of the lock that serializes the snapshot's rewrites on PostgreSQL.
BOARD_LOCK_KEY = 5_020_261_128


def board_line_ids(session: Session) -> list[uuid.UUID]:
    """Every line that takes tele-expertise requests: the lines the worker keeps a snapshot of."""
    return list(session.scalars(select(SpecialtyLine.id).where(SpecialtyLine.teleexpertise.is_(True))
                                .order_by(SpecialtyLine.id)))


SNAPSHOT_COLUMNS = ("line_id", "whole_line", "establishment_id", "volume", "answered", "median_seconds",
                    "p90_seconds", "open_count", "overdue", "orientations", "computed_at")


def board_snapshot(session: Session, line_ids: Sequence[uuid.UUID], days: int,
                   detailed: Sequence[uuid.UUID] | None = None) -> list[Row[Any]]:
    """The snapshot rows of these lines for a period of ``days`` days (the ``SNAPSHOT_COLUMNS``), one indexed query:
    each line's row, and the rows per requesting establishment of the ``detailed`` lines (of every line if None).
    Read as plain rows, no ORM objects to build."""
    if not line_ids:
        return []
    t = TeleexpertiseBoardSnapshot
    stmt = select(*[getattr(t, c) for c in SNAPSHOT_COLUMNS]).where(t.line_id.in_(list(line_ids)),
                                                                    t.period_days == days)
    if detailed is not None:
        stmt = stmt.where(or_(t.whole_line.is_(True), t.line_id.in_(list(detailed))))
    return list(session.execute(stmt))


def lock_board_snapshot(session: Session) -> None:
    """Serialize the snapshot's rewrites until the end of the transaction (PostgreSQL; SQLite serializes writers
    already), so that two concurrent refreshes of a line cannot leave both their rows."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(BOARD_LOCK_KEY)))


def replace_board_snapshot(session: Session, result: BoardResult, days: int, at: dt.datetime) -> None:
    """Replace the snapshot of the lines of ``result`` (call ``lock_board_snapshot`` first in this transaction)."""
    line_ids = list(result.lines)
    if not line_ids:
        return
    session.execute(delete(TeleexpertiseBoardSnapshot).where(
        TeleexpertiseBoardSnapshot.line_id.in_(line_ids), TeleexpertiseBoardSnapshot.period_days == days)
        .execution_options(synchronize_session=False))

    def snapshot_row(line_id: uuid.UUID, whole_line: bool, establishment_id: uuid.UUID | None,
                     f: BoardFigures) -> dict[str, Any]:
        return {"id": uuid.uuid4(), "line_id": line_id, "period_days": days, "whole_line": whole_line,
                "establishment_id": establishment_id, "volume": f.volume, "answered": f.answered,
                "median_seconds": f.median_seconds, "p90_seconds": f.p90_seconds, "open_count": f.open,
                "overdue": f.overdue, "orientations": dict(f.orientations), "computed_at": at}

    rows = [snapshot_row(line_id, True, None, f) for line_id, f in result.lines.items()]
    rows += [snapshot_row(line_id, False, establishment_id, f)
             for (line_id, establishment_id), f in result.establishments.items()]
    session.execute(insert(TeleexpertiseBoardSnapshot), rows)
    session.flush()


def figures_of(row: Row[Any]) -> BoardFigures:
    return BoardFigures(volume=row.volume, answered=row.answered, median_seconds=row.median_seconds,
                        p90_seconds=row.p90_seconds, open=row.open_count, overdue=row.overdue,
                        orientations=dict(row.orientations))


def unreminded(session: Session, statuses: Sequence[str]) -> list[TeleexpertiseRequest]:
    return list(session.scalars(select(TeleexpertiseRequest).where(
        TeleexpertiseRequest.worklist_rank.is_not(None), TeleexpertiseRequest.status.in_(list(statuses)),
        TeleexpertiseRequest.reminder_sent_at.is_(None), TeleexpertiseRequest.due_at.is_not(None))
        .order_by(TeleexpertiseRequest.due_at)))


def overdue_unescalated(session: Session, statuses: Sequence[str], at: dt.datetime) -> list[TeleexpertiseRequest]:
    return list(session.scalars(select(TeleexpertiseRequest).where(
        TeleexpertiseRequest.worklist_rank.is_not(None), TeleexpertiseRequest.status.in_(list(statuses)),
        TeleexpertiseRequest.escalated_at.is_(None), TeleexpertiseRequest.due_at < at)
        .order_by(TeleexpertiseRequest.due_at)))


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


def establishment_names(session: Session, ids: Sequence[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return {row.id: row.name for row in session.execute(
        select(Establishment.id, Establishment.name).where(Establishment.id.in_(wanted)))}


# --- Admission follow-up and assignment (pages) --------------------------------------------------------------------

ADMISSION_OPEN = ("requested", "accepted")


def admissions_of_line(session: Session, line_id: uuid.UUID, *,
                       limit: int) -> list[tuple[TeleexpertiseAdmission, TeleexpertiseRequest]]:
    """The admission requests opened by the line's opinions: those still open first, then the latest changed."""
    still_open = case((TeleexpertiseAdmission.status.in_(ADMISSION_OPEN), 0), else_=1)
    rows = session.execute(
        select(TeleexpertiseAdmission, TeleexpertiseRequest)
        .join(TeleexpertiseRequest, TeleexpertiseRequest.id == TeleexpertiseAdmission.request_id)
        .where(TeleexpertiseRequest.line_id == line_id)
        .order_by(still_open, TeleexpertiseAdmission.updated_at.desc(), TeleexpertiseAdmission.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows]


def line_members(session: Session, line_id: uuid.UUID,
                 roles: Sequence[str] = ("answering",)) -> list[tuple[uuid.UUID, str]]:
    """(professional id, account display name) of the line's members with an active account, by name."""
    rows = session.execute(
        select(SpecialtyLineMember.professional_id, UserAccount.display_name)
        .join(UserAccount, UserAccount.person_id == SpecialtyLineMember.professional_id)
        .where(SpecialtyLineMember.line_id == line_id, SpecialtyLineMember.role.in_(list(roles)),
               UserAccount.status == "active")
        .distinct().order_by(UserAccount.display_name)
    )
    return [(row[0], row[1]) for row in rows]


def teleconsultations_of(session: Session, request_id: uuid.UUID) -> list[TeleconsultationAppointment]:
    """The teleconsultations booked from a request's opinion (orientation "teleconsultation to schedule")."""
    return list(session.scalars(select(TeleconsultationAppointment)
                                .where(TeleconsultationAppointment.teleexpertise_request_id == request_id)
                                .order_by(TeleconsultationAppointment.starts_at)))
