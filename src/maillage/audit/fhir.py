"""Audit entries as FHIR R4 ``AuditEvent`` resources, in a ``collection`` Bundle.

Built and validated with the ``fhir.resources.R4B`` models: fhir.resources 8.x defaults to R5, and FHIR
R4B (4.3) keeps the R4 (4.0.1) AuditEvent unchanged, so these resources are valid R4. Codes:
``action`` C/R/U/D/E, ``outcome`` 0 (success), 4 (denied: minor failure), 8 (failure: serious failure),
event types from DICOM (DCM), break-the-glass flagged by the v3 ActReason ``BTG`` purpose.
A list read (a search, "my patients", a worklist) carries every patient it returned as a Patient entity.
The Bundle is written entry by entry, so an export of millions of entries does not sit in memory.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import IO, Any

from fhir.resources.R4B.auditevent import AuditEvent

from maillage.audit.rules import Entry, action_label, format_timestamp
from maillage.security.roles import Role

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
MAILLAGE_ACTION = "urn:maillage:audit:action"
MAILLAGE_USER = "urn:maillage:user"
MAILLAGE_ROLE = "urn:maillage:role"
MAILLAGE_PURPOSE = "urn:maillage:purpose"
MAILLAGE_ESTABLISHMENT = "urn:maillage:establishment"
MAILLAGE_OBJECT = "urn:maillage:object:"

# AuditEvent.action (http://hl7.org/fhir/audit-event-action): anything not listed is E (execute).
ACTION_CODES: dict[str, str] = {
    "create": "C", "upload": "C", "import": "C",
    "read": "R", "view": "R", "download": "R", "print": "R", "export": "R",
    "update": "U", "sign": "U", "dispense": "U", "merge": "U",
    "delete": "D", "purge": "D",
}

# AuditEvent.outcome (http://hl7.org/fhir/audit-event-outcome).
OUTCOME_CODES: dict[str, str] = {"success": "0", "denied": "4", "failure": "8"}
OUTCOME_DESCRIPTIONS: dict[str, str] = {"denied": "Accès refusé", "failure": "Échec de l'opération"}

# Purposes that have a v3 ActReason code; others keep their own code under MAILLAGE_PURPOSE.
PURPOSE_CODES: dict[str, tuple[str, str]] = {
    "care": ("TREAT", "treatment"),
    "treatment": ("TREAT", "treatment"),
    "emergency": ("ETREAT", "Emergency Treatment"),
    "coordination": ("CAREMGT", "care management"),
    "billing": ("HPAYMT", "healthcare payment"),
    "operations": ("HOPERAT", "healthcare operations"),
    "research": ("HRESCH", "healthcare research"),
    "public_health": ("PUBHLTH", "public health"),
    "patient_request": ("PATRQT", "patient requested"),
    "audit": ("HSYSADMIN", "health system administration"),
}


def event_type(entry: Entry) -> dict[str, str]:
    action = entry["action"]
    if action in ("login", "logout"):
        return {"system": DCM, "code": "110114", "display": "User Authentication"}
    if action == "export":
        return {"system": DCM, "code": "110106", "display": "Export"}
    if entry["object_type"] in ("audit", "audit_anchor"):
        return {"system": DCM, "code": "110101", "display": "Audit Log Used"}
    if action == "search":
        return {"system": DCM, "code": "110112", "display": "Query"}
    if entry["patient_id"]:
        return {"system": DCM, "code": "110110", "display": "Patient Record"}
    return {"system": DCM, "code": "110100", "display": "Application Activity"}


def _role_label(role: str) -> str:
    try:
        return Role(role).label
    except ValueError:
        return role


def _agent(entry: Entry) -> dict[str, Any]:
    agent: dict[str, Any] = {"requestor": True}
    if entry["actor_id"]:
        agent["who"] = {"identifier": {"system": MAILLAGE_USER, "value": entry["actor_id"]}}
    else:
        agent["who"] = {"display": "Maillage (système)"}
    if entry["actor_role"]:
        label = _role_label(entry["actor_role"])
        agent["role"] = [{"coding": [{"system": MAILLAGE_ROLE, "code": entry["actor_role"], "display": label}],
                          "text": label}]
    if entry["establishment_id"]:
        agent["location"] = {"identifier": {"system": MAILLAGE_ESTABLISHMENT, "value": entry["establishment_id"]},
                             "display": "Établissement de l'acteur"}
    if entry["address"]:
        agent["network"] = {"address": entry["address"], "type": "2"}
    return agent


def _purposes(entry: Entry) -> list[dict[str, Any]]:
    purposes: list[dict[str, Any]] = []
    purpose = entry["purpose"]
    if purpose:
        code, display = PURPOSE_CODES.get(purpose, (purpose, purpose))
        system = ACT_REASON if purpose in PURPOSE_CODES else MAILLAGE_PURPOSE
        purposes.append({"coding": [{"system": system, "code": code, "display": display}], "text": purpose})
    if entry["break_glass"]:
        btg: dict[str, Any] = {"coding": [{"system": ACT_REASON, "code": "BTG", "display": "break the glass"}]}
        if entry["reason"]:
            btg["text"] = entry["reason"]
        purposes.append(btg)
    return purposes


def _detail_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text.strip() else None


def _patient_entity(patient_id: str) -> dict[str, Any]:
    return {
        "what": {"reference": f"Patient/{patient_id}"},
        "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
        "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
    }


def _entities(entry: Entry) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if entry["patient_id"]:
        entities.append(_patient_entity(entry["patient_id"]))
    # A list read: every patient it returned (audit_entry_patient), each a Patient entity of the event.
    entities.extend(_patient_entity(pid) for pid in entry.get("list_patients") or () if pid != entry["patient_id"])
    what: dict[str, Any] = {"display": entry["object_type"]}
    if entry["object_id"]:
        what["identifier"] = {"system": MAILLAGE_OBJECT + entry["object_type"], "value": entry["object_id"]}
    details: list[dict[str, str]] = []
    pairs: list[tuple[str, Any]] = [("chain_seq", entry["seq"]), ("chain_hash", entry["hash"]),
                                    ("request_id", entry["request_id"])]
    pairs.extend(sorted((entry["details"] or {}).items()))
    for key, value in pairs:
        text = _detail_value(value)
        if text is not None:
            details.append({"type": key, "valueString": text})
    entities.append({
        "what": what,
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "detail": details,
    })
    return entities


def to_audit_event(entry: Entry) -> AuditEvent:
    """One stored entry as a validated R4 AuditEvent (raises pydantic's ValidationError if it cannot be)."""
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry["id"]),
        "type": event_type(entry),
        "subtype": [{"system": MAILLAGE_ACTION, "code": entry["action"], "display": action_label(entry["action"])}],
        "action": ACTION_CODES.get(entry["action"], "E"),
        "recorded": format_timestamp(entry["occurred_at"]),
        "outcome": OUTCOME_CODES[entry["outcome"]],
        "agent": [_agent(entry)],
        "source": {
            "site": "Maillage",
            "observer": {"display": "Maillage"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": _entities(entry),
    }
    if entry["outcome"] in OUTCOME_DESCRIPTIONS:
        resource["outcomeDesc"] = OUTCOME_DESCRIPTIONS[entry["outcome"]]
    purposes = _purposes(entry)
    if purposes:
        resource["purposeOfEvent"] = purposes
    return AuditEvent.model_validate(resource)


def write_bundle(entries: Iterable[Entry], out: IO[str], *, timestamp: dt.datetime) -> int:
    """Write a ``collection`` Bundle of AuditEvents to ``out``, one entry at a time. Returns the entry count."""
    header = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "collection",
              "timestamp": format_timestamp(timestamp)}
    out.write(json.dumps(header, ensure_ascii=False)[:-1])
    count = 0
    for entry in entries:
        event = to_audit_event(entry)
        out.write(',"entry":[' if count == 0 else ",")
        out.write(f'{{"fullUrl":"urn:uuid:{entry["id"]}","resource":')
        out.write(event.model_dump_json())
        out.write("}")
        count += 1
    out.write("]}" if count else "}")
    out.write("\n")
    return count
