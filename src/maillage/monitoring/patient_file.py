"""The patient's telesurveillance page, read in one use case: the enrolment (reached through
``service.get_enrolment``, which checks access and audits it), the curves of the chosen period with the thresholds
of the patient's effective rules, the alerts and their history, pauses, devices, care team, adherence per month
and the forfaits recorded.

Split from ``service.py`` (the use cases that change things) to keep each module to one subject; it only reads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from maillage.exceptions import ValidationFailed
from maillage.kit.clock import now
from maillage.models.monitoring import (
    MonitoringAlert,
    MonitoringAlertEvent,
    MonitoringDevice,
    MonitoringEnrolment,
    MonitoringForfait,
    MonitoringPause,
)
from maillage.monitoring import repository as repo
from maillage.monitoring.alerts import rules_of
from maillage.monitoring.rules.alerting import REFERENCES, ReferenceGainRule, ThresholdRule
from maillage.monitoring.rules.programmes import Programme, get_programme
from maillage.monitoring.service import AdherenceRow, adherence_rows, get_enrolment
from maillage.security.actor import Actor
from maillage.security.context import AuditContext


@dataclass
class PatientFile:
    enrolment: MonitoringEnrolment
    programme: Programme
    series: dict[str, list[tuple[dt.datetime, float]]]
    thresholds: dict[str, list[tuple[str, float, str]]]
    alerts: list[MonitoringAlert]
    events: dict[uuid.UUID, list[MonitoringAlertEvent]]
    pauses: list[MonitoringPause]
    devices: list[MonitoringDevice]
    care_team: list[tuple[Any, str]]
    adherence: list[AdherenceRow]
    forfaits: list[MonitoringForfait]
    since: dt.datetime
    until: dt.datetime


CURVE_MEASURES = ("weight", "spo2", "glucose", "systolic", "diastolic")


def patient_file(session: Session, actor: Actor, enrolment_id: uuid.UUID, *, days: int = 30,
                 context: AuditContext | None = None) -> PatientFile:
    if not 1 <= days <= 366:
        raise ValidationFailed("Période d'affichage entre 1 et 366 jours.")
    enrolment = get_enrolment(session, actor, enrolment_id, context)
    programme = get_programme(enrolment.programme)
    until = now()
    since = until - dt.timedelta(days=days)
    measures = sorted({*CURVE_MEASURES, *(d.measure for d in programme.data)})
    series: dict[str, list[tuple[dt.datetime, float]]] = {}
    for measure, taken_at, value in repo.series(session, enrolment.patient_id, measures, since, until):
        series.setdefault(measure, []).append((taken_at, value))
    thresholds: dict[str, list[tuple[str, float, str]]] = {}
    for rule in rules_of(enrolment):
        if not rule.enabled:
            continue
        if isinstance(rule, ThresholdRule):
            thresholds.setdefault(rule.measure, []).append((rule.label, rule.value, rule.severity.value))
        elif isinstance(rule, ReferenceGainRule) and rule.reference_value is not None:
            thresholds.setdefault(rule.measure, []).append(
                (rule.label, rule.reference_value + rule.gain, rule.severity.value))
            thresholds[rule.measure].append(
                (REFERENCES[rule.reference].label, rule.reference_value, "reference"))
    alerts = repo.alerts_of_enrolment(session, enrolment.id)
    events: dict[uuid.UUID, list[MonitoringAlertEvent]] = {}
    for ev in repo.events_of_alerts(session, [a.id for a in alerts]):
        events.setdefault(ev.alert_id, []).append(ev)
    return PatientFile(
        enrolment, programme, series, thresholds, alerts, events, repo.pauses(session, enrolment.id),
        repo.devices_of_enrolment(session, enrolment.id), repo.care_team(session, enrolment.id, until),
        adherence_rows(session, enrolment), repo.forfaits_of(session, enrolment.id), since, until,
    )
