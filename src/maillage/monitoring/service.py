"""Use cases of telesurveillance: operator teams, devices, enrolment (pause, resume, end), triage of alerts
(acknowledge, escalate, acknowledge all green), the scheduled non-transmission check, adherence and the
monthly operator forfait.

Patient data is reached only through ``authz.service.access_patient`` (purpose ``monitoring``), which audits
in the same transaction; lists are scoped by ``accessible_patients`` and audited with their count.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.auth import tokens
from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import PARIS, now
from maillage.kit.logging import get_logger
from maillage.kit.months import add_months, month_end, month_start
from maillage.models.monitoring import (
    MonitoringAlert,
    MonitoringAlertEvent,
    MonitoringDevice,
    MonitoringDeviceAssignment,
    MonitoringEnrolment,
    MonitoringForfait,
    MonitoringGreenReceipt,
    MonitoringNotification,
    MonitoringPause,
    MonitoringRuleState,
    MonitoringTeam,
    MonitoringTeamMember,
)
from maillage.monitoring import live
from maillage.monitoring import repository as repo
from maillage.monitoring.alerts import close_alert, plan_events, rules_of
from maillage.monitoring.rules.adherence import (
    CHECKPOINT_DAYS,
    adherence,
    adherence_ok,
    expected_transmissions,
    received_periods,
)
from maillage.monitoring.rules.engine import PatientState, acknowledge_condition, check_silence, silence_due_at
from maillage.monitoring.rules.enrolment import END_REASONS, PAUSE_REASONS, prescription_end, transition
from maillage.monitoring.rules.forfaits import (
    EnhancedPeriod,
    ForfaitLevel,
    check_enhanced_period,
    forfait_amount_cents,
    forfait_due,
    forfait_for_month,
    monitored_days,
)
from maillage.monitoring.rules.overrides import check_overrides, check_references, settings_changes
from maillage.monitoring.rules.programmes import Programme, get_programme
from maillage.monitoring.worklist import WORKLIST_GROUPS as WORKLIST_GROUPS
from maillage.monitoring.worklist import Worklist as Worklist
from maillage.monitoring.worklist import order_by_risk as order_by_risk
from maillage.monitoring.worklist import risk_factors as risk_factors
from maillage.monitoring.worklist import worklist as worklist
from maillage.monitoring.worklist import worklist_group as worklist_group
from maillage.patient import labels as patient_labels
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose
from maillage.security.roles import Role

log = get_logger("maillage.monitoring")

PURPOSE = Purpose.MONITORING
ENROLMENT = "monitoring_enrolment"
NURSE_ROLES = {Role.NURSE.value, Role.COORDINATING_NURSE.value}


def _need(actor: Actor, permission: Permission) -> None:
    if not role_allows(actor.role, permission):
        raise PermissionDenied()


def _as_date(at: dt.datetime) -> dt.date:
    return at.astimezone(PARIS).date()


# -- Operator teams -----------------------------------------------------------------------------------------


def create_team(session: Session, actor: Actor, *, establishment_id: uuid.UUID, name: str,
                ars_declaration: str | None = None, context: AuditContext | None = None) -> MonitoringTeam:
    """Declare an operator team (the medical team of an establishment that runs telesurveillance)."""
    _need(actor, Permission.DIRECTORY_ADMIN)
    clean = " ".join(name.split())
    if len(clean) < 2:
        raise ValidationFailed("Nom d'équipe trop court.", details=[{"field": "name", "message": "Obligatoire."}])
    if repo.team_by_name(session, establishment_id, clean) is not None:
        raise Conflict("Une équipe de ce nom existe déjà dans cet établissement.")
    team = MonitoringTeam(establishment_id=establishment_id, name=clean,
                          ars_declaration=(ars_declaration or "").strip() or None)
    session.add(team)
    session.flush()
    record(session, action="create", object_type="monitoring_team", object_id=str(team.id), context=context,
           **actor.audit_fields)
    return team


def add_member(session: Session, actor: Actor, team_id: uuid.UUID, user_id: uuid.UUID, role: str,
               context: AuditContext | None = None) -> MonitoringTeamMember:
    _need(actor, Permission.DIRECTORY_ADMIN)
    team = repo.get_team(session, team_id)
    user = repo.user_by_id(session, user_id)
    if team is None or user is None:
        raise NotFound()
    if role == "physician" and user.role != Role.PHYSICIAN.value:
        raise ValidationFailed("Seul un médecin peut être membre médecin de l'équipe.")
    if role == "nurse" and user.role not in NURSE_ROLES:
        raise ValidationFailed("Seul un infirmier ou une infirmière peut être membre infirmier de l'équipe.")
    if role not in ("physician", "nurse"):
        raise ValidationFailed("Rôle d'équipe inconnu.")
    existing = repo.membership(session, team_id, user_id)
    if existing is not None:
        return existing
    member = MonitoringTeamMember(team_id=team_id, user_id=user_id, role=role)
    session.add(member)
    session.flush()
    record(session, action="update", object_type="monitoring_team", object_id=str(team_id), context=context,
           details={"member_added": str(user_id)}, **actor.audit_fields)
    return member


def _require_member(session: Session, actor: Actor, team_id: uuid.UUID) -> MonitoringTeam:
    """The team if the actor is one of its members; a team one is not in is out of scope, hence the same
    ``NotFound`` as a team that does not exist (house rule 3)."""
    team = repo.get_team(session, team_id)
    if team is None or not team.active or repo.membership(session, team_id, actor.user_id) is None:
        raise NotFound("Équipe de télésurveillance introuvable.")
    return team


# -- Devices -------------------------------------------------------------------------------------------------


@dataclass
class RegisteredDevice:
    device: MonitoringDevice
    secret: str | None


def register_device(session: Session, actor: Actor, *, team_id: uuid.UUID, identifier: str, label: str,
                    kind: str = "device", gateway_identifier: str | None = None, with_credential: bool = True,
                    context: AuditContext | None = None) -> RegisteredDevice:
    """Register a device or gateway of the team; its credential (scoped to ingestion) is shown once."""
    _need(actor, Permission.MONITORING_ENROL)
    _require_member(session, actor, team_id)
    ident = identifier.strip()
    if not ident or len(ident) > 128 or kind not in ("device", "gateway"):
        raise ValidationFailed("Identifiant ou type d'appareil invalide.")
    if repo.device_by_identifier(session, ident) is not None:
        raise Conflict("Un appareil porte déjà cet identifiant.")
    gateway = None
    if gateway_identifier:
        gateway = repo.device_by_identifier(session, gateway_identifier.strip())
        if gateway is None or gateway.kind != "gateway" or gateway.team_id != team_id:
            raise ValidationFailed("Passerelle inconnue pour cette équipe.",
                                   details=[{"field": "gateway_identifier", "message": "Passerelle introuvable."}])
    secret = None
    credential_id = None
    if with_credential:
        issued = tokens.create_device_credential(session, device_identifier=ident, label=label.strip()[:200])
        secret, credential_id = issued.secret, issued.id
    device = MonitoringDevice(identifier=ident, kind=kind, label=label.strip()[:200], team_id=team_id,
                              gateway_id=gateway.id if gateway else None, credential_id=credential_id)
    session.add(device)
    session.flush()
    record(session, action="create", object_type="monitoring_device", object_id=str(device.id), context=context,
           details={"kind": kind, "credential": with_credential}, **actor.audit_fields)
    return RegisteredDevice(device, secret)


# -- Enrolment ----------------------------------------------------------------------------------------------


def _access(session: Session, actor: Actor, patient_id: uuid.UUID, *, action: str, object_type: str,
            object_id: str | None, permission: Permission, context: AuditContext | None) -> authz.AccessGrant:
    return authz.access_patient(session, actor, patient_id, PURPOSE, action=action, object_type=object_type,
                                object_id=object_id, permission=permission, context=context)


def enrol(session: Session, actor: Actor, data: Any, context: AuditContext | None = None) -> MonitoringEnrolment:
    """Enrol a patient in a programme for an operator team: prescription, consent, devices, reference values,
    per-patient overrides, care team. The enroller must already have a care relationship with the patient."""
    _need(actor, Permission.MONITORING_ENROL)
    team = _require_member(session, actor, data.team_id)
    programme = get_programme(data.programme)
    grant = _access(session, actor, data.patient_id, action="create", object_type=ENROLMENT, object_id=None,
                    permission=Permission.MONITORING_ENROL, context=context)
    if grant.break_glass is not None:
        # Enrolling grants the whole care team lasting relationships: an exceptional access, which expires and is
        # reviewed, must not turn into them.
        raise PermissionDenied("Un accès exceptionnel ne permet pas d'inclure ce patient en télésurveillance : "
                               "l'inclusion demande une prise en charge (médecin traitant, équipe de soins).")
    if not data.consent:
        raise ValidationFailed("Le consentement du patient à la télésurveillance doit être recueilli.",
                               details=[{"field": "consent", "message": "Consentement obligatoire."}])
    references = check_references(programme, data.references)
    overrides = check_overrides(programme, data.overrides)
    at = now()
    today = _as_date(at)
    if data.prescribed_on > today:
        raise ValidationFailed("La date de prescription ne peut pas être dans le futur.",
                               details=[{"field": "prescribed_on", "message": "Date future."}])
    ends_on = prescription_end(data.prescribed_on, data.duration_months)
    if ends_on < today:
        raise ValidationFailed("Cette prescription est déjà échue.",
                               details=[{"field": "prescribed_on", "message": "Prescription échue."}])
    if repo.open_enrolment(session, data.patient_id, programme.key) is not None:
        raise Conflict("Ce patient est déjà suivi dans ce programme.")
    consent_at = data.consent_at or at
    if consent_at.tzinfo is None or consent_at > at + dt.timedelta(minutes=5):
        raise ValidationFailed("Date de consentement invalide.")
    enrolment = MonitoringEnrolment(
        patient_id=data.patient_id, team_id=team.id, programme=programme.key, status="active",
        prescribed_on=data.prescribed_on, prescriber_id=actor.user_id if actor.role == Role.PHYSICIAN else None,
        duration_months=data.duration_months, starts_on=today, ends_on=ends_on, consent_at=consent_at,
        reference_values=references, overrides=overrides, enhanced_periods=[], watch_from=at, created_by=actor.user_id,
        created_at=at, updated_at=at,
    )
    session.add(enrolment)
    session.flush()
    for identifier in data.devices:
        _assign(session, enrolment, identifier, at)
    state = PatientState()
    session.add(MonitoringRuleState(enrolment_id=enrolment.id, state=state.to_json(), updated_at=at,
                                    silence_due_at=silence_due_at(rules_of(enrolment), state, at)))
    care_team = set(data.care_team) | {actor.user_id}
    if not data.care_team:
        care_team |= {m.user_id for m, _ in repo.members(session, team.id)}
    for user_id in sorted(care_team):
        if repo.membership(session, team.id, user_id) is None:
            raise ValidationFailed("L'équipe de soins ne peut comprendre que des membres de l'équipe opératrice.",
                                   details=[{"field": "care_team", "message": str(user_id)}])
        authz.grant_relationship(session, user_id=user_id, patient_id=data.patient_id, kind=RelationshipKind.CARE_TEAM,
                                 source_type=ENROLMENT, source_id=str(enrolment.id), starts_at=at)
    record(session, action="create", object_type=ENROLMENT, object_id=str(enrolment.id),
           patient_id=str(data.patient_id), purpose=PURPOSE.value, context=context,
           details={"programme": programme.key, "devices": len(data.devices), "care_team": len(care_team)},
           **actor.audit_fields)
    session.flush()
    return enrolment


def _assign(session: Session, enrolment: MonitoringEnrolment, identifier: str, at: dt.datetime) -> None:
    device = repo.device_by_identifier(session, identifier.strip())
    if device is None or not device.active or device.team_id != enrolment.team_id:
        raise ValidationFailed("Appareil inconnu pour cette équipe.",
                               details=[{"field": "devices", "message": identifier[:128]}])
    if repo.current_assignment(session, device.id) is not None:
        raise Conflict("Cet appareil est déjà remis à un autre patient.")
    session.add(MonitoringDeviceAssignment(enrolment_id=enrolment.id, device_id=device.id,
                                           active_device_id=device.id, starts_at=at))
    session.flush()


def _enrolment_for(session: Session, actor: Actor, enrolment_id: uuid.UUID, *, action: str,
                   permission: Permission, context: AuditContext | None, lock: bool = False) -> MonitoringEnrolment:
    enrolment = repo.lock_enrolment(session, enrolment_id) if lock else repo.get_enrolment(session, enrolment_id)
    if enrolment is None:
        raise NotFound()
    _access(session, actor, enrolment.patient_id, action=action, object_type=ENROLMENT, object_id=str(enrolment.id),
            permission=permission, context=context)
    return enrolment


def get_enrolment(session: Session, actor: Actor, enrolment_id: uuid.UUID,
                  context: AuditContext | None = None) -> MonitoringEnrolment:
    return _enrolment_for(session, actor, enrolment_id, action="read", permission=Permission.MONITORING_TRIAGE,
                          context=context)


def update_settings(session: Session, actor: Actor, enrolment_id: uuid.UUID, *,
                    references: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None,
                    context: AuditContext | None = None) -> MonitoringEnrolment:
    """Change the reference values or the per-patient overrides of any threshold."""
    enrolment = _enrolment_for(session, actor, enrolment_id, action="update", permission=Permission.MONITORING_ENROL,
                               context=context, lock=True)
    if enrolment.status == "ended":
        raise Conflict("Ce suivi est terminé.")
    programme = get_programme(enrolment.programme)
    before = (dict(enrolment.reference_values), dict(enrolment.overrides))
    if references is not None:
        enrolment.reference_values = check_references(programme, {**enrolment.reference_values, **references})
    if overrides is not None:
        enrolment.overrides = check_overrides(programme, overrides)
    enrolment.updated_at = now()
    _refresh_due(session, enrolment)
    record(session, action="update", object_type=ENROLMENT, object_id=str(enrolment.id),
           patient_id=str(enrolment.patient_id), purpose=PURPOSE.value, context=context, **actor.audit_fields,
           details=settings_changes(*before, enrolment.reference_values, enrolment.overrides))
    session.flush()
    return enrolment


def pause(session: Session, actor: Actor, enrolment_id: uuid.UUID, reason: str,
          starts_at: dt.datetime | None = None, context: AuditContext | None = None) -> MonitoringPause:
    """Suspend monitoring (hospitalisation, holidays): readings are stored and marked, nothing is alerted."""
    enrolment = _enrolment_for(session, actor, enrolment_id, action="update", permission=Permission.MONITORING_ENROL,
                               context=context, lock=True)
    enrolment.status = transition(enrolment.status, "pause").value
    if reason not in PAUSE_REASONS:
        raise ValidationFailed("Motif de suspension inconnu.")
    at = now()
    start = starts_at or at
    if start.tzinfo is None or start > at + dt.timedelta(minutes=5) or _as_date(start) < enrolment.starts_on:
        raise ValidationFailed("La suspension commence au plus tard maintenant, et pas avant le début du suivi.")
    item = MonitoringPause(enrolment_id=enrolment.id, reason=reason, starts_at=start, created_by=actor.user_id)
    session.add(item)
    enrolment.updated_at = at
    session.flush()
    return item


def resume(session: Session, actor: Actor, enrolment_id: uuid.UUID, context: AuditContext | None = None) -> None:
    """Resume monitoring: the non-transmission period starts again now."""
    enrolment = _enrolment_for(session, actor, enrolment_id, action="update", permission=Permission.MONITORING_ENROL,
                               context=context, lock=True)
    enrolment.status = transition(enrolment.status, "resume").value
    at = now()
    current = repo.open_pause(session, enrolment.id)
    if current is not None:
        current.ends_at = max(at, current.starts_at + dt.timedelta(seconds=1))
    enrolment.watch_from = at
    enrolment.updated_at = at
    _refresh_due(session, enrolment)
    session.flush()


def end(session: Session, actor: Actor, enrolment_id: uuid.UUID, reason: str,
        context: AuditContext | None = None) -> None:
    """End monitoring with a reason: open alerts close, devices are returned, the care team's access ends."""
    enrolment = _enrolment_for(session, actor, enrolment_id, action="update", permission=Permission.MONITORING_ENROL,
                               context=context, lock=True)
    if reason not in END_REASONS:
        raise ValidationFailed("Motif de fin inconnu.",
                               details=[{"field": "reason", "message": ", ".join(END_REASONS)}])
    _finish(session, enrolment, reason, actor.user_id)


def _finish(session: Session, enrolment: MonitoringEnrolment, reason: str, actor_id: uuid.UUID | None) -> None:
    enrolment.status = transition(enrolment.status, "end").value
    at = now()
    current = repo.open_pause(session, enrolment.id)
    if current is not None:
        current.ends_at = max(at, current.starts_at + dt.timedelta(seconds=1))
    enrolment.ended_at = at
    enrolment.end_reason = reason
    enrolment.updated_at = at
    for alert in repo.open_alerts_for(session, [enrolment.id]).values():
        close_alert(session, alert, at, reason="ended", actor_id=actor_id, comment=None)
    for assignment in repo.current_assignments_of_enrolment(session, enrolment.id):
        assignment.ends_at = at
        assignment.active_device_id = None
    authz.end_relationships(session, source_type=ENROLMENT, source_id=str(enrolment.id))
    live.changed_on_commit(session)
    session.flush()


def add_enhanced_period(session: Session, actor: Actor, enrolment_id: uuid.UUID, *, level: str, starts_on: dt.date,
                        months: int, context: AuditContext | None = None) -> MonitoringEnrolment:
    """An enhanced operator forfait for a complex patient, within its duration limits."""
    enrolment = _enrolment_for(session, actor, enrolment_id, action="update", permission=Permission.MONITORING_ENROL,
                               context=context, lock=True)
    programme = get_programme(enrolment.programme)
    new = EnhancedPeriod(ForfaitLevel(level), starts_on, months)
    check_enhanced_period(programme, _periods(enrolment), new, enrolment.ends_on)
    enrolment.enhanced_periods = [*enrolment.enhanced_periods,
                                  {"level": new.level.value, "starts_on": starts_on.isoformat(), "months": months}]
    enrolment.updated_at = now()
    session.flush()
    return enrolment


def _periods(enrolment: MonitoringEnrolment) -> list[EnhancedPeriod]:
    return [EnhancedPeriod(ForfaitLevel(p["level"]), dt.date.fromisoformat(p["starts_on"]), int(p["months"]))
            for p in enrolment.enhanced_periods or []]


def _refresh_due(session: Session, enrolment: MonitoringEnrolment) -> None:
    row = repo.lock_states(session, [enrolment.id]).get(enrolment.id)
    if row is not None:
        state = PatientState.from_json(row.state)
        row.silence_due_at = silence_due_at(rules_of(enrolment), state, enrolment.watch_from)


# -- Triage --------------------------------------------------------------------------------------------------


# The worklist (its groups, the order by risk and the audited read) lives in ``monitoring.worklist``.


def _open_alert(session: Session, actor: Actor, alert_id: uuid.UUID, action: str,
                context: AuditContext | None) -> MonitoringAlert:
    """The open alert, locked after its patient's rule state: the lock order of ingestion (state, then alerts)."""
    _need(actor, Permission.MONITORING_TRIAGE)
    alert = repo.get_alert(session, alert_id)
    if alert is None:
        raise NotFound()
    _access(session, actor, alert.patient_id, action=action, object_type="monitoring_alert", object_id=str(alert.id),
            permission=Permission.MONITORING_TRIAGE, context=context)
    repo.lock_states(session, [alert.enrolment_id])
    alert = repo.get_alert(session, alert_id, lock=True)
    if alert is None or alert.status != "open":
        raise Conflict("Cette alerte est déjà fermée.")
    return alert


def acknowledge(session: Session, actor: Actor, alert_id: uuid.UUID, comment: str = "",
                context: AuditContext | None = None) -> MonitoringAlert:
    """Acknowledge an alert with a comment; the history is kept and the patient's condition can raise again."""
    alert = _open_alert(session, actor, alert_id, "acknowledge", context)
    at = now()
    text = comment.strip()[:2000] or None
    close_alert(session, alert, at, reason="acknowledged", actor_id=actor.user_id, comment=text)
    _forget_condition(session, [alert], at)
    live.changed_on_commit(session)
    session.flush()
    return alert


def escalate(session: Session, actor: Actor, alert_id: uuid.UUID, comment: str = "",
             physician_id: uuid.UUID | None = None, context: AuditContext | None = None) -> MonitoringAlert:
    """Escalate to a physician of the patient's care team: the alert stays open and the physician is notified."""
    alert = _open_alert(session, actor, alert_id, "escalate", context)
    at = now()
    physicians = [u for u, role in repo.care_team(session, alert.enrolment_id, at) if role == Role.PHYSICIAN.value]
    if not physicians:
        raise Conflict("Aucun médecin dans l'équipe de soins de ce patient : ajoutez-en un.")
    target = physicians[0]
    if physician_id is not None:
        match = [u for u in physicians if u.id == physician_id]
        if not match:
            raise ValidationFailed("Ce médecin ne fait pas partie de l'équipe de soins du patient.")
        target = match[0]
    alert.escalated_at, alert.escalated_to, alert.escalated_by = at, target.id, actor.user_id
    alert.updated_at = at
    session.add(MonitoringAlertEvent(alert_id=alert.id, at=at, kind="escalated", actor_id=actor.user_id,
                                     comment=comment.strip()[:2000] or None))
    session.add(MonitoringNotification(user_id=target.id, alert_id=alert.id, created_at=at))
    live.changed_on_commit(session)
    session.flush()
    return alert


def acknowledge_all_green(session: Session, actor: Actor,
                          context: AuditContext | None = None) -> MonitoringGreenReceipt | None:
    """Close every open green alert the actor sees, with one receipt recording who, when and how many."""
    _need(actor, Permission.MONITORING_TRIAGE)
    scope = authz.accessible_patients(actor)
    candidates = repo.open_greens(session, scope, lock=False)
    if not candidates:
        return None
    repo.lock_states(session, [g.enrolment_id for g in candidates])  # ingestion's lock order: states, then alerts
    greens = repo.open_greens(session, scope)
    if not greens:
        return None
    at = now()
    teams = {g.team_id for g in greens}
    receipt = MonitoringGreenReceipt(team_id=next(iter(teams)) if len(teams) == 1 else None, actor_id=actor.user_id,
                                     at=at, count=len(greens))
    session.add(receipt)
    session.flush()
    for alert in greens:
        close_alert(session, alert, at, reason="green_receipt", actor_id=actor.user_id, comment=None,
                    receipt_id=receipt.id)
    _forget_condition(session, greens, at)
    record(session, action="acknowledge", object_type="monitoring_green_receipt", object_id=str(receipt.id),
           purpose=PURPOSE.value, context=context, details={"count": len(greens), "patients": len(greens)},
           **actor.audit_fields)
    live.changed_on_commit(session)
    session.flush()
    return receipt


def _forget_condition(session: Session, alerts: Sequence[MonitoringAlert], at: dt.datetime) -> None:
    states = repo.lock_states(session, [a.enrolment_id for a in alerts])
    enrolments = repo.enrolments_by_ids(session, states)
    for alert in alerts:
        row = states.get(alert.enrolment_id)
        if row is None:
            continue
        state = acknowledge_condition(PatientState.from_json(row.state), alert.condition, at,
                                            silence=alert.silence)
        row.state = state.to_json()
        row.updated_at = at
        enrolment = enrolments[alert.enrolment_id]
        row.silence_due_at = silence_due_at(rules_of(enrolment), state, enrolment.watch_from)


def notifications(session: Session, actor: Actor) -> list[tuple[MonitoringNotification, MonitoringAlert]]:
    """The actor's unread notifications, for patients they may still see (an ended care team's are not shown)."""
    _need(actor, Permission.MONITORING_TRIAGE)
    return repo.notifications_for(session, actor.user_id, authz.accessible_patients(actor))


# -- Scheduled work (the worker calls these through tasks.py) -------------------------------------------------


def check_silences(session: Session, at: dt.datetime | None = None, limit: int = 2000) -> int:
    """Raise the non-transmission alerts that fell due (active enrolments only). Returns how many were raised."""
    at = at or now()
    due = repo.states_due_for_silence(session, at, limit)
    if not due:
        return 0
    states = repo.lock_states(session, due)
    enrolments = repo.enrolments_by_ids(session, due)
    open_alerts = repo.open_alert_rows(session, due)
    writes = repo.AlertWrites()
    raised = 0
    for enrolment_id in sorted(states):
        enrolment = enrolments[enrolment_id]
        if enrolment.status != "active":
            continue
        row = states[enrolment_id]
        resolved = rules_of(enrolment)
        evaluation = check_silence(resolved, PatientState.from_json(row.state), at, enrolment.watch_from)
        raised += plan_events(enrolment, resolved, evaluation.events, open_alerts, at, writes)
        row.state = evaluation.state.to_json()
        row.updated_at = at
        row.silence_due_at = silence_due_at(resolved, evaluation.state, enrolment.watch_from)
        if row.silence_due_at is not None and row.silence_due_at <= at:
            row.silence_due_at = at + dt.timedelta(minutes=5)
    session.flush()
    repo.write_alerts(session, writes, at)
    if raised:
        live.changed_on_commit(session)
    return raised


def end_expired(session: Session, today: dt.date | None = None) -> int:
    """End the enrolments whose prescription has run out (at most one year, CSS R162-100)."""
    day = today or _as_date(now())
    count = 0
    for enrolment in repo.expired_enrolments(session, day):
        _finish(session, enrolment, "prescription_expired", None)
        record(session, action="update", object_type=ENROLMENT, object_id=str(enrolment.id),
               patient_id=str(enrolment.patient_id), purpose=PURPOSE.value, actor_role="system",
               details={"ended": "prescription_expired"})
        count += 1
    return count


def _pause_dates(session: Session, enrolment: MonitoringEnrolment) -> list[tuple[dt.date, dt.date | None]]:
    return [(_as_date(p.starts_at), _as_date(p.ends_at) if p.ends_at else None)
            for p in repo.pauses(session, enrolment.id)]


def record_forfaits(session: Session, month: dt.date) -> int:
    """Record the operator forfait of ``month`` for each enrolled patient (idempotent: one per enrolment and month)."""
    first, last = month_start(month), month_end(month)
    count = 0
    for enrolment in repo.enrolments_to_bill(session, first, last):
        if repo.forfait_exists(session, enrolment.id, first):
            continue
        ends_on = _as_date(enrolment.ended_at) if enrolment.ended_at else enrolment.ends_on
        days = monitored_days(first, enrolment.starts_on, ends_on, _pause_dates(session, enrolment))
        if not forfait_due(days):
            continue
        level = forfait_for_month(get_programme(enrolment.programme), first, _periods(enrolment))
        cents = forfait_amount_cents(level, first)
        if cents is None:  # no dated tariff that month: not priced at today's rate
            continue
        session.add(MonitoringForfait(enrolment_id=enrolment.id, patient_id=enrolment.patient_id,
                                      team_id=enrolment.team_id, month=first, level=level.value,
                                      amount_cents=cents, monitored_days=days))
        count += 1
    session.flush()
    return count


# -- Adherence and regulatory checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdherenceRow:
    label: str
    first: dt.date
    last: dt.date
    expected: int
    received: int
    share: float | None
    ok: bool | None


def adherence_rows(session: Session, enrolment: MonitoringEnrolment,
                   today: dt.date | None = None) -> list[AdherenceRow]:
    """Per calendar month since the start: the share of expected transmissions received."""
    day = today or _as_date(now())
    programme = get_programme(enrolment.programme)
    pauses = _pause_dates(session, enrolment)
    end_day = min(day, _as_date(enrolment.ended_at) if enrolment.ended_at else enrolment.ends_on)
    out: list[AdherenceRow] = []
    month = month_start(enrolment.starts_on)
    while month <= end_day:
        first = max(month, enrolment.starts_on)
        last = min(month_end(month), end_day)
        out.append(_adherence(session, enrolment, programme, f"{month.month:02d}/{month.year}", first, last, pauses))
        month = add_months(month, 1)
    return out


def _adherence(session: Session, enrolment: MonitoringEnrolment, programme: Programme, label: str,
               first: dt.date, last: dt.date, pauses: list[tuple[dt.date, dt.date | None]]) -> AdherenceRow:
    active = monitored_days(first, first, last, pauses) if first.month == last.month else \
        sum(monitored_days(m, first, last, pauses) for m in _months(first, last))
    expected = expected_transmissions(active, programme.expected_every_days)
    days = repo.days_with_data(session, enrolment.id, enrolment.patient_id, programme.primary_measure, first, last)
    received = received_periods(days, first, programme.expected_every_days)
    share = adherence(received, expected)
    return AdherenceRow(label, first, last, expected, received, share, adherence_ok(share))


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, month = [], month_start(first)
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


@dataclass(frozen=True)
class RegulatoryCheck:
    enrolment: MonitoringEnrolment
    checkpoint: int  # 1 or 2 (months)
    row: AdherenceRow


def regulatory_checks(session: Session, actor: Actor, context: AuditContext | None = None,
                      today: dt.date | None = None) -> list[RegulatoryCheck]:
    """Adherence at one and two months for each followed patient (more than 50 %, else stop; DOMAIN.md §2.4)."""
    _need(actor, Permission.MONITORING_TRIAGE)
    day = today or _as_date(now())
    out: list[RegulatoryCheck] = []
    enrolments = repo.enrolments_visible(session, authz.accessible_patients(actor))
    for enrolment in enrolments:
        programme = get_programme(enrolment.programme)
        pauses = _pause_dates(session, enrolment)
        for n, days in enumerate(CHECKPOINT_DAYS, start=1):
            first = enrolment.starts_on + dt.timedelta(days=days - 30)
            last = enrolment.starts_on + dt.timedelta(days=days - 1)
            if last >= day:
                break
            row = _adherence(session, enrolment, programme, f"{n} mois", first, last, pauses)
            out.append(RegulatoryCheck(enrolment, n, row))
    authz.audit_list(session, actor, object_type="monitoring_adherence", count=len(out), purpose=PURPOSE,
                     patient_ids=[c.enrolment.patient_id for c in out], context=context)
    return out


def my_enrolments(session: Session, actor: Actor, context: AuditContext | None = None) -> list[MonitoringEnrolment]:
    _need(actor, Permission.MONITORING_TRIAGE)
    out = repo.enrolments_visible(session, authz.accessible_patients(actor))
    authz.audit_list(session, actor, object_type=ENROLMENT, count=len(out), purpose=PURPOSE,
                     patient_ids=[e.patient_id for e in out], context=context)
    return out


def labels(session: Session, actor: Actor, enrolment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """(patient label, programme label) per enrolment, for lists the service audited: the patient's name when the
    actor may see the patient now (``patient.labels.short_labels``, through ``authz.accessible_patients``), else a
    short id."""
    enrolments = repo.enrolments_by_ids(session, enrolment_ids)
    names = patient_labels.short_labels(session, actor, [e.patient_id for e in enrolments.values()])
    return {eid: (names.get(e.patient_id) or f"Patient {str(e.patient_id)[:8]}",
                  get_programme(e.programme).label) for eid, e in enrolments.items()}


