"""``Patient`` from the patient table (FR Core ``fr-core-patient``; ``fr-core-patient-ins`` when the identity is
qualified). The INS (matricule and its OID) is given only for a qualified identity (``patient.rules
.can_share_matricule``, DOMAIN §1.2); otherwise the record's local identifier alone."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from maillage.authz import service as authz
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import FR_CORE, ID_PARAM, LAST_UPDATED_PARAM, dates, ids_of, instant, uuid_or_404
from maillage.patient import service as patients
from maillage.patient.rules import IdentityStatus, can_share_matricule
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

LOCAL_SYSTEM = "urn:ietf:rfc:3986"  # the record's id as a URN (urn:uuid:…): stable, meaningless outside Maillage
INS_NIA_OID = "1.2.250.1.213.1.4.9"
IDENTIFIER_TYPES = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
GENDER = {"M": "male", "F": "female"}


def identifiers(row: Any) -> list[dict[str, Any]]:
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


def to_resource(row: Any) -> Resource:
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
    # The patient service checks access first, for an unknown id as for another's patient: the same 404, the refusal
    # audited (authz.access_patient).
    view = patients.get_patient(call.session, call.actor, uuid_or_404(resource_id), context=call.context)
    return to_resource(view.patient)


def search(call: Call, query: SearchQuery) -> Page:
    wanted: set[uuid.UUID] | None = None
    matricule: str | None = None
    oid: str | None = None
    for value in query.params.get("_id", []):
        wanted = _narrow(wanted, ids_of([value], uuid.UUID))
    for value in query.params.get("identifier", []):
        token = rules.parse_token(value)
        if token.system == LOCAL_SYSTEM and token.code and token.code.startswith("urn:uuid:"):
            wanted = _narrow(wanted, ids_of([token.code.removeprefix("urn:uuid:")], uuid.UUID))
        elif token.code and (token.system is None or token.system.startswith("urn:oid:")):
            if matricule is not None and matricule != token.code:
                wanted = set()
            matricule = token.code
            oid = token.system.removeprefix("urn:oid:") if token.system else oid
        else:
            wanted = set()
    if wanted is not None and not wanted:
        authz.audit_list(call.session, call.actor, object_type="patient", count=0, purpose=Purpose.CARE,
                         patient_ids=[], context=call.context)
        return Page([], None)
    bounds = [(b.op, b.at) for b in dates(query.params.get("_lastUpdated", []))]
    by_updated = query.sort.key == "_lastUpdated"
    after = None
    if query.after is not None:
        try:
            key = dt.datetime.fromisoformat(query.after["k"]) if by_updated else None
            after = (key, uuid.UUID(str(query.after["i"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise rules.SearchProblem("Curseur de pagination invalide : repartez du premier lien de la "
                                      "recherche.") from exc
    views, more = patients.patients_page(
        call.session, call.actor, ids=sorted(wanted) if wanted is not None else None, matricule=matricule, oid=oid,
        updated=bounds, by_updated=by_updated, descending=query.sort.descending, after=after, limit=query.count,
        context=call.context)
    position = None
    if more and views:
        last = views[-1].patient
        position = {"s": ("-" if query.sort.descending else "") + query.sort.key, "i": str(last.id)}
        if by_updated:
            position["k"] = last.updated_at.isoformat()
    return Page([to_resource(v.patient) for v in views], position)


def _narrow(current: set[uuid.UUID] | None, values: list[object]) -> set[uuid.UUID]:
    found = {v for v in values if isinstance(v, uuid.UUID)}
    return found if current is None else current & found


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
