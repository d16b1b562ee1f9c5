"""The patient's way in: open the link once, record the consent, wait; the patient's side of the room.

The link's token (256 random bits) is compared by its SHA-256 only. Opening it marks it used (a conditional UPDATE:
of two concurrent openings, one wins) and starts a link session: a second random secret, set as an HttpOnly cookie
scoped to the patient's pages, whose hash is kept on the link. That session opens the pages and the room of that
appointment only, within the link's window (``rules.link_window``). Every opening, consent and entry is audited
with the actor role ``patient``; every refused attempt is audited (outcome ``denied``) in a transaction of its own,
and answers a French page that opens nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.exceptions import ValidationFailed
from maillage.kit.clock import now
from maillage.kit.http import after_rollback
from maillage.kit.tokens import hash_token, new_token
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationLink
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose
from maillage.teleconsultation import booking, rules
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Action, LinkRefusal, Status

PATIENT_ROLE = "patient"
TOKEN_MAX = 100


class LinkRefused(Exception):
    """The link or link session opens nothing; ``refusal.label`` is the French explanation."""

    def __init__(self, refusal: LinkRefusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@dataclass(frozen=True)
class PatientSession:
    link: TeleconsultationLink
    appointment: TeleconsultationAppointment


def audit_patient(session: Session, *, action: str, appt: TeleconsultationAppointment | None, link_id: uuid.UUID | None,
           outcome: str = "success", details: dict[str, str | int | bool | None] | None = None,
           context: AuditContext | None = None) -> None:
    record(session, action=action, object_type=booking.OBJECT_TYPE, object_id=str(appt.id) if appt else None,
           patient_id=str(appt.patient_id) if appt else None, actor_id=str(link_id) if link_id else None,
           actor_role=PATIENT_ROLE, purpose=Purpose.TELECONSULTATION.value, outcome=outcome, details=details,
           context=context)


def refuse(session: Session, refusal: LinkRefusal, *, action: str, appt: TeleconsultationAppointment | None,
           link_id: uuid.UUID | None, context: AuditContext | None) -> LinkRefused:
    """Audit the refused attempt after the rollback, and the exception to raise."""
    appt_id, patient_id = (appt.id, appt.patient_id) if appt else (None, None)

    def write(s: Session) -> None:
        record(s, action=action, object_type=booking.OBJECT_TYPE, object_id=str(appt_id) if appt_id else None,
               patient_id=str(patient_id) if patient_id else None, actor_id=str(link_id) if link_id else None,
               actor_role=PATIENT_ROLE, purpose=Purpose.TELECONSULTATION.value, outcome="denied",
               details={"refusal": refusal.value}, context=context)

    after_rollback(session, write)
    return LinkRefused(refusal)


def open_link(session: Session, token: str, context: AuditContext | None = None) -> tuple[PatientSession, str]:
    """Open the patient's link (once): the appointment and the link session's secret for the cookie."""
    link = repo.link_by_token(session, hash_token(token)) if 0 < len(token) <= TOKEN_MAX else None
    if link is None:
        raise refuse(session, LinkRefusal.UNKNOWN, action="open", appt=None, link_id=None, context=context)
    appt = repo.appointment(session, link.appointment_id)
    if appt is None:  # pragma: no cover - the link is deleted with its appointment
        raise refuse(session, LinkRefusal.UNKNOWN, action="open", appt=None, link_id=link.id, context=context)
    at = now()
    refusal = rules.link_refusal(at=at, starts_at=appt.starts_at, ends_at=appt.ends_at, status=Status(appt.status),
                                 opened=link.opened_at is not None, revoked=link.revoked_at is not None)
    if refusal is None and appt.status == Status.DONE:
        refusal = LinkRefusal.CLOSED
    if refusal is not None:
        raise refuse(session, refusal, action="open", appt=appt, link_id=link.id, context=context)
    secret = new_token()
    if not repo.open_link(session, link, session_hash=hash_token(secret), at=at):
        raise refuse(session, LinkRefusal.USED, action="open", appt=appt, link_id=link.id, context=context)
    session.refresh(link)
    audit_patient(session, action="open", appt=appt, link_id=link.id, context=context)
    return PatientSession(link, appt), secret


def resolve(session: Session, secret: str, appointment_id: uuid.UUID | None, *, action: str,
            context: AuditContext | None = None) -> PatientSession:
    """The link session behind the cookie, for ``appointment_id`` (None: the session's own appointment), within
    the link's window; else LinkRefused (audited)."""
    link = repo.link_by_session(session, hash_token(secret)) if 0 < len(secret) <= TOKEN_MAX else None
    if link is None or link.revoked_at is not None:
        raise refuse(session, LinkRefusal.UNKNOWN, action=action, appt=None,
                     link_id=link.id if link else None, context=context)
    appt = repo.appointment(session, link.appointment_id)
    if appt is None:  # pragma: no cover - the link is deleted with its appointment
        raise refuse(session, LinkRefusal.UNKNOWN, action=action, appt=None, link_id=link.id, context=context)
    if appointment_id is not None and appointment_id != appt.id:
        raise refuse(session, LinkRefusal.OTHER_APPOINTMENT, action=action, appt=None, link_id=link.id,
                     context=context)
    refusal = rules.session_refusal(at=now(), starts_at=appt.starts_at, ends_at=appt.ends_at,
                                    status=Status(appt.status))
    if refusal is not None:
        raise refuse(session, refusal, action=action, appt=appt, link_id=link.id, context=context)
    return PatientSession(link, appt)


def consent(session: Session, secret: str, *, teleconsultation: bool, third_party: bool,
            context: AuditContext | None = None) -> PatientSession:
    """Record the patient's consent to the teleconsultation (and whether a third person is present): they enter
    the waiting room. Without consent to the teleconsultation nothing opens."""
    ps = resolve(session, secret, None, action="consent", context=context)
    appt = ps.appointment
    if not teleconsultation:
        raise ValidationFailed("Pour entrer en salle d'attente, acceptez la téléconsultation.",
                               details=[{"field": "consent", "message": "Consentement requis."}])
    if Status(appt.status) in (Status.BOOKED, Status.WAITING):
        values = {"consent_at": appt.consent_at or now(), "third_party_present": third_party,
                  "arrived_at": appt.arrived_at or now()}
        current = Status(appt.status)
        target = rules.next_status(current, Action.ARRIVE)
        if repo.transition(session, appt, expect_status=current.value,
                           values={"status": target.value, "updated_at": now(), **values}):
            booking.announce(session, appt)
    audit_patient(session, action="consent", appt=appt, link_id=ps.link.id, context=context,
           details={"third_party": "yes" if third_party else "no"})
    return ps
