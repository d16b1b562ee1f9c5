"""One ingestion pipeline for the three ways in (compact JSON batch, FHIR Observation/Bundle, MQTT).

For a batch sent by an authenticated device or gateway:

1. the sending device must be registered in telesurveillance; a reading may name a device behind it (gateway);
2. each reading is checked and converted to its measure's canonical unit (``normalise``); an impossible
   value is refused with a French reason, the others go on;
3. each reading is attributed to the enrolment its device was assigned to when it was taken;
4. readings are inserted with ``ON CONFLICT (device_id, external_id) DO NOTHING``: a replay (a retried batch,
   an MQTT redelivery) is acknowledged as a duplicate and stored once;
5. the inserted readings go through the incremental rule engine, per enrolment, under a row lock of the
   enrolment's rule state; a paused or ended enrolment's readings are stored, marked, and not alerted on;
6. one audit entry for the whole batch (ids and counts, never values): not one per reading.

The caller commits (the HTTP unit of work before it answers, the MQTT bridge before it acknowledges): an
acknowledged reading is durable.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.auth.tokens import DeviceActor
from maillage.exceptions import PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.monitoring import live
from maillage.monitoring import repository as repo
from maillage.monitoring.alerts import plan_events, rules_of
from maillage.monitoring.rules.engine import PatientState, evaluate, silence_due_at
from maillage.monitoring.rules.measures import MEASURES, Reading, ReadingRejected, normalise
from maillage.monitoring.schemas import COMPACT_BATCH, BatchIn
from maillage.security.context import AuditContext

log = get_logger("maillage.monitoring.ingest")


class Incoming(NamedTuple):
    """One reading as received, before any check. ``external_id`` is the device's own id for it. A named tuple:
    a batch builds thousands, and a large batch crosses to its child process as plain tuples (``packed``)."""

    index: int  # type: ignore[assignment]  # the position in the batch; shadows tuple.index, never called
    external_id: str
    code: str
    value: Any
    at: str | dt.datetime
    unit: str | None = None
    system: str | None = None
    device: str | None = None
    subject: uuid.UUID | None = None  # a FHIR Observation's subject, checked against the assignment

    def packed(self) -> tuple[Any, ...]:
        """The fields as a plain tuple, ``Incoming(*packed)`` rebuilds it: pickled, a named tuple is rebuilt
        through its class one by one, ten times slower than a plain tuple."""
        return tuple(self)


def compact_items(raw: bytes) -> list[Incoming]:
    """The readings of a compact batch, parsed and validated from its JSON bytes in one pass of pydantic-core
    (``schemas.BatchIn``). Raises ``pydantic.ValidationError``.

    Networked JSON is UTF-8 (RFC 8259 §8.1), which pydantic-core reads; a byte order mark before it, which a parser
    "MAY ignore" (same section) and ``json.loads`` did when FastAPI parsed the body, is skipped. UTF-16 or UTF-32 is
    refused with that reason rather than as an unreadable first character."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    elif json.detect_encoding(raw) != "utf-8":
        reason = PydanticCustomError("json_encoding", "Document JSON attendu en UTF-8 (RFC 8259, § 8.1).")
        raise ValidationError.from_exception_data("BatchIn", [InitErrorDetails(type=reason, loc=(), input=None)])
    return batch_items(COMPACT_BATCH.validate_json(raw))


def batch_items(batch: BatchIn) -> list[Incoming]:
    """The readings of a validated compact batch."""
    return [Incoming(i, r["id"], r["code"], r["value"], r["at"], r.get("unit"), r.get("system"), r.get("device"))
            for i, r in enumerate(batch["readings"])]


@dataclass
class Outcome:
    index: int
    id: str
    outcome: str  # stored | duplicate | rejected
    code: str | None = None
    message: str | None = None

    def to_reply(self) -> dict[str, Any]:
        """Index, id and outcome; the refusal's code and message when there is one."""
        if self.code is None and self.message is None:
            return {"index": self.index, "id": self.id, "outcome": self.outcome}
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class IngestResult:
    batch_id: uuid.UUID
    outcomes: list[Outcome]
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    alerts_raised: int = 0

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled with its outcomes as plain tuples (a batch child sends its result to the serve process): pickling
        a thousand dataclasses one by one cost ten times more."""
        packed = [(o.index, o.id, o.outcome, o.code, o.message) for o in self.outcomes]
        return _unpack_result, (self.batch_id.bytes, packed, self.accepted, self.duplicates, self.rejected,
                                self.alerts_raised)

    def to_reply(self) -> dict[str, Any]:
        return {
            "batch": str(self.batch_id), "accepted": self.accepted, "duplicates": self.duplicates,
            "rejected": self.rejected,
            "results": [o.to_reply() for o in self.outcomes],
        }


def _unpack_result(batch_id: bytes, packed: list[tuple[Any, ...]], *counts: int) -> IngestResult:
    return IngestResult(uuid.UUID(bytes=batch_id), [Outcome(*o) for o in packed], *counts)


def _parse_time(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        at = value
    else:
        try:
            at = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ReadingRejected("time_invalid", "Date et heure de la mesure illisibles (ISO 8601 attendu).") from None
    if at.tzinfo is None:
        raise ReadingRejected("time_without_zone", "L'heure de la mesure doit porter son fuseau horaire.")
    return at


def _assignment_at(assignments: Sequence[Any], at: dt.datetime) -> Any:
    found = None
    for row in assignments:
        if row.starts_at <= at and (row.ends_at is None or at < row.ends_at):
            found = row
    return found


def ingest(session: Session, device: DeviceActor, items: Sequence[Incoming], *, all_or_nothing: bool = False,
           context: AuditContext | None = None, channel: str = "batch") -> IngestResult:
    """Check, store and evaluate a batch of readings sent by ``device``. Flushes; the caller commits."""
    received_at = now()
    devices, assignments = repo.devices_with_assignments(
        session, {device.device_identifier} | {i.device for i in items if i.device})
    src = devices.get(device.device_identifier)
    if src is None or not src.active:
        raise PermissionDenied("Cet appareil n'est pas enregistré en télésurveillance.")
    result = IngestResult(uuid.uuid4(), [])
    allowed = {ident: d for ident, d in devices.items() if d.active and (d.id == src.id or d.gateway_id == src.id)}
    by_device = {d.id: assignments.get(d.id, []) for d in allowed.values()}

    rows: list[dict[str, Any]] = []
    pending: dict[tuple[uuid.UUID, str], tuple[int, Incoming, Reading, Any]] = {}
    outcomes: dict[int, Outcome] = {}  # by position in ``items``
    for position, item in enumerate(items):
        try:
            target = allowed.get(item.device or src.identifier)
            if target is None:
                raise ReadingRejected("device_not_allowed", "Appareil inconnu ou non rattaché à cette passerelle.")
            taken_at = _parse_time(item.at)
            reading = normalise(item.code, item.system, item.value, item.unit, taken_at, received_at,
                                      item.external_id)
            enrolment = _assignment_at(by_device.get(target.id, ()), reading.taken_at)
            if enrolment is None:
                raise ReadingRejected("device_not_assigned", "Aucun patient n'était équipé de cet appareil à l'heure "
                                                             "de la mesure.")
            if item.subject is not None and item.subject != enrolment.patient_id:
                raise ReadingRejected("subject_mismatch", "Le patient indiqué n'est pas celui équipé de cet appareil.")
        except ReadingRejected as exc:
            outcomes[position] = Outcome(item.index, item.external_id, "rejected", exc.code, exc.message)
            continue
        key = (target.id, item.external_id)
        if key in pending:
            outcomes[position] = Outcome(item.index, item.external_id, "duplicate")
            continue
        pending[key] = (position, item, reading, enrolment)
        measure = MEASURES[reading.measure]
        rows.append({
            "device_id": target.id, "external_id": item.external_id, "enrolment_id": enrolment.id,
            "patient_id": enrolment.patient_id, "measure": reading.measure, "value": reading.value,
            "unit": measure.unit, "original_value": float(item.value),
            "original_unit": (item.unit or measure.unit)[:24], "taken_at": reading.taken_at,
            "local_day": reading.day, "received_at": received_at,
            "status": "monitored" if enrolment.status == "active" else enrolment.status,
        })

    rejected = [o for o in outcomes.values() if o.outcome == "rejected"]
    if all_or_nothing and rejected:
        raise ValidationFailed("Transaction refusée : au moins une mesure est invalide ; rien n'a été enregistré.",
                               details=[{"field": f"entry[{o.index}]", "message": o.message, "code": o.code}
                                        for o in rejected])

    # One lock order for every batch (device, reading id): overlapping batches wait, they never deadlock.
    rows.sort(key=lambda r: (r["device_id"].int, r["external_id"]))
    inserted = repo.insert_readings_bulk(session, rows)
    fresh: dict[uuid.UUID, list[Reading]] = defaultdict(list)
    enrolments: dict[uuid.UUID, Any] = {}
    for key, (position, item, reading, enrolment) in pending.items():
        if key in inserted:
            outcomes[position] = Outcome(item.index, item.external_id, "stored")
            fresh[enrolment.id].append(reading)
            enrolments[enrolment.id] = enrolment
        else:
            outcomes[position] = Outcome(item.index, item.external_id, "duplicate")

    alerts_changed = False
    if fresh:
        result.alerts_raised, alerts_changed = _evaluate(session, enrolments, fresh)
    result.outcomes = [outcomes[p] for p in range(len(items))]
    result.accepted = sum(1 for o in result.outcomes if o.outcome == "stored")
    result.duplicates = sum(1 for o in result.outcomes if o.outcome == "duplicate")
    result.rejected = len(rejected)
    patients = {e.patient_id for e in enrolments.values()}
    record(session, action="ingest", object_type="monitoring_batch", object_id=str(result.batch_id),
           patient_id=str(next(iter(patients))) if len(patients) == 1 else None,
           actor_id=str(device.credential_id), actor_role="device",
           establishment_id=str(device.establishment_id) if device.establishment_id else None,
           purpose="monitoring", context=context,
           details={"channel": channel, "device_id": str(src.id), "readings": len(items), "accepted": result.accepted,
                    "duplicates": result.duplicates, "rejected": result.rejected, "patients": len(patients),
                    "alerts_raised": result.alerts_raised})
    if alerts_changed:  # the worklist shows alerts only: a reading that changed none has nothing to push
        live.changed_on_commit(session)
    log.info("monitoring.ingest", batch_id=str(result.batch_id), device_id=str(src.id), channel=channel,
             accepted=result.accepted, duplicates=result.duplicates, rejected=result.rejected)
    return result


def _uuid_order(value: uuid.UUID) -> int:
    return value.int  # the UUIDs' own order, compared as integers rather than by UUID.__lt__


def _evaluate(session: Session, enrolments: dict[uuid.UUID, Any],
              fresh: dict[uuid.UUID, list[Reading]]) -> tuple[int, bool]:
    """Run the engine on the fresh readings; the number of alerts raised, and whether any alert changed."""
    states = repo.lock_state_rows(session, fresh)
    open_alerts = repo.open_alert_rows(session, fresh)
    at = now()
    saves: list[tuple[uuid.UUID, dict[str, Any], Any, Any]] = []
    writes = repo.AlertWrites()
    raised = 0
    for enrolment_id in sorted(fresh, key=_uuid_order):
        enrolment = enrolments[enrolment_id]
        stored_state = states.get(enrolment_id)
        resolved = rules_of(enrolment)
        evaluation = evaluate(resolved, PatientState.from_json(stored_state), fresh[enrolment_id],
                                    alerting=enrolment.status == "active", owned=True)
        raised += plan_events(enrolment, resolved, evaluation.events, open_alerts, at, writes)
        if stored_state is not None:
            saves.append((enrolment_id, evaluation.state.to_json(),
                          silence_due_at(resolved, evaluation.state, enrolment.watch_from), at))
    repo.write_alerts(session, writes, at)
    repo.save_state_rows(session, saves)
    return raised, bool(writes.inserts or writes.updates or writes.closes or writes.events)
