"""Every query of the MSSanté exchange."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.models.directory import Professional
from maillage.models.mssante import MssanteMailbox, MssanteReceived, MssanteSend


def add(session: Session, row: object) -> None:
    session.add(row)
    session.flush()


def send(session: Session, send_id: uuid.UUID) -> MssanteSend | None:
    return session.get(MssanteSend, send_id)


def sends_for_source(session: Session, source_type: str, source_id: str, limit: int = 20) -> list[MssanteSend]:
    return list(session.scalars(
        select(MssanteSend).where(MssanteSend.source_type == source_type, MssanteSend.source_id == source_id)
        .order_by(MssanteSend.created_at.desc()).limit(limit)))


def mailbox(session: Session, name: str, *, lock: bool = False) -> MssanteMailbox | None:
    query = select(MssanteMailbox).where(MssanteMailbox.name == name)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def received(session: Session, received_id: uuid.UUID) -> MssanteReceived | None:
    return session.get(MssanteReceived, received_id)


def already_received(session: Session, *, message_id: str, mailbox: str, uidvalidity: int, uid: int) -> bool:
    return session.scalar(select(MssanteReceived.id).where(or_(
        MssanteReceived.message_id == message_id,
        (MssanteReceived.mailbox == mailbox) & (MssanteReceived.uidvalidity == uidvalidity)
        & (MssanteReceived.uid == uid),
    )).limit(1)) is not None


def inbox(session: Session, *, statuses: tuple[str, ...], limit: int, offset: int) -> list[MssanteReceived]:
    """Oldest first: the reception inbox is a worklist."""
    return list(session.scalars(
        select(MssanteReceived).where(MssanteReceived.status.in_(statuses))
        .order_by(MssanteReceived.received_at, MssanteReceived.id).limit(limit).offset(offset)))


def user_by_username(session: Session, username: str) -> UserAccount | None:
    return session.scalar(select(UserAccount).where(UserAccount.username == username))


def professionals_with_mssante(session: Session, limit: int = 200) -> list[Professional]:
    return list(session.scalars(
        select(Professional).where(Professional.mssante.is_not(None), Professional.active.is_(True))
        .order_by(Professional.last_name, Professional.first_name).limit(limit)))


def professional(session: Session, professional_id: uuid.UUID) -> Professional | None:
    return session.get(Professional, professional_id)


def user_name(session: Session, user_id: uuid.UUID) -> str:
    user = session.get(UserAccount, user_id)
    return user.display_name if user else "un professionnel"
