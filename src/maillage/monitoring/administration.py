"""Use cases behind the telesurveillance administration pages: what a coordinating nurse or a physician may choose
when enrolling a patient (the patients they already care for, their teams, the teams' free devices and members),
the team's devices, replacing a patient's device, and the settings form of an enrolment (reference values and
per-patient thresholds, in French, with defaults and bounds).

The changes themselves go through ``service`` (``enrol``, ``register_device``, ``update_settings``) or, for handing
over a device, through ``assign_device`` here, on the service's own access check: the same rules, access checks and
audit as the API. Split from ``service.py`` to keep each module to one subject.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.authz import service as authz
from maillage.exceptions import Conflict, ValidationFailed
from maillage.kit.clock import PARIS, now
from maillage.models.auth import UserAccount
from maillage.models.monitoring import MonitoringDevice, MonitoringEnrolment, MonitoringTeam
from maillage.monitoring import repository as repo
from maillage.monitoring import service
from maillage.monitoring.rules.alerting import REFERENCES, SilenceRule, ThresholdRule
from maillage.monitoring.rules.measures import MEASURES, Measure
from maillage.monitoring.rules.overrides import param_bounds
from maillage.monitoring.rules.programmes import Programme, get_programme
from maillage.patient import service as patients
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission

DEVICE_KINDS = {"device": "Appareil", "gateway": "Passerelle"}
MEMBER_ROLES = {"physician": "médecin", "nurse": "infirmier·e"}
PARAM_LABELS = {"value": "Seuil", "gain": "Écart toléré", "days": "Sur une fenêtre de", "hours": "Délai"}


def today() -> dt.date:
    return now().astimezone(PARIS).date()


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# -- Choices of the enrolment form ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientChoice:
    id: uuid.UUID
    name: str
    birth_date: dt.date
    age: int
    sex_label: str
    followed: bool  # already followed in the chosen programme: it cannot be enrolled again


@dataclass
class TeamChoice:
    team: MonitoringTeam
    members: list[tuple[UserAccount, str]]
    free_devices: list[MonitoringDevice]


@dataclass
class EnrolChoices:
    patients: list[PatientChoice]
    teams: list[TeamChoice]


def enrol_choices(session: Session, actor: Actor, programme_key: str,
                  context: AuditContext | None = None) -> EnrolChoices:
    """The patients the actor already cares for (the list read is audited) and the actor's teams, with their
    members and free devices. Enrolment itself checks again (``service.enrol``)."""
    service._need(actor, Permission.MONITORING_ENROL)
    views = patients.my_patients(session, actor, context)
    cared = authz.cared_for(session, actor, [v.patient.id for v in views])
    views = [v for v in views if v.patient.id in cared]  # an exceptional access cannot found an enrolment
    followed = {e.patient_id for e in repo.enrolments_visible(session, authz.accessible_patients(actor))
                if e.programme == programme_key}
    day = today()
    choices = [PatientChoice(v.patient.id, v.display_name, v.patient.birth_date, age_on(v.patient.birth_date, day),
                             v.sex_label, v.patient.id in followed) for v in views]
    choices.sort(key=lambda c: c.name)
    teams = [t for t in my_teams(session, actor) if t.active]
    devices = repo.team_devices(session, [t.id for t in teams])
    out = []
    for team in teams:
        members = [(user, MEMBER_ROLES.get(m.role, m.role)) for m, user in repo.members(session, team.id)]
        free = [d for d, enrolment in devices if d.team_id == team.id and enrolment is None]
        out.append(TeamChoice(team, members, free))
    return EnrolChoices(choices, out)


# -- The team's devices -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceRow:
    device: MonitoringDevice
    lent: bool
    patient: str | None  # the patient's name when the actor may see them
    enrolment_id: uuid.UUID | None

    @property
    def kind_label(self) -> str:
        return DEVICE_KINDS.get(self.device.kind, self.device.kind)


@dataclass
class TeamDevices:
    team: MonitoringTeam
    rows: list[DeviceRow] = field(default_factory=list)


def team_devices(session: Session, actor: Actor, context: AuditContext | None = None) -> list[TeamDevices]:
    """The devices of the actor's teams, each free or lent; the patient is named only to an actor who may see
    them (the list is audited with the patients it names)."""
    service._need(actor, Permission.MONITORING_ENROL)
    teams = [t for t in my_teams(session, actor) if t.active]
    rows = repo.team_devices(session, [t.id for t in teams])
    lent = {e.id: e for _, e in rows if e is not None}
    visible = {e.id for e in lent.values() if authz.has_access(session, actor, e.patient_id)}
    names = service.labels(session, actor, sorted(visible))
    out = {t.id: TeamDevices(t) for t in teams}
    for device, enrolment in rows:
        shown = enrolment is not None and enrolment.id in visible
        out[device.team_id].rows.append(DeviceRow(
            device, enrolment is not None, names[enrolment.id][0] if shown and enrolment else None,
            enrolment.id if shown and enrolment else None))
    authz.audit_list(session, actor, object_type="monitoring_device", count=len(rows), purpose=service.PURPOSE,
                     patient_ids=[lent[i].patient_id for i in visible], context=context)
    return list(out.values())


# -- A patient's devices ----------------------------------------------------------------------------------------


def free_devices_for(session: Session, actor: Actor, enrolment: MonitoringEnrolment) -> list[MonitoringDevice]:
    """The free devices of the enrolment's team, to a member of that team (the caller has already reached the
    enrolment); someone who follows the patient from outside the team sees none."""
    if repo.membership(session, enrolment.team_id, actor.user_id) is None:
        return []
    return [d for d, e in repo.team_devices(session, [enrolment.team_id]) if e is None]


def my_teams(session: Session, actor: Actor) -> list[MonitoringTeam]:
    """The operator teams the actor belongs to."""
    return repo.teams_of(session, actor.user_id)


def assign_device(session: Session, actor: Actor, enrolment_id: uuid.UUID, identifier: str,
                  context: AuditContext | None = None) -> None:
    """Hand a free device of the team to the patient from now (the enrolment's access is checked and audited)."""
    enrolment = service._enrolment_for(session, actor, enrolment_id, action="update",
                                       permission=Permission.MONITORING_ENROL, context=context, lock=True)
    service._require_member(session, actor, enrolment.team_id)  # the team's devices are its members' to hand over
    if enrolment.status == "ended":
        raise Conflict("Ce suivi est terminé.")
    at = now()
    service._assign(session, enrolment, identifier, at)
    device = repo.device_by_identifier(session, identifier.strip())
    record(session, action="update", object_type=service.ENROLMENT, object_id=str(enrolment.id),
           patient_id=str(enrolment.patient_id), purpose=service.PURPOSE.value, context=context,
           details={"device_assigned": str(device.id) if device else None}, **actor.audit_fields)


def replace_device(session: Session, actor: Actor, enrolment_id: uuid.UUID, old_identifier: str,
                   new_identifier: str, context: AuditContext | None = None) -> None:
    """Give the patient another device of the team in place of one they hold: the old one is returned (free for
    another patient from now on), the new one is assigned from now; audited with both devices."""
    enrolment = service._enrolment_for(session, actor, enrolment_id, action="update",
                                       permission=Permission.MONITORING_ENROL, context=context, lock=True)
    service._require_member(session, actor, enrolment.team_id)
    if enrolment.status == "ended":
        raise Conflict("Ce suivi est terminé.")
    old = repo.device_by_identifier(session, old_identifier.strip())
    held = {a.device_id: a for a in repo.current_assignments_of_enrolment(session, enrolment.id)}
    if old is None or old.id not in held:
        raise ValidationFailed("Cet appareil n'est pas remis à ce patient.",
                               details=[{"field": "old", "message": "Appareil non remis à ce patient."}])
    if new_identifier.strip() == old.identifier:
        raise ValidationFailed("Choisissez un autre appareil que celui à remplacer.",
                               details=[{"field": "new", "message": "Même appareil."}])
    at = now()
    returned = held[old.id]
    returned.ends_at = at
    returned.active_device_id = None
    session.flush()
    service._assign(session, enrolment, new_identifier, at)
    new = repo.device_by_identifier(session, new_identifier.strip())
    record(session, action="update", object_type=service.ENROLMENT, object_id=str(enrolment.id),
           patient_id=str(enrolment.patient_id), purpose=service.PURPOSE.value, context=context,
           details={"device_returned": str(old.id), "device_assigned": str(new.id) if new else None},
           **actor.audit_fields)


# -- Settings: reference values and per-patient thresholds ------------------------------------------------------


def parse_number(raw: str) -> float | None:
    """A number typed the French way (``62,5``) or not; None when it is not one."""
    text = raw.strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def show_number(value: float | None, decimals: int = 1) -> str:
    """A number as a French form shows it: ``62,5``, ``48``."""
    if value is None:
        return ""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"
    return text.replace(".", ",")


@dataclass(frozen=True)
class ReferenceField:
    name: str  # the form field: ``references.<key>``
    label: str
    unit: str
    low: str
    high: str
    required: bool
    default: str
    current: str
    source: str


@dataclass(frozen=True)
class ParamField:
    name: str  # ``overrides.<rule>.<param>``
    label: str
    unit: str
    default: str
    current: str
    low: str
    high: str


@dataclass(frozen=True)
class RuleField:
    key: str
    label: str
    severity: str
    description: str
    mandatory: bool
    enabled: bool
    params: list[ParamField]
    note: str
    source: str

    @property
    def enabled_name(self) -> str:
        return f"overrides.{self.key}.enabled"


def _measure(key: str) -> Measure:
    return MEASURES[key]


def reference_fields(programme: Programme, current: Mapping[str, Any]) -> list[ReferenceField]:
    out = []
    for key in programme.references:
        spec = REFERENCES[key]
        m = _measure(spec.measure)
        value = current.get(key)
        out.append(ReferenceField(
            f"references.{key}", spec.label, m.unit_label, show_number(m.low, m.decimals),
            show_number(m.high, m.decimals), spec.required, show_number(spec.default, m.decimals),
            value if isinstance(value, str) else show_number(value, m.decimals), spec.source))
    return out


def _mandatory(programme: Programme, rule: Any) -> bool:
    return bool(rule.mandatory or (isinstance(rule, SilenceRule) and programme.requires_silence_alert))


def _param_unit(rule: Any, param: str) -> tuple[str, int]:
    if param == "days":
        return "jours", 0
    if param == "hours":
        return "h", 0
    m = _measure(rule.measure)
    return m.unit_label, m.decimals


def _editable(programme: Programme, rule: Any) -> tuple[str, ...]:
    """The parameters the form offers: a threshold tied to a reference value is set through that value."""
    if isinstance(rule, ThresholdRule) and rule.reference and rule.reference in programme.references:
        return ()
    return tuple(rule.params)


def rule_fields(programme: Programme, overrides: Mapping[str, Any], typed: Mapping[str, str] | None = None
                ) -> list[RuleField]:
    """Each rule of the programme with its parameters: default, current value (or what was typed) and bounds."""
    out = []
    for rule in programme.rules:
        change = overrides.get(rule.key, {})
        params = []
        for param in _editable(programme, rule):
            unit, decimals = _param_unit(rule, param)
            low, high = param_bounds(programme, rule, param)
            default = getattr(rule, param)
            name = f"overrides.{rule.key}.{param}"
            current = typed[name] if typed is not None and name in typed else show_number(
                change.get(param, default), decimals)
            params.append(ParamField(name, PARAM_LABELS.get(param, param), unit, show_number(default, decimals),
                                     current, show_number(low, decimals), show_number(high, decimals)))
        note = ""
        if isinstance(rule, ThresholdRule) and rule.reference and rule.reference in programme.references:
            note = f"Seuil fixé par la valeur de référence « {REFERENCES[rule.reference].label} »."
        mandatory = _mandatory(programme, rule)
        enabled = True if mandatory else (
            f"overrides.{rule.key}.enabled" in typed if typed is not None else bool(change.get("enabled", True)))
        out.append(RuleField(rule.key, rule.label, rule.severity.label, rule.describe(), mandatory, enabled, params,
                             note, rule.source))
    return out


@dataclass
class ParsedSettings:
    references: dict[str, float | None]
    overrides: dict[str, dict[str, Any]]
    errors: dict[str, str]


def parse_references(programme: Programme, form: Mapping[str, str]) -> tuple[dict[str, float | None], dict[str, str]]:
    references: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for key in programme.references:
        name = f"references.{key}"
        raw = form.get(name, "").strip()
        if not raw:
            references[key] = None
            continue
        value = parse_number(raw)
        if value is None:
            errors[name] = "Nombre attendu (par exemple 62,5)."
        else:
            references[key] = value
    return references, errors


def parse_settings(programme: Programme, form: Mapping[str, str]) -> ParsedSettings:
    """Reference values and overrides from the settings form; a value equal to the default is not stored as an
    override. The bounds themselves are checked by the rules (``check_references``, ``check_overrides``)."""
    references, errors = parse_references(programme, form)
    overrides: dict[str, dict[str, Any]] = {}
    for rule in programme.rules:
        change: dict[str, Any] = {}
        if not _mandatory(programme, rule) and f"overrides.{rule.key}.enabled" not in form:
            change["enabled"] = False
        for param in _editable(programme, rule):
            name = f"overrides.{rule.key}.{param}"
            raw = form.get(name, "").strip()
            if not raw:
                continue
            value = parse_number(raw)
            if value is None:
                errors[name] = "Nombre attendu (par exemple 1,5)."
            elif value != float(getattr(rule, param)):
                change[param] = value
        if change:
            overrides[rule.key] = change
    return ParsedSettings(references, overrides, errors)


def field_errors(exc: ValidationFailed) -> dict[str, str]:
    """The service's per-field details (``references.dry_weight``...) keyed by form field name."""
    details = exc.details if isinstance(exc.details, list) else []
    out: dict[str, str] = {}
    for d in details:  # the first problem of a field is the one to fix (a value out of range, then "missing")
        if isinstance(d, dict) and d.get("field"):
            out.setdefault(str(d["field"]), str(d.get("message", "")))
    return out


def programme_of(enrolment: MonitoringEnrolment) -> Programme:
    return get_programme(enrolment.programme)
