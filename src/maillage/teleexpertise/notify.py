"""Notifications of tele-expertise: a row per recipient and event, shown in the application as a badge and a list,
and by email when the platform has a mail server (``MAILLAGE_SMTP_ENABLED``).

They carry ids and a kind only (no health data): the page of the request says the rest, to whoever may read it.
The email is sent by a worker job queued in the event's transaction, one per notice, and says only that something
is new on a request, with a link to its page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from maillage.config import Settings, get_settings
from maillage.integrations.mail import Mailer
from maillage.kit.clock import now
from maillage.models.teleexpertise import TeleexpertiseNotification
from maillage.outbox import service as outbox
from maillage.security.actor import Actor
from maillage.teleexpertise import repository as repo
from maillage.worker.queue import enqueue_job

EMAIL_JOB = "teleexpertise.email_notification"
REQUEST_PAGE = "/teleexpertise/demandes/{request_id}"

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
    rows = [TeleexpertiseNotification(user_id=u, request_id=request_id, kind=kind, created_at=at) for u in recipients]
    session.add_all(rows)
    session.flush()
    if rows and outbox.enabled():
        for row in rows:
            enqueue_job(session, EMAIL_JOB, notification_id=str(row.id))
    return len(recipients)


def email_key(notification_id: uuid.UUID) -> str:
    return f"teleexpertise_notification:{notification_id}"


def email_text(kind: str, link: str) -> tuple[str, str]:
    """Subject and body of the email for a notice: the kind of news and a link, nothing about the patient."""
    label = KIND_LABELS[kind]
    body = (
        "Bonjour,\n\n"
        f"{label}.\n"
        "Une demande de téléexpertise vous concernant a du nouveau sur Maillage. Pour la consulter, "
        "connectez-vous :\n"
        f"{link}\n\n"
        "Ce message ne contient aucune donnée de santé : la demande se lit sur Maillage, après connexion.\n"
        "Message automatique, merci de ne pas y répondre.\n"
    )
    return f"Maillage : {label}", body


def email_notification(session: Session, notification_id: uuid.UUID, mailer: Mailer | None,
                       settings: Settings | None = None) -> outbox.Outcome | None:
    """Email one notice to its recipient, once (the worker job's body); None if the notice no longer exists."""
    notice = session.get(TeleexpertiseNotification, notification_id)
    if notice is None:
        return None
    s = settings or get_settings()
    link = s.base_url.rstrip("/") + REQUEST_PAGE.format(request_id=notice.request_id)
    subject, body = email_text(notice.kind, link)
    return outbox.deliver_once(session, key=email_key(notice.id), user_id=notice.user_id, subject=subject,
                               text=body, mailer=mailer, settings=s)


def unread_count(session: Session, actor: Actor) -> int:
    return repo.unread_notifications(session, actor.user_id)


def recent(session: Session, actor: Actor, limit: int = 50) -> list[TeleexpertiseNotification]:
    return repo.recent_notifications(session, actor.user_id, limit)


def mark_read(session: Session, actor: Actor, request_id: uuid.UUID) -> None:
    """Opening a request marks the actor's notices about it as read."""
    repo.mark_notifications_read(session, actor.user_id, request_id, now())
