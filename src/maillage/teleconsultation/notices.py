"""Notices of teleconsultation: a row per appointment, recipient and kind (reminders, a rescheduling, the signed
report, a follow-up ordered), shown in the application, and emailed through the outbox when the platform sends mail.

They carry ids and a kind only (no health data): the appointment's page says the rest, to whoever may read it. The
email says which kind of news there is and gives the link, nothing about the patient; it is sent by a worker job
queued in the event's transaction, once per notice (the outbox keys it by the notice)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maillage.config import Settings, get_settings
from maillage.integrations.mail import Mailer
from maillage.kit.clock import now
from maillage.models.teleconsultation import TeleconsultationEvent, TeleconsultationNotice
from maillage.outbox import service as outbox
from maillage.security.actor import Actor
from maillage.teleconsultation import repository as repo
from maillage.worker.queue import enqueue_job

EMAIL_JOB = "teleconsultation.email_notice"
APPOINTMENT_PAGE = "/teleconsultation/rdv/{appointment_id}"

KIND_LABELS = {
    "reminder_day": "Rappel : une téléconsultation a lieu demain",
    "reminder_hour": "Rappel : une téléconsultation commence dans moins d'une heure",
    "rescheduled": "Une téléconsultation a été reportée",
    "report_sent": "Le compte rendu d'une téléconsultation vous est adressé",
    "follow_up": "Une suite est demandée après une téléconsultation",
    "booked_for_you": "La coordination a réservé une téléconsultation pour vous",
}

EVENT_LABELS = {
    "booked": "Rendez-vous réservé",
    "booked_by_coordinator": "Rendez-vous réservé par la coordination de la ligne",
    "rescheduled": "Reporté à un autre créneau",
    "rescheduled_from": "Nouveau créneau d'un rendez-vous reporté",
    "reminder_day": "Rappel de la veille envoyé",
    "reminder_hour": "Rappel de l'heure précédente envoyé",
    "report_sent": "Compte rendu adressé au médecin traitant et au demandeur",
    "follow_up": "Suite demandée par le praticien",
}


def notify(session: Session, user_ids: Iterable[uuid.UUID | None], appointment_id: uuid.UUID, kind: str) -> int:
    """One notice per distinct recipient (None ignored) and at most one per appointment, recipient and kind: a
    second call adds nothing (the unique constraint decides between two concurrent workers)."""
    if kind not in KIND_LABELS:
        raise ValueError(f"unknown notice kind {kind!r}")
    added = 0
    for user_id in sorted({u for u in user_ids if u is not None}):
        if repo.notice(session, appointment_id, user_id, kind) is not None:
            continue
        row = TeleconsultationNotice(user_id=user_id, appointment_id=appointment_id, kind=kind, created_at=now())
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            continue
        added += 1
        if outbox.enabled():
            enqueue_job(session, EMAIL_JOB, notice_id=str(row.id))
    return added


def event(
    session: Session,
    appointment_id: uuid.UUID,
    kind: str,
    actor_user_id: uuid.UUID | None = None,
    other_appointment_id: uuid.UUID | None = None,
) -> None:
    """A line of the appointment's timeline."""
    if kind not in EVENT_LABELS:
        raise ValueError(f"unknown event kind {kind!r}")
    session.add(
        TeleconsultationEvent(
            appointment_id=appointment_id,
            kind=kind,
            actor_user_id=actor_user_id,
            other_appointment_id=other_appointment_id,
            at=now(),
        )
    )
    session.flush()


def email_key(notice_id: uuid.UUID) -> str:
    return f"teleconsultation_notice:{notice_id}"


def email_text(kind: str, link: str) -> tuple[str, str]:
    """Subject and body of a notice's email: the kind of news and a link, nothing about the patient."""
    label = KIND_LABELS[kind]
    body = (
        "Bonjour,\n\n"
        f"{label}.\n"
        "Pour en voir le détail, connectez-vous à Maillage :\n"
        f"{link}\n\n"
        "Ce message ne contient aucune donnée de santé : le rendez-vous se lit sur Maillage, après connexion.\n"
        "Message automatique, merci de ne pas y répondre.\n"
    )
    return f"Maillage : {label}", body


def email_notice(
    session: Session, notice_id: uuid.UUID, mailer: Mailer | None, settings: Settings | None = None
) -> outbox.Outcome | None:
    """Email one notice to its recipient, once (the worker job's body); None if the notice no longer exists."""
    row = session.get(TeleconsultationNotice, notice_id)
    if row is None:
        return None
    s = settings or get_settings()
    link = s.base_url.rstrip("/") + APPOINTMENT_PAGE.format(appointment_id=row.appointment_id)
    subject, body = email_text(row.kind, link)
    return outbox.deliver_once(
        session, key=email_key(row.id), user_id=row.user_id, subject=subject, text=body, mailer=mailer, settings=s
    )


def recent(session: Session, actor: Actor, limit: int = 20) -> list[TeleconsultationNotice]:
    return repo.notices_of(session, actor.user_id, limit)


def unread_count(session: Session, actor: Actor) -> int:
    return repo.unread_notices(session, actor.user_id)


def mark_read(session: Session, actor: Actor, appointment_id: uuid.UUID) -> None:
    repo.mark_notices_read(session, actor.user_id, appointment_id, now())
