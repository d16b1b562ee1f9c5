"""``Practitioner`` and ``Organization`` from the directory (FR Core ``fr-core-practitioner``,
``fr-core-organization``): the RPPS and the IdNat_PS of a professional, the FINESS of an establishment (DOMAIN
§1.3, §1.4). Directory data, not patient data: the role's directory permission opens it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_, select

from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import (
    FR_CORE,
    ID_PARAM,
    LAST_UPDATED_PARAM,
    dates,
    instant,
    uuid_or_404,
    where_ids,
)
from maillage.models.directory import Establishment, Professional
from maillage.security.policy import Permission

RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNAT_PS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
IDENTIFIER_TYPE_V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
FR_IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"


def practitioner(row: Professional) -> Resource:
    identifiers: list[dict[str, Any]] = [{
        "use": "official", "type": {"coding": [{"system": FR_IDENTIFIER_TYPE, "code": "IDNPS"}]},
        "system": IDNAT_PS_SYSTEM, "value": row.national_id,
    }]
    if row.rpps:
        identifiers.append({"use": "official", "type": {"coding": [{"system": IDENTIFIER_TYPE_V2, "code": "RPPS"}]},
                            "system": RPPS_SYSTEM, "value": row.rpps})
    name: dict[str, Any] = {"use": "usual", "family": row.last_name}
    if row.first_name:
        name["given"] = [row.first_name]
    resource: Resource = {
        "resourceType": "Practitioner", "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at), "profile": [f"{FR_CORE}/fr-core-practitioner"]},
        "identifier": identifiers, "active": row.active, "name": [name],
    }
    telecom = [{"system": "phone", "value": row.phone}] if row.phone else []
    if row.mssante:
        telecom.append({"system": "email", "value": row.mssante})
    if telecom:
        resource["telecom"] = telecom
    return resource


def organization(row: Establishment) -> Resource:
    identifiers: list[dict[str, Any]] = []
    if row.finess_et:
        identifiers.append({"use": "official", "type": {"coding": [{"system": FR_IDENTIFIER_TYPE, "code": "FINEG"}]},
                            "system": FINESS_SYSTEM, "value": row.finess_et})
    if row.finess_ej:
        identifiers.append({"use": "official", "type": {"coding": [{"system": FR_IDENTIFIER_TYPE, "code": "FINEJ"}]},
                            "system": FINESS_SYSTEM, "value": row.finess_ej})
    resource: Resource = {
        "resourceType": "Organization", "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at), "profile": [f"{FR_CORE}/fr-core-organization"]},
        "active": row.active, "name": row.name,
    }
    if identifiers:
        resource["identifier"] = identifiers
    if row.parent_id is not None:
        resource["partOf"] = {"reference": f"Organization/{row.parent_id}"}
    if row.phone:
        resource["telecom"] = [{"system": "phone", "value": row.phone}]
    if row.address_line or row.postcode or row.commune_name:
        address: dict[str, Any] = {"use": "work", "country": "FR"}
        if row.address_line:
            address["line"] = [row.address_line]
        if row.postcode:
            address["postalCode"] = row.postcode
        if row.commune_name:
            address["city"] = row.commune_name
        resource["address"] = [address]
    return resource


def read_practitioner(call: Call, resource_id: str) -> Resource:
    row = repo.professional(call.session, uuid_or_404(resource_id))
    if row is None:
        raise NotFound()
    return practitioner(row)


def read_organization(call: Call, resource_id: str) -> Resource:
    row = repo.establishment(call.session, uuid_or_404(resource_id))
    if row is None:
        raise NotFound()
    return organization(row)


def search_practitioners(call: Call, query: SearchQuery) -> Page:
    stmt = select(Professional)
    stmt = where_ids(stmt, query, Professional.id)
    for value in query.params.get("identifier", []):
        token = rules.parse_token(value)
        if token.system == RPPS_SYSTEM and token.code:
            stmt = stmt.where(Professional.rpps == token.code)
        elif token.system == IDNAT_PS_SYSTEM and token.code:
            stmt = stmt.where(Professional.national_id == token.code)
        elif token.system is None and token.code:
            stmt = stmt.where(or_(Professional.rpps == token.code, Professional.national_id == token.code))
        else:
            stmt = stmt.where(false())
    stmt = stmt.where(*repo.date_conditions(Professional.updated_at, dates(query.params.get("_lastUpdated", []))))
    sort_column = Professional.updated_at if query.sort.key == "_lastUpdated" else None
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=Professional.id, id_kind="uuid",
                                      after=query.after, count=query.count)
    return Page([practitioner(r) for r in rows], position)


def search_organizations(call: Call, query: SearchQuery) -> Page:
    stmt = select(Establishment)
    stmt = where_ids(stmt, query, Establishment.id)
    for value in query.params.get("identifier", []):
        token = rules.parse_token(value)
        if token.code and token.system in (None, FINESS_SYSTEM):
            stmt = stmt.where(or_(Establishment.finess_et == token.code, Establishment.finess_ej == token.code))
        else:
            stmt = stmt.where(false())
    stmt = stmt.where(*repo.date_conditions(Establishment.updated_at, dates(query.params.get("_lastUpdated", []))))
    sort_column = Establishment.updated_at if query.sort.key == "_lastUpdated" else None
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=Establishment.id, id_kind="uuid",
                                      after=query.after, count=query.count)
    return Page([organization(r) for r in rows], position)


PRACTITIONER = register(ResourceType(
    name="Practitioner", read=read_practitioner, search=search_practitioners, permission=Permission.DIRECTORY_READ,
    profile=f"{FR_CORE}/fr-core-practitioner",
    search_params=(
        ID_PARAM,
        SearchParam("identifier", "token", f"RPPS ({RPPS_SYSTEM}|…) ou IdNat_PS ({IDNAT_PS_SYSTEM}|…)."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("_lastUpdated",),
    documentation="Professionnels de l'annuaire du territoire.",
))

ORGANIZATION = register(ResourceType(
    name="Organization", read=read_organization, search=search_organizations, permission=Permission.DIRECTORY_READ,
    profile=f"{FR_CORE}/fr-core-organization",
    search_params=(
        ID_PARAM,
        SearchParam("identifier", "token", f"FINESS géographique ou juridique ({FINESS_SYSTEM}|…)."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("_lastUpdated",),
    documentation="Établissements de l'annuaire (FINESS).",
))
