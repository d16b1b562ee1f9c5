"""The nurses' worklist: the open alerts of the patients the nurse may see, by colour (red, orange, missing data,
green), with the risk score of each patient that has one; audited as one list read, scores included."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.exceptions import PermissionDenied
from maillage.models.monitoring import MonitoringAlert
from maillage.models.prediction import PredictionScore
from maillage.monitoring import repository as repo
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose

PURPOSE = Purpose.MONITORING


WORKLIST_GROUPS = ("red", "orange", "missing", "green")


def worklist_group(alert: MonitoringAlert) -> str:
    if alert.silence:
        return "missing"
    return alert.severity


@dataclass
class Worklist:
    groups: dict[str, list[MonitoringAlert]] = field(default_factory=dict)
    scores: dict[uuid.UUID, PredictionScore] = field(default_factory=dict)  # by enrolment
    by_risk: bool = False

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.groups.values())


def order_by_risk(groups: dict[str, list[MonitoringAlert]],
                  scores: dict[uuid.UUID, PredictionScore]) -> dict[str, list[MonitoringAlert]]:
    """Within each colour, highest risk first (unscored last, then by age of the alert). The colours keep their
    order: a red alert of the rule is never placed below an orange one whatever the scores, and none is dropped."""
    def key(alert: MonitoringAlert) -> tuple[float, dt.datetime]:
        score = scores.get(alert.enrolment_id)
        return (-(score.probability if score else -1.0), alert.opened_at)

    return {group: sorted(items, key=key) for group, items in groups.items()}


def worklist(session: Session, actor: Actor, context: AuditContext | None = None, *,
             by_risk: bool = False) -> Worklist:
    """The nurses' worklist: red first, then orange, then patients whose data is missing, then green; with the
    risk score of each patient that has one (``by_risk``: ordered by it within each colour). Every score shown is
    audited with the list."""
    if not role_allows(actor.role, Permission.MONITORING_TRIAGE):
        raise PermissionDenied()
    alerts = repo.worklist(session, authz.accessible_patients(actor))
    out = Worklist({g: [] for g in WORKLIST_GROUPS}, by_risk=by_risk)
    for alert in alerts:
        out.groups[worklist_group(alert)].append(alert)
    authz.audit_list(session, actor, object_type="monitoring_alert", count=len(alerts), purpose=PURPOSE,
                     patient_ids=[a.patient_id for a in alerts], context=context)
    out.scores = repo.scores_for(session, [a.enrolment_id for a in alerts])
    if out.scores:
        authz.audit_list(session, actor, object_type="prediction_score", count=len(out.scores), purpose=PURPOSE,
                         patient_ids=[s.patient_id for s in out.scores.values()], context=context)
    if by_risk:
        out.groups = order_by_risk(out.groups, out.scores)
    return out
