"""``Consent``: what the platform records of a patient's consent, from three places, each row its own resource:

- the patient's recorded choices (``patient.consent``): a consent or an objection per purpose (tele-expertise,
  teleconsultation, telesurveillance, reuse of data), rows only added; the latest per purpose is active, the earlier
  ones inactive;
- ``monitoring_enrolment.consent_at``: the consent to a telesurveillance enrolment, for its period (inactive once
  the enrolment ended);
- ``teleconsultation_appointment.consent_at``: the patient's consent given when entering the waiting room.

A telemedicine act needs the patient's free and informed consent (CSP art. R6316-2); reuse of data for steering and
research runs unless the patient objects (GDPR art. 21): the first are ``permit`` under scope ``treatment``, the
objection to reuse a ``deny`` under scope ``research``. Every read opens the patient through ``authz`` (audited); a
search is scoped to the care relationships and audited as a list of its patients."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String, literal, select, union_all

from maillage.authz import service as authz
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import (
    ID_PARAM,
    dates,
    instant,
    uuid_or_404,
    where_codes,
    where_ids,
    where_patient,
)
from maillage.models.monitoring import MonitoringEnrolment
from maillage.models.teleconsultation import TeleconsultationAppointment
from maillage.patient import consent as patient_consents
from maillage.patient.schemas import ConsentPurpose
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
PURPOSE_SYSTEM = "urn:maillage:consent:purpose"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
POLICY = {
    "data_reuse": "RGPD art. 21 : droit d'opposition à la réutilisation des données (pilotage et recherche)",
}
TELEMEDICINE_POLICY = "CSP art. R6316-2 : consentement libre et éclairé à l'acte de télémédecine"
AUDIT_PURPOSE = {"patient_consent": Purpose.CARE, "telesurveillance": Purpose.MONITORING,
                 "teleconsultation": Purpose.TELECONSULTATION}


def _union() -> Any:
    """Every consent the platform records, one row shape: id, patient, origin, purpose, decision, when, active."""
    e, a = MonitoringEnrolment, TeleconsultationAppointment
    recorded = patient_consents.records_select()
    enrolments = select(e.id, e.patient_id, literal("telesurveillance", String), literal("telesurveillance", String),
                        literal("consent", String), e.consent_at, e.status != "ended")
    appointments = select(a.id, a.patient_id, literal("teleconsultation", String), literal("teleconsultation", String),
                          literal("consent", String), a.consent_at, literal(True)).where(a.consent_at.is_not(None))
    return union_all(recorded, enrolments, appointments).subquery("consent")


def to_resource(row: Any) -> Resource:
    research = row.purpose == ConsentPurpose.DATA_REUSE.value
    label = ConsentPurpose(row.purpose).label if row.purpose in {p.value for p in ConsentPurpose} else row.purpose
    at: dt.datetime = row.at
    resource: Resource = {
        "resourceType": "Consent",
        "id": str(row.id),
        "status": "active" if row.active else "inactive",
        "scope": {"coding": [{"system": SCOPE_SYSTEM, "code": "research" if research else "treatment"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]},
                     {"coding": [{"system": PURPOSE_SYSTEM, "code": row.purpose, "display": label}]}],
        "patient": {"reference": f"Patient/{row.patient_id}"},
        "dateTime": instant(at),
        "policyRule": {"text": POLICY.get(row.purpose, TELEMEDICINE_POLICY)},
        "provision": {"type": "permit" if row.decision == "consent" else "deny",
                      "purpose": [{"system": ACT_REASON, "code": "HRESCH" if research else "TREAT"}]},
    }
    if row.origin == "telesurveillance":
        resource["sourceReference"] = {"reference": f"EpisodeOfCare/{row.id}"}
    elif row.origin == "teleconsultation":
        resource["sourceReference"] = {"reference": f"Encounter/{row.id}"}
    return resource


def read(call: Call, resource_id: str) -> Resource:
    u = _union()
    row = call.session.execute(select(u).where(u.c.id == uuid_or_404(resource_id))).first()
    if row is None:
        raise NotFound()
    authz.access_patient(call.session, call.actor, row.patient_id, AUDIT_PURPOSE[row.origin], action="read",
                         object_type="consent", object_id=resource_id, context=call.context)
    return to_resource(row)


def search(call: Call, query: SearchQuery) -> Page:
    u = _union()
    stmt = select(u).where(u.c.patient_id.in_(authz.accessible_patients(call.actor)))
    stmt = where_ids(stmt, query, u.c.id)
    stmt = where_patient(stmt, query, u.c.patient_id)
    stmt = where_codes(stmt, query, u.c.active, {True: "active", False: "inactive"})
    stmt = stmt.where(*repo.date_conditions(u.c.at, dates(query.params.get("date", []))))
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=u.c.at, sort_kind="datetime",
                                      id_column=u.c.id, id_kind="uuid", after=query.after, count=query.count,
                                      keyed=lambda row: row)
    authz.audit_list(call.session, call.actor, object_type="consent", count=len(rows), purpose=Purpose.CARE,
                     patient_ids=[r.patient_id for r in rows], context=call.context)
    return Page([to_resource(r) for r in rows], position)


CONSENT = register(ResourceType(
    name="Consent",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant."),
        SearchParam("status", "token", "active (le choix en vigueur) ou inactive (remplacé, ou inclusion terminée)."),
        SearchParam("date", "date", "Date du recueil, avec préfixe."),
    ),
    sorts=("date",),
    default_sort=rules.Sort("date", True),
    documentation="Consentements et oppositions des patients que l'appelant suit : recueillis par finalité, à "
                  "l'inclusion en télésurveillance, à l'entrée en téléconsultation.",
))
