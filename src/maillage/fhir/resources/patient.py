"""``Patient`` from the patient table (FR Core ``fr-core-patient``; ``fr-core-patient-ins`` when the identity is
qualified). The INS (matricule and its OID) is given only for a qualified identity (``patient.rules
.can_share_matricule``, DOMAIN §1.2); otherwise the record's local identifier alone."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import false, select

from maillage.authz import service as authz
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import FR_CORE, ID_PARAM, LAST_UPDATED_PARAM, dates, ids_of, instant, uuid_or_404
from maillage.models.patient import Patient
from maillage.patient.rules import IdentityStatus, can_share_matricule
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

LOCAL_SYSTEM = "urn:ietf:rfc:3986"  # the record's id as a URN (urn:uuid:…): stable, meaningless outside Maillage
INS_NIA_OID = "1.2.250.1.213.1.4.9"
IDENTIFIER_TYPES = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
GENDER = {"M": "male", "F": "female"}


def identifiers(row: Patient) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"use": "usual", "system": LOCAL_SYSTEM, "value": f"urn:uuid:{row.id}"}]
    if row.ins_matricule and row.ins_oid and can_share_matricule(IdentityStatus(row.identity_status)):
        nia = row.ins_oid == INS_NIA_OID
        out.append({
            "use": "temp" if nia else "official",
            "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": "INS-NIA" if nia else "INS-NIR"}]},
            "system": f"urn:oid:{row.ins_oid}",
            "value": row.ins_matricule,
        })
    return out


def to_resource(row: Patient) -> Resource:
    qualified = can_share_matricule(IdentityStatus(row.identity_status)) and bool(row.ins_matricule)
    names: list[dict[str, Any]] = [{"use": "official", "family": row.birth_name, "given": row.given_names.split()}]
    if row.used_name or row.used_given_name:
        usual: dict[str, Any] = {"use": "usual"}
        if row.used_name:
            usual["family"] = row.used_name
        if row.used_given_name:
            usual["given"] = [row.used_given_name]
        names.append(usual)
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at),
                 "profile": [f"{FR_CORE}/{'fr-core-patient-ins' if qualified else 'fr-core-patient'}"]},
        "identifier": identifiers(row),
        "active": row.merged_into_id is None,
        "name": names,
        "gender": GENDER.get(row.sex, "unknown"),
        "birthDate": row.birth_date.isoformat(),
    }
    telecom = []
    if row.phone:
        telecom.append({"system": "phone", "value": row.phone})
    if row.email:
        telecom.append({"system": "email", "value": row.email})
    if telecom:
        resource["telecom"] = telecom
    if row.address_line or row.postcode:
        address: dict[str, Any] = {"use": "home", "country": "FR"}
        if row.address_line:
            address["line"] = [row.address_line]
        if row.postcode:
            address["postalCode"] = row.postcode
        resource["address"] = [address]
    if row.merged_into_id is not None:
        resource["link"] = [{"other": {"reference": f"Patient/{row.merged_into_id}"}, "type": "replaced-by"}]
    return resource


def read(call: Call, resource_id: str) -> Resource:
    pid = uuid_or_404(resource_id)
    # The access check first, for an unknown id as for another's patient: the same 404, the refusal audited.
    authz.access_patient(call.session, call.actor, pid, Purpose.CARE, action="read", object_type="patient",
                         context=call.context)
    row = repo.patient(call.session, pid)
    if row is None:
        raise NotFound()
    return to_resource(row)


def search(call: Call, query: SearchQuery) -> Page:
    stmt = select(Patient).where(Patient.id.in_(authz.accessible_patients(call.actor)))
    for value in query.params.get("_id", []):
        wanted = ids_of([value], uuid.UUID)
        stmt = stmt.where(Patient.id.in_(wanted) if wanted else false())
    for value in query.params.get("identifier", []):
        token = rules.parse_token(value)
        if token.system == LOCAL_SYSTEM and token.code and token.code.startswith("urn:uuid:"):
            wanted = ids_of([token.code.removeprefix("urn:uuid:")], uuid.UUID)
            stmt = stmt.where(Patient.id.in_(wanted) if wanted else false())
        elif token.code and (token.system is None or token.system.startswith("urn:oid:")):
            stmt = stmt.where(Patient.ins_matricule == token.code, Patient.identity_status == IdentityStatus.QUAL.value)
            if token.system:
                stmt = stmt.where(Patient.ins_oid == token.system.removeprefix("urn:oid:"))
        else:
            stmt = stmt.where(false())
    bounds = dates(query.params.get("_lastUpdated", []))
    stmt = stmt.where(*repo.date_conditions(Patient.updated_at, bounds))
    sort_column = Patient.updated_at if query.sort.key == "_lastUpdated" else None
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=Patient.id, id_kind="uuid", after=query.after,
                                      count=query.count)
    authz.audit_list(call.session, call.actor, object_type="patient", count=len(rows), purpose=Purpose.CARE,
                     patient_ids=[r.id for r in rows], context=call.context)
    return Page([to_resource(r) for r in rows], position)


PATIENT = register(ResourceType(
    name="Patient",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    profile=f"{FR_CORE}/fr-core-patient",
    search_params=(
        ID_PARAM,
        SearchParam("identifier", "token", "Identifiant : urn:ietf:rfc:3986|urn:uuid:… (identifiant local) ou "
                                           "urn:oid:1.2.250.1.213.1.4.8|matricule (INS, identité qualifiée)."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("_lastUpdated",),
    documentation="Patients que l'appelant suit (relation de soins en cours ou accès d'urgence).",
))
