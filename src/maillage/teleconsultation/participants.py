"""The third participant of a consultation: an interpreter, a family member, a nurse or a second specialist, invited
live by the practitioner, by a one-time link or by account.

- **By link**: 256 random bits shown once to the practitioner (only the SHA-256 stored), for this appointment only;
  it opens once (a conditional UPDATE), within the patient's link window (``rules.link_refusal``, the same refusals
  as the patient's link), and starts a guest session (a second secret in an HttpOnly cookie, its hash stored).
- **By account**: a professional with an active account of the directory; they find the invitation on their
  teleconsultation page and enter with their session (second factor passed).

Either way the guest first consents (their presence is recorded), then the patient is asked, live in the room, and
accepts or refuses; only once the patient's acceptance is recorded is the guest admitted (their media relayed,
``rules.guest_may_exchange``). One third participant per consultation (``rules.MAX_GUESTS``); the practitioner can
withdraw an invitation. Every step is audited (a link guest's actor role is ``guest``, its id the invitation's);
every refused attempt is audited after the rollback. The guest's pages show no patient data: the date, the
practitioner and the capacity they were invited in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.exceptions import InvalidTransition, NotFound, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.http import after_rollback
from maillage.kit.ids import as_uuid
from maillage.kit.tokens import hash_token, new_token
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationGuest
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose
from maillage.security.roles import Role
from maillage.teleconsultation import booking, patient_link, relay, rules
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Capacity, GuestState, LinkRefusal, Status

GUEST_ROLE = "guest"
LINK_PREFIX = "mlg_tg_"
TOKEN_MAX = 100
NO_RUN = "Ce professionnel ne mène pas de téléconsultation : invitez-le par un lien."
NO_ACCOUNT = "Ce professionnel n'a pas de compte actif : invitez-le par un lien."


@dataclass(frozen=True)
class GuestSession:
    guest: TeleconsultationGuest
    appointment: TeleconsultationAppointment

    @property
    def state(self) -> GuestState:
        return state_of(self.guest)


def state_of(guest: TeleconsultationGuest) -> GuestState:
    return rules.guest_state(consent_at=guest.consent_at, patient_decision=guest.patient_decision,
                             revoked=guest.revoked_at is not None)


def _audit(session: Session, *, action: str, appt: TeleconsultationAppointment, guest: TeleconsultationGuest,
           outcome: str = "success", context: AuditContext | None = None) -> None:
    record(session, action=action, object_type=booking.OBJECT_TYPE, object_id=str(appt.id),
           patient_id=str(appt.patient_id), actor_id=str(guest.user_id or guest.id), actor_role=GUEST_ROLE,
           purpose=Purpose.TELECONSULTATION.value, outcome=outcome,
           details={"guest": str(guest.id), "capacity": guest.capacity}, context=context)


class GuestRefused(Exception):
    def __init__(self, refusal: LinkRefusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


def _refuse(session: Session, refusal: LinkRefusal, *, action: str, appt: TeleconsultationAppointment | None,
            guest_id: uuid.UUID | None, context: AuditContext | None) -> GuestRefused:
    appt_id, patient_id = (appt.id, appt.patient_id) if appt else (None, None)

    def write(s: Session) -> None:
        record(s, action=action, object_type=booking.OBJECT_TYPE, object_id=str(appt_id) if appt_id else None,
               patient_id=str(patient_id) if patient_id else None, actor_id=str(guest_id) if guest_id else None,
               actor_role=GUEST_ROLE, purpose=Purpose.TELECONSULTATION.value, outcome="denied",
               details={"refusal": refusal.value}, context=context)

    after_rollback(session, write)
    return GuestRefused(refusal)


def _announce(session: Session, appt: TeleconsultationAppointment, guest: TeleconsultationGuest) -> None:
    """Tell the room the third participant's new state (once the transaction commits)."""
    relay.publish_on_commit(session, booking.room_topic(appt.id), message(guest))


def message(guest: TeleconsultationGuest) -> dict[str, object]:
    """The room's ``third-party`` message for a guest."""
    state = state_of(guest)
    return {"type": "third-party", "guest": str(guest.id), "state": state.value,
            "capacity": Capacity(guest.capacity).label, "text": state.label}


# --- The practitioner invites ---------------------------------------------------------------------------------------


def _invitable(session: Session, actor: Actor, appointment_id: uuid.UUID | str, capacity: str,
               context: AuditContext | None) -> tuple[TeleconsultationAppointment, Capacity]:
    appt = booking.load(session, actor, appointment_id, action="invite", context=context)
    if appt.practitioner_id != actor.user_id:
        raise InvalidTransition("Seul le praticien de la consultation peut inviter un tiers.")
    if capacity not in {c.value for c in Capacity}:
        raise ValidationFailed("Choisissez à quel titre le tiers participe.",
                               details=[{"field": "capacity", "message": "Qualité inconnue."}])
    live = [g for g in repo.guests_of(session, appt.id) if state_of(g) not in (GuestState.REVOKED, GuestState.REFUSED)]
    rules.check_invite(Status(appt.status), len(live))
    return appt, Capacity(capacity)


def invite_by_link(session: Session, actor: Actor, appointment_id: uuid.UUID | str, capacity: str,
                   context: AuditContext | None = None) -> tuple[TeleconsultationGuest, str]:
    """Invite a third participant by a one-time link: the invitation and the link's token (shown once)."""
    appt, chosen = _invitable(session, actor, appointment_id, capacity, context)
    token = new_token(LINK_PREFIX)
    guest = TeleconsultationGuest(appointment_id=appt.id, capacity=chosen.value, token_hash=hash_token(token),
                                  created_by=actor.user_id, created_at=now())
    session.add(guest)
    session.flush()
    _announce(session, appt, guest)
    return guest, token


def invite_by_account(session: Session, actor: Actor, appointment_id: uuid.UUID | str, capacity: str,
                      username: str, context: AuditContext | None = None) -> TeleconsultationGuest:
    """Invite a professional of the directory who has an active account (by their user name)."""
    appt, chosen = _invitable(session, actor, appointment_id, capacity, context)
    user = repo.active_user_by_username(session, username.strip())
    if user is None or user.id == appt.practitioner_id:
        raise ValidationFailed(NO_ACCOUNT, details=[{"field": "username", "message": "Compte introuvable."}])
    if not role_allows(Role(user.role), Permission.TELECONSULTATION_RUN):
        raise ValidationFailed(NO_RUN, details=[{"field": "username", "message": "Compte sans téléconsultation."}])
    guest = TeleconsultationGuest(appointment_id=appt.id, capacity=chosen.value, user_id=user.id,
                                  created_by=actor.user_id, created_at=now())
    session.add(guest)
    session.flush()
    _announce(session, appt, guest)
    return guest


def withdraw(session: Session, actor: Actor, appointment_id: uuid.UUID | str, guest_id: uuid.UUID | str,
             context: AuditContext | None = None) -> None:
    appt = booking.load(session, actor, appointment_id, action="uninvite", context=context)
    guest = repo.guest(session, as_uuid(guest_id))
    if guest is None or guest.appointment_id != appt.id or appt.practitioner_id != actor.user_id:
        raise NotFound("Invitation introuvable.")
    if guest.revoked_at is None:
        guest.revoked_at = now()
        session.flush()
        _announce(session, appt, guest)


def invitations(session: Session, appt: TeleconsultationAppointment) -> list[tuple[TeleconsultationGuest, GuestState]]:
    """The appointment's invitations and their states (the caller has loaded the appointment through ``booking``)."""
    return [(g, state_of(g)) for g in repo.guests_of(session, appt.id)]


# --- The guest by link ----------------------------------------------------------------------------------------------


def open_link(session: Session, token: str, context: AuditContext | None = None) -> tuple[GuestSession, str]:
    """Open the guest's link (once): the invitation and the guest session's secret for the cookie."""
    guest = repo.guest_by_token(session, hash_token(token)) if 0 < len(token) <= TOKEN_MAX else None
    if guest is None:
        raise _refuse(session, LinkRefusal.UNKNOWN, action="open", appt=None, guest_id=None, context=context)
    appt = repo.appointment(session, guest.appointment_id)
    if appt is None:  # pragma: no cover - the invitation is deleted with its appointment
        raise _refuse(session, LinkRefusal.UNKNOWN, action="open", appt=None, guest_id=guest.id, context=context)
    at = now()
    refusal = rules.link_refusal(at=at, starts_at=appt.starts_at, ends_at=appt.ends_at, status=Status(appt.status),
                                 opened=guest.opened_at is not None, revoked=guest.revoked_at is not None)
    if refusal is None and appt.status == Status.DONE:
        refusal = LinkRefusal.CLOSED
    if refusal is not None:
        raise _refuse(session, refusal, action="open", appt=appt, guest_id=guest.id, context=context)
    secret = new_token()
    if not repo.open_guest(session, guest, session_hash=hash_token(secret), at=at):
        raise _refuse(session, LinkRefusal.USED, action="open", appt=appt, guest_id=guest.id, context=context)
    session.refresh(guest)
    _audit(session, action="open", appt=appt, guest=guest, context=context)
    return GuestSession(guest, appt), secret


def _checked(session: Session, guest: TeleconsultationGuest | None, appointment_id: uuid.UUID | None, *,
             action: str, context: AuditContext | None) -> GuestSession:
    if guest is None or guest.revoked_at is not None:
        raise _refuse(session, LinkRefusal.UNKNOWN, action=action, appt=None,
                      guest_id=guest.id if guest else None, context=context)
    appt = repo.appointment(session, guest.appointment_id)
    if appt is None:  # pragma: no cover - the invitation is deleted with its appointment
        raise _refuse(session, LinkRefusal.UNKNOWN, action=action, appt=None, guest_id=guest.id, context=context)
    if appointment_id is not None and appointment_id != appt.id:
        raise _refuse(session, LinkRefusal.OTHER_APPOINTMENT, action=action, appt=None, guest_id=guest.id,
                      context=context)
    refusal = rules.session_refusal(at=now(), starts_at=appt.starts_at, ends_at=appt.ends_at,
                                    status=Status(appt.status))
    if refusal is None and appt.status == Status.DONE:
        refusal = LinkRefusal.CLOSED
    if refusal is not None:
        raise _refuse(session, refusal, action=action, appt=appt, guest_id=guest.id, context=context)
    return GuestSession(guest, appt)


def resolve(session: Session, secret: str, appointment_id: uuid.UUID | None, *, action: str,
            context: AuditContext | None = None) -> GuestSession:
    """The guest session behind the cookie, for ``appointment_id`` (None: its own), within the window."""
    guest = repo.guest_by_session(session, hash_token(secret)) if 0 < len(secret) <= TOKEN_MAX else None
    return _checked(session, guest, appointment_id, action=action, context=context)


def resolve_account(session: Session, actor: Actor, appointment_id: uuid.UUID, *, action: str,
                    context: AuditContext | None = None) -> GuestSession:
    """The invitation of a professional by account to ``appointment_id``, within the window."""
    guest = repo.guest_of_user(session, appointment_id, actor.user_id)
    if guest is None:
        raise _refuse(session, LinkRefusal.OTHER_APPOINTMENT, action=action, appt=None, guest_id=None,
                      context=context)
    return _checked(session, guest, appointment_id, action=action, context=context)


def consent(session: Session, gs: GuestSession, context: AuditContext | None = None) -> GuestSession:
    """The guest consents (their presence is recorded); the patient is then asked, live."""
    if gs.guest.consent_at is None:
        gs.guest.consent_at = now()
        session.flush()
        _announce(session, gs.appointment, gs.guest)
    _audit(session, action="consent", appt=gs.appointment, guest=gs.guest, context=context)
    return gs


def read(session: Session, gs: GuestSession, context: AuditContext | None = None) -> GuestSession:
    _audit(session, action="read", appt=gs.appointment, guest=gs.guest, context=context)
    return gs


def join(session: Session, gs: GuestSession, context: AuditContext | None = None) -> GuestSession:
    """The guest enters the room (audited) once they have consented and unless the patient refused them."""
    if gs.guest.consent_at is None:
        raise _refuse(session, LinkRefusal.NO_CONSENT, action="join", appt=gs.appointment, guest_id=gs.guest.id,
                      context=context)
    if gs.state is GuestState.REFUSED:
        raise _refuse(session, LinkRefusal.CLOSED, action="join", appt=gs.appointment, guest_id=gs.guest.id,
                      context=context)
    _audit(session, action="join", appt=gs.appointment, guest=gs.guest, context=context)
    return gs


def my_invitations(session: Session, actor: Actor) -> list[tuple[TeleconsultationGuest, TeleconsultationAppointment]]:
    """The consultations a professional is invited to (by account), still to hold."""
    out = []
    for guest in repo.invitations_of_user(session, actor.user_id, now() - rules.CLOSES_AFTER):
        appt = repo.appointment(session, guest.appointment_id)
        if appt is not None:
            out.append((guest, appt))
    return out


# --- The patient decides --------------------------------------------------------------------------------------------


def pending(session: Session, appt: TeleconsultationAppointment) -> list[TeleconsultationGuest]:
    """The guests who consented and wait for the patient's answer."""
    return [g for g in repo.guests_of(session, appt.id) if state_of(g) is GuestState.ASKING]


def patient_decides(session: Session, secret: str, guest_id: str, *, accept: bool,
                    context: AuditContext | None = None) -> TeleconsultationGuest:
    """The patient (by their link session) accepts or refuses a third participant who consented; recorded once."""
    ps = patient_link.resolve(session, secret, None, action="third_party", context=context)
    try:
        wanted = uuid.UUID(guest_id)
    except ValueError:
        raise NotFound("Invitation introuvable.") from None
    guest = repo.guest(session, wanted)
    if guest is None or guest.appointment_id != ps.appointment.id or state_of(guest) is not GuestState.ASKING:
        raise NotFound("Invitation introuvable.")
    at = now()
    if not repo.decide_guest(session, guest, decision="accepted" if accept else "refused", at=at):
        raise InvalidTransition("Vous avez déjà répondu pour cette personne.")
    session.refresh(guest)
    patient_link.audit_patient(session, action="third_party", appt=ps.appointment, link_id=ps.link.id,
                               context=context, details={"guest": str(guest.id),
                                                         "decision": guest.patient_decision})
    _announce(session, ps.appointment, guest)
    return guest
