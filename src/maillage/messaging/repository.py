"""Every query of secure messaging. Scoping by actor: a person's threads are those where they take part, in person or
through a team mailbox they belong to now (``teams_of``); nothing here decides access to a patient (``authz`` does).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, or_, select, union_all, update
from sqlalchemy.orm import Session

from maillage.messaging.rules import NURSING_ROLES, TeamKind
from maillage.models.auth import UserAccount, UserEstablishment
from maillage.models.directory import CareUnit, Establishment, ProfessionalRole, SpecialtyLine, SpecialtyLineMember
from maillage.models.messaging import (
    Message,
    MessageAttachment,
    MessageParticipant,
    MessageRead,
    MessageRevision,
    MessageThread,
)

Team = tuple[TeamKind, uuid.UUID]


@dataclass(frozen=True)
class Filters:
    patient_id: uuid.UUID | None = None
    participant: str | None = None           # part of a person's name, or of a team's title
    subject_terms: tuple[str, ...] = ()      # keyed terms (rules.query_terms), all present
    since: dt.datetime | None = None         # activity on or after
    until: dt.datetime | None = None         # activity before


@dataclass(frozen=True)
class ThreadRow:
    thread: MessageThread
    last_read_seq: int


def get_thread(session: Session, thread_id: uuid.UUID) -> MessageThread | None:
    return session.get(MessageThread, thread_id)


def lock_thread(session: Session, thread_id: uuid.UUID) -> MessageThread | None:
    """The thread, locked for the next ``seq`` (two messages at once get 1 and 2, not 1 twice)."""
    return session.scalars(select(MessageThread).where(MessageThread.id == thread_id).with_for_update()).first()


# --- Teams ---------------------------------------------------------------------------------------------------------


def teams_of(session: Session, user_id: uuid.UUID, role: str) -> list[Team]:
    """The team mailboxes a person belongs to now: their specialty lines, their care units, and the nursing teams of
    their establishments when they are a nurse."""
    person = select(UserAccount.person_id).where(UserAccount.id == user_id).scalar_subquery()
    lines = session.scalars(select(SpecialtyLineMember.line_id).where(SpecialtyLineMember.professional_id == person)
                            .distinct())
    units = session.scalars(select(ProfessionalRole.care_unit_id).where(
        ProfessionalRole.professional_id == person, ProfessionalRole.care_unit_id.is_not(None)).distinct())
    teams: list[Team] = [(TeamKind.LINE, i) for i in lines] + [(TeamKind.CARE_UNIT, i) for i in units if i]
    if role in NURSING_ROLES:
        places = session.scalars(select(UserEstablishment.establishment_id)
                                 .where(UserEstablishment.user_id == user_id))
        teams += [(TeamKind.NURSING_TEAM, i) for i in places]
    return sorted(set(teams), key=lambda t: (t[0].value, str(t[1])))


def team_members(session: Session, kind: TeamKind, team_id: uuid.UUID) -> set[uuid.UUID]:
    """The active accounts of a team now."""
    active = UserAccount.status == "active"
    if kind is TeamKind.LINE:
        q: Select[uuid.UUID] = (
            select(UserAccount.id)
            .join(SpecialtyLineMember, SpecialtyLineMember.professional_id == UserAccount.person_id)
            .where(SpecialtyLineMember.line_id == team_id, active))
    elif kind is TeamKind.CARE_UNIT:
        q = (select(UserAccount.id).join(ProfessionalRole, ProfessionalRole.professional_id == UserAccount.person_id)
             .where(ProfessionalRole.care_unit_id == team_id, active))
    else:
        q = (select(UserAccount.id).join(UserEstablishment, UserEstablishment.user_id == UserAccount.id)
             .where(UserEstablishment.establishment_id == team_id, UserAccount.role.in_(sorted(NURSING_ROLES)),
                    active))
    return set(session.scalars(q))


def team_titles(session: Session, teams: Iterable[Team]) -> dict[uuid.UUID, str]:
    wanted = list(teams)
    titles: dict[uuid.UUID, str] = {}
    ids = {kind: [i for k, i in wanted if k is kind] for kind in TeamKind}
    if ids[TeamKind.LINE]:
        titles.update({i: t for i, t in session.execute(select(SpecialtyLine.id, SpecialtyLine.title)
                                                        .where(SpecialtyLine.id.in_(ids[TeamKind.LINE])))})
    if ids[TeamKind.CARE_UNIT]:
        titles.update({i: t for i, t in session.execute(select(CareUnit.id, CareUnit.name)
                                                        .where(CareUnit.id.in_(ids[TeamKind.CARE_UNIT])))})
    if ids[TeamKind.NURSING_TEAM]:
        rows = session.execute(select(Establishment.id, Establishment.name)
                               .where(Establishment.id.in_(ids[TeamKind.NURSING_TEAM])))
        titles.update({i: f"Équipe soignante — {name}" for i, name in rows})
    return titles


def team_exists(session: Session, kind: TeamKind, team_id: uuid.UUID) -> bool:
    model = {TeamKind.LINE: SpecialtyLine, TeamKind.CARE_UNIT: CareUnit, TeamKind.NURSING_TEAM: Establishment}[kind]
    return session.get(model, team_id) is not None


def team_choices(session: Session) -> list[tuple[TeamKind, uuid.UUID, str]]:
    """The team mailboxes one may write to: the active specialty lines, the care units, the EHPAD nursing teams."""
    lines = session.execute(select(SpecialtyLine.id, SpecialtyLine.title).where(SpecialtyLine.active.is_(True))
                            .order_by(SpecialtyLine.title, SpecialtyLine.id))
    units = session.execute(select(CareUnit.id, CareUnit.name, Establishment.name)
                            .join(Establishment, Establishment.id == CareUnit.establishment_id)
                            .order_by(CareUnit.name, Establishment.name, CareUnit.id))
    ehpads = session.execute(select(Establishment.id, Establishment.name).where(
        Establishment.kind == "ehpad", Establishment.active.is_(True)).order_by(Establishment.name, Establishment.id)
    )
    return ([(TeamKind.LINE, i, t) for i, t in lines] + [(TeamKind.CARE_UNIT, i, f"{u} — {e}") for i, u, e in units]
            + [(TeamKind.NURSING_TEAM, i, f"Équipe soignante — {n}") for i, n in ehpads])


# --- People ----------------------------------------------------------------------------------------------------------


def users_by_ids(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, UserAccount]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(UserAccount).where(UserAccount.id.in_(wanted)))}


def search_professionals(session: Session, roles: Sequence[str], exclude: uuid.UUID, words: Sequence[str],
                         limit: int) -> list[UserAccount]:
    """Active accounts of these roles whose display name holds every word (case-insensitive), by name; never the
    caller. A territory has tens of thousands of accounts: the new message's picker asks for a few at a time."""
    q = select(UserAccount).where(
        UserAccount.status == "active", UserAccount.role.in_(list(roles)), UserAccount.id != exclude)
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(UserAccount.display_name.ilike(f"%{escaped}%", escape="\\"))
    return list(session.scalars(q.order_by(UserAccount.display_name, UserAccount.id).limit(limit)))


def professionals_by_id(session: Session, roles: Sequence[str], ids: Sequence[uuid.UUID]) -> list[UserAccount]:
    """The active accounts of these roles among ``ids``, by name (the picker's chosen recipients)."""
    if not ids:
        return []
    return list(session.scalars(select(UserAccount).where(
        UserAccount.status == "active", UserAccount.role.in_(list(roles)), UserAccount.id.in_(list(ids)))
        .order_by(UserAccount.display_name, UserAccount.id)))


# --- Participants ----------------------------------------------------------------------------------------------------


def participants(session: Session, thread_id: uuid.UUID, *, current_only: bool = True) -> list[MessageParticipant]:
    q = select(MessageParticipant).where(MessageParticipant.thread_id == thread_id)
    if current_only:
        q = q.where(MessageParticipant.removed_at.is_(None))
    return list(session.scalars(q.order_by(MessageParticipant.added_at, MessageParticipant.id)))


def participants_of(session: Session, thread_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[MessageParticipant]]:
    """The current participants of several threads, in one query."""
    out: dict[uuid.UUID, list[MessageParticipant]] = {t: [] for t in thread_ids}
    if not thread_ids:
        return out
    for p in session.scalars(select(MessageParticipant).where(
            MessageParticipant.thread_id.in_(list(thread_ids)), MessageParticipant.removed_at.is_(None))
            .order_by(MessageParticipant.added_at, MessageParticipant.id)):
        out[p.thread_id].append(p)
    return out


def membership(session: Session, thread_id: uuid.UUID, user_id: uuid.UUID,
               teams: Sequence[Team]) -> MessageParticipant | None:
    """The current participant row through which a person takes part: their own first, else one of their teams'."""
    who: list[ColumnElement[bool]] = [MessageParticipant.user_id == user_id]
    who += [and_(MessageParticipant.team_kind == kind.value, MessageParticipant.team_id == team_id)
            for kind, team_id in teams]
    rows = list(session.scalars(select(MessageParticipant).where(
        MessageParticipant.thread_id == thread_id, MessageParticipant.removed_at.is_(None), or_(*who))))
    rows.sort(key=lambda p: (p.user_id is None, p.added_at))
    return rows[0] if rows else None


def get_participant(session: Session, participant_id: uuid.UUID) -> MessageParticipant | None:
    return session.get(MessageParticipant, participant_id)


def touch_participants(session: Session, thread_id: uuid.UUID, at: dt.datetime) -> None:
    session.execute(update(MessageParticipant).where(MessageParticipant.thread_id == thread_id)
                    .values(last_message_at=at).execution_options(synchronize_session=False))


# --- Thread lists --------------------------------------------------------------------------------------------------


def _filtered(q: Select[uuid.UUID, dt.datetime], filters: Filters) -> Select[uuid.UUID, dt.datetime]:
    if filters.since is not None:
        q = q.where(MessageParticipant.last_message_at >= filters.since)
    if filters.until is not None:
        q = q.where(MessageParticipant.last_message_at < filters.until)
    needs_thread = filters.patient_id is not None or filters.subject_terms
    if needs_thread:
        q = q.join(MessageThread, MessageThread.id == MessageParticipant.thread_id)
        if filters.patient_id is not None:
            q = q.where(MessageThread.patient_id == filters.patient_id)
        for t in filters.subject_terms:
            q = q.where(MessageThread.subject_terms.contains(f" {t} ", autoescape=True))
    if filters.participant:
        other = MessageParticipant.__table__.alias("other")
        pattern = f"%{filters.participant.lower()}%"
        by_person = exists().where(other.c.thread_id == MessageParticipant.thread_id,
                                   other.c.user_id == UserAccount.id,
                                   func.lower(UserAccount.display_name).like(pattern))
        by_line = exists().where(other.c.thread_id == MessageParticipant.thread_id,
                                 other.c.team_id == SpecialtyLine.id, func.lower(SpecialtyLine.title).like(pattern))
        by_unit = exists().where(other.c.thread_id == MessageParticipant.thread_id,
                                 other.c.team_id == CareUnit.id, func.lower(CareUnit.name).like(pattern))
        by_team = exists().where(other.c.thread_id == MessageParticipant.thread_id,
                                 other.c.team_id == Establishment.id, func.lower(Establishment.name).like(pattern))
        q = q.where(or_(by_person, by_line, by_unit, by_team))
    return q


def thread_rows(session: Session, user_id: uuid.UUID, teams: Sequence[Team], *, limit: int, offset: int = 0,
                filters: Filters | None = None) -> list[ThreadRow]:
    """A page of the person's threads, most recent activity first, with how far they read each.

    One index range per source (the person, each of their teams), each cut at ``offset + limit``, merged: the cost
    follows the page, not the number of threads a person or a team has accumulated."""
    f = filters or Filters()
    cut = offset + limit
    sources: list[ColumnElement[bool]] = [MessageParticipant.user_id == user_id]
    sources += [and_(MessageParticipant.team_id == team_id, MessageParticipant.team_kind == kind.value)
                for kind, team_id in teams]
    branches = [
        _filtered(select(MessageParticipant.thread_id.label("thread_id"),
                         MessageParticipant.last_message_at.label("at"))
                  .where(source, MessageParticipant.removed_at.is_(None)), f)
        .order_by(MessageParticipant.last_message_at.desc()).limit(cut)
        for source in sources
    ]
    merged = union_all(*[b.subquery().select() for b in branches]).subquery("mine")
    latest = (select(merged.c.thread_id, func.max(merged.c.at).label("at")).group_by(merged.c.thread_id)
              .subquery("latest"))
    rows = session.execute(
        select(MessageThread, func.coalesce(MessageRead.last_read_seq, literal(0)))
        .join(latest, latest.c.thread_id == MessageThread.id)
        .outerjoin(MessageRead, and_(MessageRead.thread_id == MessageThread.id, MessageRead.user_id == user_id))
        .order_by(latest.c.at.desc(), MessageThread.id).limit(limit).offset(offset)
    )
    return [ThreadRow(thread, int(seq)) for thread, seq in rows]


def unread_total(session: Session, user_id: uuid.UUID, teams: Sequence[Team], cap: int = 200) -> int:
    """Unread messages over the person's ``cap`` most recent threads (the bell; beyond, older threads are read
    from their own list)."""
    rows = thread_rows(session, user_id, teams, limit=cap)
    return sum(max(0, r.thread.last_seq - r.last_read_seq) for r in rows)


# --- Messages -------------------------------------------------------------------------------------------------------


def messages(session: Session, thread_id: uuid.UUID, *, limit: int) -> list[Message]:
    """The thread's last ``limit`` messages, oldest first."""
    rows = list(session.scalars(select(Message).where(Message.thread_id == thread_id)
                                .order_by(Message.seq.desc()).limit(limit)))
    rows.reverse()
    return rows


def first_message(session: Session, thread_id: uuid.UUID) -> Message | None:
    return session.scalars(select(Message).where(Message.thread_id == thread_id).order_by(Message.seq).limit(1)).first()


def get_message(session: Session, message_id: uuid.UUID) -> Message | None:
    return session.get(Message, message_id)


def revisions(session: Session, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[MessageRevision]]:
    out: dict[uuid.UUID, list[MessageRevision]] = {}
    if not message_ids:
        return out
    for rev in session.scalars(select(MessageRevision).where(MessageRevision.message_id.in_(list(message_ids)))
                               .order_by(MessageRevision.replaced_at, MessageRevision.id)):
        out.setdefault(rev.message_id, []).append(rev)
    return out


def attachments(session: Session, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[MessageAttachment]]:
    out: dict[uuid.UUID, list[MessageAttachment]] = {}
    if not message_ids:
        return out
    for a in session.scalars(select(MessageAttachment).where(MessageAttachment.message_id.in_(list(message_ids)))
                             .order_by(MessageAttachment.created_at, MessageAttachment.id)):
        out.setdefault(a.message_id, []).append(a)
    return out


def count_attachments(session: Session, message_id: uuid.UUID) -> int:
    return int(session.scalar(select(func.count()).select_from(MessageAttachment)
                              .where(MessageAttachment.message_id == message_id)) or 0)


def get_attachment(session: Session, attachment_id: uuid.UUID) -> MessageAttachment | None:
    return session.get(MessageAttachment, attachment_id)


def reads(session: Session, thread_id: uuid.UUID) -> list[MessageRead]:
    return list(session.scalars(select(MessageRead).where(MessageRead.thread_id == thread_id)
                                .order_by(MessageRead.read_at, MessageRead.user_id)))


def read_mark(session: Session, thread_id: uuid.UUID, user_id: uuid.UUID) -> MessageRead | None:
    return session.get(MessageRead, (thread_id, user_id))


def add(session: Session, *rows: object) -> None:
    session.add_all(rows)
    session.flush()
