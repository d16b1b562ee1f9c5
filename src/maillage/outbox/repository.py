"""Queries of the mail ledger."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.models.outbox import MailDelivery


def delivery(session: Session, key: str) -> MailDelivery | None:
    return session.scalar(select(MailDelivery).where(MailDelivery.key == key))


def add(session: Session, row: MailDelivery) -> MailDelivery:
    session.add(row)
    session.flush()
    return row


def recipient(session: Session, user_id: uuid.UUID) -> UserAccount | None:
    return session.get(UserAccount, user_id)
