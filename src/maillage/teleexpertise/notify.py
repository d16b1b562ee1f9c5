"""In-app notifications of tele-expertise: a row per recipient and event, shown as a badge and a list.

They carry ids and a kind only (no health data): the page of the request says the rest, to whoever may read it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from maillage.auth.actor import Actor
from maillage.kit.clock import now
from maillage.models.teleexpertise import TeleexpertiseNotification
from maillage.teleexpertise import repository as repo

KIND_LABELS = {
    "submitted": "Nouvelle demande qui vous est adressée",
    "question": "Le spécialiste demande un complément",
    "reply": "Le requérant a répondu à votre question",
    "answered": "L'avis est rendu",
    "declined": "La demande a été refusée",
    "reminder": "Échéance proche : avis attendu",
    "escalation": "Échéance dépassée : demande en retard",
}


def notify(session: Session, user_ids: Iterable[uuid.UUID | None], request_id: uuid.UUID, kind: str) -> int:
    """One notice per distinct recipient (None ignored)."""
    if kind not in KIND_LABELS:
        raise ValueError(f"unknown notification kind {kind!r}")
    at = now()
    recipients = sorted({u for u in user_ids if u is not None})
    session.add_all([TeleexpertiseNotification(user_id=u, request_id=request_id, kind=kind, created_at=at)
                     for u in recipients])
    session.flush()
    return len(recipients)


def unread_count(session: Session, actor: Actor) -> int:
    return repo.unread_notifications(session, actor.user_id)


def recent(session: Session, actor: Actor, limit: int = 50) -> list[TeleexpertiseNotification]:
    return repo.recent_notifications(session, actor.user_id, limit)


def mark_read(session: Session, actor: Actor, request_id: uuid.UUID) -> None:
    """Opening a request marks the actor's notices about it as read."""
    repo.mark_notifications_read(session, actor.user_id, request_id, now())
