"""``Device`` for the telesurveillance devices lent to patients, and ``Flag`` for telesurveillance alerts.

A device is shown through the patient it is lent to now (``monitoring_device_assignment`` with its
``active_device_id`` set): a device in a team's stock, or back from a patient, is inventory, not patient data, and is
not served. Reading one opens that patient through ``authz`` (purpose telesurveillance, audited).

An alert is a ``Flag`` rather than a ``DetectedIssue``: R4 scopes DetectedIssue to an issue *with clinical actions*
(an interaction, a duplicate therapy, a contraindication) that a mitigation answers, while an alert warns the team
about the patient from their readings until someone closes it: a Flag's "prospective warning about a subject"
(status active while open, inactive once closed, ``period`` from opening to closing)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, false, select

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
    uuid_or_404,
    where_codes,
    where_ids,
    where_patient,
    where_references,
)
from maillage.models.monitoring import (
    MonitoringAlert,
    MonitoringDevice,
    MonitoringDeviceAssignment,
    MonitoringEnrolment,
    MonitoringTeam,
)
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

DEVICE_SYSTEM = "urn:maillage:telesurveillance:device"
DEVICE_KIND = {"device": "Appareil de mesure connecté", "gateway": "Passerelle de télésurveillance"}
CONDITION_SYSTEM = "urn:maillage:telesurveillance:alert-condition"
SEVERITY_EXTENSION = "urn:maillage:fhir:StructureDefinition:alert-severity"
SEVERITY_SYSTEM = "urn:maillage:telesurveillance:alert-severity"
SEVERITY_LABEL = {"red": "Rouge", "orange": "Orange", "green": "Vert"}
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_STATUS = {"open": "active", "closed": "inactive"}


# -- Device

def to_device(device: MonitoringDevice, patient_id: uuid.UUID, establishment_id: uuid.UUID | None) -> Resource:
    resource: Resource = {
        "resourceType": "Device",
        "id": str(device.id),
        "identifier": [{"system": DEVICE_SYSTEM, "value": device.identifier}],
        "status": "active" if device.active else "inactive",
        "deviceName": [{"name": device.label, "type": "user-friendly-name"}],
        "type": {"coding": [{"system": DEVICE_SYSTEM, "code": device.kind}], "text": DEVICE_KIND[device.kind]},
        "patient": {"reference": f"Patient/{patient_id}"},
    }
    if establishment_id is not None:
        resource["owner"] = {"reference": f"Organization/{establishment_id}"}
    if device.gateway_id is not None:
        resource["parent"] = {"reference": f"Device/{device.gateway_id}"}
    return resource


def _lent() -> Select[Any]:
    """Devices lent now, with their patient and the establishment of the team that lends them."""
    d, a, e, t = MonitoringDevice, MonitoringDeviceAssignment, MonitoringEnrolment, MonitoringTeam
    lent: Any = select(d, e.patient_id, t.establishment_id)
    lent = lent.join(a, a.active_device_id == d.id).join(e, e.id == a.enrolment_id)
    return lent.outerjoin(t, t.id == d.team_id)


def read_device(call: Call, resource_id: str) -> Resource:
    found = call.session.execute(_lent().where(MonitoringDevice.id == uuid_or_404(resource_id))).first()
    if found is None:
        raise NotFound()
    device, patient_id, establishment_id = found
    authz.access_patient(call.session, call.actor, patient_id, Purpose.MONITORING, action="read",
                         object_type="monitoring_device", object_id=resource_id, context=call.context)
    return to_device(device, patient_id, establishment_id)


def search_devices(call: Call, query: SearchQuery) -> Page:
    d, e = MonitoringDevice, MonitoringEnrolment
    stmt = _lent().where(e.patient_id.in_(authz.accessible_patients(call.actor)))
    stmt = where_ids(stmt, query, d.id)
    stmt = where_references(stmt, query, e.patient_id, names=("patient",), target="Patient")
    for value in query.params.get("identifier", []):
        token = rules.parse_token(value)
        ok = token.code and token.system in (None, DEVICE_SYSTEM)
        stmt = stmt.where(d.identifier == token.code if ok else false())
    stmt = stmt.order_by(d.id.desc() if query.sort.descending else d.id)
    if query.after is not None:
        try:
            last = uuid.UUID(str(query.after["i"]))
        except (KeyError, TypeError, ValueError):
            raise rules.SearchProblem("Curseur de pagination invalide : repartez du premier lien de la "
                                      "recherche.") from None
        stmt = stmt.where(d.id < last if query.sort.descending else d.id > last)
    rows = call.session.execute(stmt.limit(query.count + 1)).all()
    position = None
    if len(rows) > query.count:
        rows = rows[: query.count]
        position = {"s": ("-" if query.sort.descending else "") + query.sort.key, "i": str(rows[-1][0].id)}
    authz.audit_list(call.session, call.actor, object_type="monitoring_device", count=len(rows),
                     purpose=Purpose.MONITORING, patient_ids=[r[1] for r in rows], context=call.context)
    return Page([to_device(*r) for r in rows], position)


DEVICE = register(ResourceType(
    name="Device",
    read=read_device,
    search=search_devices,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient à qui l'appareil est prêté : Patient/identifiant."),
        SearchParam("identifier", "token", f"Numéro de l'appareil ({DEVICE_SYSTEM}|numéro)."),
    ),
    documentation="Appareils de télésurveillance prêtés en ce moment aux patients que l'appelant suit (un appareil "
                  "en stock n'est pas servi).",
))


# -- Flag

def to_flag(row: MonitoringAlert) -> Resource:
    period = {"start": instant(row.opened_at)}
    if row.closed_at is not None:
        period["end"] = instant(row.closed_at)
    return {
        "resourceType": "Flag",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "extension": [{"url": SEVERITY_EXTENSION,
                       "valueCoding": {"system": SEVERITY_SYSTEM, "code": row.severity,
                                       "display": SEVERITY_LABEL.get(row.severity, row.severity)}}],
        "status": FLAG_STATUS[row.status],
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
        "code": {"coding": [{"system": CONDITION_SYSTEM, "code": row.condition}], "text": row.message},
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "period": period,
    }


def read_flag(call: Call, resource_id: str) -> Resource:
    row = call.session.get(MonitoringAlert, uuid_or_404(resource_id))
    if row is None:
        raise NotFound()
    authz.access_patient(call.session, call.actor, row.patient_id, Purpose.MONITORING, action="read",
                         object_type="monitoring_alert", object_id=resource_id, context=call.context)
    return to_flag(row)


def search_flags(call: Call, query: SearchQuery) -> Page:
    a = MonitoringAlert
    stmt = select(a).where(a.patient_id.in_(authz.accessible_patients(call.actor)))
    stmt = where_ids(stmt, query, a.id)
    stmt = where_patient(stmt, query, a.patient_id)
    stmt = where_codes(stmt, query, a.status, FLAG_STATUS)
    stmt = stmt.where(*repo.date_conditions(a.opened_at, dates(query.params.get("date", []))))
    stmt = stmt.where(*repo.date_conditions(a.updated_at, dates(query.params.get("_lastUpdated", []))))
    sort_column = a.opened_at if query.sort.key == "date" else a.updated_at
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=a.id, id_kind="uuid", after=query.after,
                                      count=query.count)
    authz.audit_list(call.session, call.actor, object_type="monitoring_alert", count=len(rows),
                     purpose=Purpose.MONITORING, patient_ids=[r.patient_id for r in rows], context=call.context)
    return Page([to_flag(r) for r in rows], position)


FLAG = register(ResourceType(
    name="Flag",
    read=read_flag,
    search=search_flags,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("status", "token", "active (alerte ouverte) ou inactive (close)."),
        SearchParam("date", "date", "Ouverture de l'alerte, avec préfixe."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("date", "_lastUpdated"),
    default_sort=rules.Sort("date", True),
    documentation="Alertes de télésurveillance des patients que l'appelant suit (ouvertes : active ; closes : "
                  "inactive).",
))
