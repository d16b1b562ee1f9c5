"""``Observation`` from the telesurveillance readings (``monitoring_reading``): LOINC code (or Maillage's local
code for the measures LOINC has none for), value in the programme's canonical UCUM unit, the patient, the instant
the device took it. FR Core profiles the vital signs (``fr-core-observation-...``); the base R4 vital-signs
category is given where it applies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, select

from maillage.authz import service as authz
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import (
    ID_PARAM,
    LAST_UPDATED_PARAM,
    dates,
    instant,
    where_ids,
    where_patient,
)
from maillage.models.monitoring import MonitoringReading
from maillage.monitoring.rules.measures import MEASURES, UCUM
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
VITAL_SIGNS = frozenset({"weight", "spo2", "systolic", "diastolic", "heart_rate", "respiratory_rate"})
LABORATORY = frozenset({"glucose", "creatinine"})
STATUS = "final"  # a stored reading is final: ingestion accepts only final, amended and corrected


def to_resource(row: MonitoringReading) -> Resource:
    measure = MEASURES.get(row.measure)
    resource: Resource = {
        "resourceType": "Observation",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.received_at)},
        "status": STATUS,
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "effectiveDateTime": instant(row.taken_at),
        "issued": instant(row.received_at),
    }
    category = "vital-signs" if row.measure in VITAL_SIGNS else "laboratory" if row.measure in LABORATORY else None
    if category:
        resource["category"] = [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}]
    if measure is not None:
        coding = {"system": measure.system, "code": measure.code, "display": measure.label}
        resource["code"] = {"coding": [coding], "text": measure.label}
        quantity: dict[str, Any] = {"value": round(row.value, measure.decimals) if measure.decimals else row.value,
                                    "unit": measure.unit_label, "system": UCUM, "code": measure.unit}
    else:
        resource["code"] = {"text": row.measure}
        quantity = {"value": row.value, "unit": row.unit}
    resource["valueQuantity"] = quantity
    return resource


def reading_id(text: str) -> int:
    """A reading's id (a positive 64-bit integer); anything else cannot name one (``ValueError``)."""
    if not text.isdigit() or len(text) > 18:
        raise ValueError(text)
    return int(text)


def read(call: Call, resource_id: str) -> Resource:
    try:
        row = repo.reading(call.session, reading_id(resource_id))
    except ValueError:
        raise NotFound() from None
    if row is None:
        raise NotFound()
    authz.access_patient(call.session, call.actor, row.patient_id, Purpose.MONITORING, action="read",
                         object_type="observation", object_id=resource_id, context=call.context)
    return to_resource(row)


def measures_for(value: str) -> list[str]:
    """The measures a ``code`` token names: any of each measure's codes (not only the one Maillage emits)."""
    token = rules.parse_token(value)
    found = []
    for measure in MEASURES.values():
        for system, code in measure.codes:
            if (token.code is None or token.code == code) and (token.system is None or token.system == system):
                found.append(measure.key)
                break
    return found


def search(call: Call, query: SearchQuery) -> Page:
    stmt = select(MonitoringReading).where(MonitoringReading.patient_id.in_(authz.accessible_patients(call.actor)))
    stmt = where_ids(stmt, query, MonitoringReading.id, reading_id)
    stmt = where_patient(stmt, query, MonitoringReading.patient_id)
    for value in query.params.get("code", []):
        keys = [k for part in value.split(",") for k in measures_for(part)]
        stmt = stmt.where(MonitoringReading.measure.in_(keys) if keys else false())
    for value in query.params.get("status", []):
        if STATUS not in value.split(","):
            stmt = stmt.where(false())
    stmt = stmt.where(*repo.date_conditions(MonitoringReading.taken_at, dates(query.params.get("date", []))))
    stmt = stmt.where(*repo.date_conditions(MonitoringReading.received_at,
                                            dates(query.params.get("_lastUpdated", []))))
    sort_column = MonitoringReading.received_at if query.sort.key == "_lastUpdated" else MonitoringReading.taken_at
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=MonitoringReading.id, id_kind="int",
                                      after=query.after, count=query.count)
    authz.audit_list(call.session, call.actor, object_type="observation", count=len(rows), purpose=Purpose.MONITORING,
                     patient_ids=sorted({r.patient_id for r in rows}), context=call.context)
    return Page([to_resource(r) for r in rows], position)


OBSERVATION = register(ResourceType(
    name="Observation",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    profile="http://hl7.org/fhir/StructureDefinition/vitalsigns",
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant (plusieurs séparés par des virgules)."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("date", "date", "Date de la mesure, avec préfixe eq, ge, gt, le ou lt."),
        SearchParam("code", "token", "Code de la mesure : système|code (LOINC http://loinc.org) ou code seul."),
        SearchParam("status", "token", "Statut : les mesures enregistrées sont toutes final."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("date", "_lastUpdated"),
    default_sort=rules.Sort("date", True),
    documentation="Mesures de télésurveillance des patients que l'appelant suit.",
))
