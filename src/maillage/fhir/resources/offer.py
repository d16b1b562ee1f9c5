"""``HealthcareService`` for the offer catalogue's specialty lines (tele-expertise and teleconsultation): what a
client names as the ``performer`` of a tele-expertise ``ServiceRequest``. Directory data: the role's directory
permission opens it; only published lines are shown."""

from __future__ import annotations

from sqlalchemy import false, select

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
    where_ids,
    where_references,
)
from maillage.models.directory import SpecialtyLine
from maillage.security.policy import Permission

SPECIALTY_SYSTEM = "urn:maillage:directory:specialty"
SERVICE_TYPE = "urn:maillage:offer:modality"


def to_resource(row: SpecialtyLine) -> Resource:
    modalities = [m for m, on in (("teleexpertise", row.teleexpertise), ("teleconsultation", row.teleconsultation))
                  if on]
    resource: Resource = {
        "resourceType": "HealthcareService", "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "active": row.active,
        "providedBy": {"reference": f"Organization/{row.establishment_id}"},
        "type": [{"coding": [{"system": SERVICE_TYPE, "code": m}]} for m in modalities],
        "specialty": [{"coding": [{"system": SPECIALTY_SYSTEM, "code": row.specialty_code}]}],
        "name": row.title,
    }
    if row.summary:
        resource["comment"] = row.summary
    if row.phone:
        resource["telecom"] = [{"system": "phone", "value": row.phone}]
    return resource


def read(call: Call, resource_id: str) -> Resource:
    row = repo.line(call.session, uuid_or_404(resource_id))
    if row is None or not row.published:
        raise NotFound()
    return to_resource(row)


def search(call: Call, query: SearchQuery) -> Page:
    line = SpecialtyLine
    stmt = select(line).where(line.published.is_(True))
    stmt = where_ids(stmt, query, line.id)
    for value in query.params.get("specialty", []):
        token = rules.parse_token(value)
        ok = token.code and token.system in (None, SPECIALTY_SYSTEM)
        stmt = stmt.where(line.specialty_code == token.code if ok else false())
    for value in query.params.get("service-type", []):
        token = rules.parse_token(value)
        column = {"teleexpertise": line.teleexpertise, "teleconsultation": line.teleconsultation}.get(token.code or "")
        ok = column is not None and token.system in (None, SERVICE_TYPE)
        stmt = stmt.where(column.is_(True) if ok and column is not None else false())
    stmt = where_references(stmt, query, line.establishment_id, names=("organization",), target="Organization")
    stmt = stmt.where(*repo.date_conditions(line.updated_at, dates(query.params.get("_lastUpdated", []))))
    sort_column = line.updated_at if query.sort.key == "_lastUpdated" else None
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=line.id, id_kind="uuid", after=query.after,
                                      count=query.count)
    return Page([to_resource(r) for r in rows], position)


HEALTHCARE_SERVICE = register(ResourceType(
    name="HealthcareService", read=read, search=search, permission=Permission.DIRECTORY_READ,
    search_params=(
        ID_PARAM,
        SearchParam("specialty", "token", f"Spécialité ({SPECIALTY_SYSTEM}|code)."),
        SearchParam("service-type", "token", f"Modalité ({SERVICE_TYPE}|teleexpertise ou teleconsultation)."),
        SearchParam("organization", "reference", "L'établissement : Organization/identifiant."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("_lastUpdated",),
    documentation="Lignes de spécialité publiées de l'offre de télémédecine.",
))
