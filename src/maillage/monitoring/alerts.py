"""Alerts from the rule engine's events: an enrolment's effective rules (cached by its settings), the engine's
events turned into alert writes (one open alert per patient and condition, history kept), and an alert closed.

Shared by the ingestion pipeline (``ingest``), the scheduled silence check and triage (``service``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy.orm import Session

from maillage.models.monitoring import MonitoringAlert, MonitoringAlertEvent
from maillage.monitoring import repository as repo
from maillage.monitoring.rules.alerting import RECEIVED, Rule, SilenceRule
from maillage.monitoring.rules.engine import AlertEvent
from maillage.monitoring.rules.overrides import resolve_rules
from maillage.monitoring.rules.programmes import get_programme


class EnrolmentLike(Protocol):
    """What the pipeline needs of an enrolment: an ORM row or a lightweight Core row."""

    id: uuid.UUID
    patient_id: uuid.UUID
    team_id: uuid.UUID
    programme: str
    status: str
    watch_from: dt.datetime


@lru_cache(maxsize=4096)
def _resolved(programme: str, references: str, overrides: str) -> tuple[Rule, ...]:
    return resolve_rules(get_programme(programme), json.loads(references), json.loads(overrides))


def rules_of(enrolment: Any) -> tuple[Rule, ...]:
    """The enrolment's effective rules, cached by its settings (JSON text as the bulk path reads it)."""
    if hasattr(enrolment, "references_text"):
        return _resolved(enrolment.programme, enrolment.references_text or "{}", enrolment.overrides_text or "{}")
    return _resolved(enrolment.programme, json.dumps(enrolment.reference_values or {}, sort_keys=True),
                     json.dumps(enrolment.overrides or {}, sort_keys=True))


@lru_cache(maxsize=4096)
def _silence_keys(resolved: tuple[Rule, ...]) -> frozenset[str]:
    return frozenset(r.key for r in resolved if isinstance(r, SilenceRule))


def plan_events(enrolment: EnrolmentLike, resolved: tuple[Rule, ...], events: Sequence[AlertEvent],
                open_alerts: dict[tuple[uuid.UUID, str], repo.OpenAlertRow], at: dt.datetime,
                writes: repo.AlertWrites) -> int:
    """Turn the engine's events into alert writes: one open alert per patient and condition, history kept.
    ``resolved`` is the enrolment's effective rules (``rules_of``)."""
    raised = 0
    silences = _silence_keys(resolved)
    for ev in events:
        key = (enrolment.id, ev.condition)
        alert = open_alerts.get(key)
        if ev.kind in ("raise", "repeat"):
            if alert is None:
                alert_id = uuid.uuid4()
                writes.inserts[alert_id] = {
                    "id": alert_id, "enrolment_id": enrolment.id, "patient_id": enrolment.patient_id,
                    "team_id": enrolment.team_id, "condition": ev.condition, "severity": ev.severity.value,
                    "silence": ev.condition in silences, "status": "open", "open_key": f"{enrolment.id}:{ev.condition}",
                    "message": ev.message, "source": ev.source, "measure": ev.measure, "value": ev.value,
                    "reading_key": ev.reading_key, "occurrences": 1, "opened_at": at, "last_seen_at": ev.at,
                    "updated_at": at, "closed_at": None, "close_reason": None,
                }
                open_alerts[key] = repo.OpenAlertRow(alert_id, 1, ev.at)
                raised += 1
            elif ev.condition == RECEIVED:
                continue  # an open green stays as it is: no write per reading for "nothing to report"
            else:
                alert.occurrences += 1
                alert.last_seen_at = max(alert.last_seen_at, ev.at)
                change = {"occurrences": alert.occurrences, "last_seen_at": alert.last_seen_at,
                          "message": ev.message, "value": ev.value, "reading_key": ev.reading_key}
                if alert.id in writes.inserts:  # opened earlier in this batch: not in the database yet
                    writes.inserts[alert.id].update(change)
                else:
                    writes.updates[alert.id] = {"id": alert.id, **change}
        elif ev.kind == "clear" and alert is not None:
            if alert.id in writes.inserts:
                writes.inserts[alert.id].update(status="closed", open_key=None, closed_at=at, close_reason="cleared")
            else:
                writes.closes.append(alert.id)
                writes.updates.pop(alert.id, None)
            writes.events.append({"id": uuid.uuid4(), "alert_id": alert.id, "at": at, "kind": "cleared",
                                  "actor_id": None, "comment": None})
            del open_alerts[key]
    return raised


def close_alert(session: Session, alert: MonitoringAlert, at: dt.datetime, *, reason: str,
                actor_id: uuid.UUID | None, comment: str | None, receipt_id: uuid.UUID | None = None) -> None:
    alert.status = "closed"
    alert.open_key = None
    alert.closed_at = at
    alert.closed_by = actor_id
    alert.close_reason = reason
    alert.updated_at = at
    if comment:
        alert.comment = comment
    if receipt_id is not None:
        alert.receipt_id = receipt_id
    session.add(MonitoringAlertEvent(alert_id=alert.id, at=at, kind=reason, actor_id=actor_id, comment=comment))
