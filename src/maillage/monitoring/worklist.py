"""The nurses' worklist: the open alerts of the patients the nurse may see, by colour (red, orange, missing data,
green), with the risk band of each patient that has a score, read in the alerts' own statement; audited as list
reads, the scores shown included. A score's factors are not part of the list: they are read, and audited, when the
nurse opens them (``risk_factors``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.exceptions import NotFound, PermissionDenied
from maillage.models.monitoring import MonitoringAlert
from maillage.models.prediction import PredictionScore
from maillage.monitoring import repository as repo
from maillage.monitoring.repository import ShownScore
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
    scores: dict[uuid.UUID, ShownScore] = field(default_factory=dict)  # by enrolment
    by_risk: bool = False

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.groups.values())


def order_by_risk(groups: dict[str, list[MonitoringAlert]],
                  scores: dict[uuid.UUID, ShownScore]) -> dict[str, list[MonitoringAlert]]:
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
    rows = repo.worklist_scored(session, authz.accessible_patients(actor))
    out = Worklist({g: [] for g in WORKLIST_GROUPS}, by_risk=by_risk)
    for alert, score in rows:
        out.groups[worklist_group(alert)].append(alert)
        if score is not None:
            out.scores[alert.enrolment_id] = score
    authz.audit_list(session, actor, object_type="monitoring_alert", count=len(rows), purpose=PURPOSE,
                     patient_ids=[alert.patient_id for alert, _ in rows], context=context)
    if out.scores:
        authz.audit_list(session, actor, object_type="prediction_score", count=len(out.scores), purpose=PURPOSE,
                         patient_ids=[s.patient_id for s in out.scores.values()], context=context)
    if by_risk:
        out.groups = order_by_risk(out.groups, out.scores)
    return out


def risk_factors(session: Session, actor: Actor, enrolment_id: uuid.UUID,
                 context: AuditContext | None = None) -> PredictionScore:
    """One patient's score with its top factors, when the nurse opens them in the worklist: the patient's access is
    checked and the read audited (a score the nurse may not see answers like a missing one)."""
    if not role_allows(actor.role, Permission.MONITORING_TRIAGE):
        raise PermissionDenied()
    score = repo.score_of(session, enrolment_id)
    if score is None:
        raise NotFound()
    authz.access_patient(session, actor, score.patient_id, PURPOSE, action="read", object_type="prediction_score",
                         object_id=str(enrolment_id), permission=Permission.MONITORING_TRIAGE, context=context)
    return score
