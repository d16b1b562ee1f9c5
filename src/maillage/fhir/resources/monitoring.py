"""``EpisodeOfCare`` for telesurveillance enrolments: the patient followed in one programme by one team, from the
start to the end of the prescribed period (status active, on hold while paused, finished once ended)."""

from __future__ import annotations

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
    uuid_or_404,
    where_codes,
    where_ids,
    where_references,
)
from maillage.models.monitoring import MonitoringEnrolment
from maillage.monitoring.rules.programmes import PROGRAMMES
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

PROGRAMME_SYSTEM = "urn:maillage:telesurveillance:programme"
STATUS = {"active": "active", "paused": "onhold", "ended": "finished"}


def to_resource(row: MonitoringEnrolment) -> Resource:
    programme = PROGRAMMES.get(row.programme)
    period = {"start": row.starts_on.isoformat(), "end": row.ends_on.isoformat()}
    if row.ended_at is not None:
        period["end"] = instant(row.ended_at)
        period["start"] = f"{row.starts_on.isoformat()}T00:00:00Z"
    return {
        "resourceType": "EpisodeOfCare",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "status": STATUS.get(row.status, "active"),
        "type": [{"coding": [{"system": PROGRAMME_SYSTEM, "code": row.programme,
                              "display": programme.label if programme else row.programme}]}],
        "patient": {"reference": f"Patient/{row.patient_id}"},
        "period": period,
    }


def read(call: Call, resource_id: str) -> Resource:
    row = repo.enrolment(call.session, uuid_or_404(resource_id))
    if row is None:
        raise NotFound()
    authz.access_patient(call.session, call.actor, row.patient_id, Purpose.MONITORING, action="read",
                         object_type="monitoring_enrolment", object_id=resource_id, context=call.context)
    return to_resource(row)


def search(call: Call, query: SearchQuery) -> Page:
    e = MonitoringEnrolment
    stmt = select(e).where(e.patient_id.in_(authz.accessible_patients(call.actor)))
    stmt = where_ids(stmt, query, e.id)
    stmt = where_references(stmt, query, e.patient_id, names=("patient",), target="Patient")
    stmt = where_codes(stmt, query, e.status, STATUS)
    for value in query.params.get("type", []):
        token = rules.parse_token(value)
        if token.code and token.system in (None, PROGRAMME_SYSTEM):
            stmt = stmt.where(e.programme == token.code)
        else:
            stmt = stmt.where(false())
    stmt = stmt.where(*repo.date_conditions(e.updated_at, dates(query.params.get("_lastUpdated", []))))
    sort_column = e.updated_at if query.sort.key == "_lastUpdated" else None
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=e.id, id_kind="uuid", after=query.after,
                                      count=query.count)
    authz.audit_list(call.session, call.actor, object_type="monitoring_enrolment", count=len(rows),
                     purpose=Purpose.MONITORING, patient_ids=[r.patient_id for r in rows], context=call.context)
    return Page([to_resource(r) for r in rows], position)


EPISODE_OF_CARE = register(ResourceType(
    name="EpisodeOfCare",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant."),
        SearchParam("status", "token", "Statut : active, onhold (suspendue), finished (terminée)."),
        SearchParam("type", "token", f"Programme de télésurveillance ({PROGRAMME_SYSTEM}|heart_failure …)."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("_lastUpdated",),
    documentation="Inclusions en télésurveillance des patients que l'appelant suit.",
))
