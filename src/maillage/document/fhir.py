"""One document as FHIR R4 resources: a ``DocumentReference`` and the ``Binary`` holding its content.

Pure functions from ``document.facts`` to JSON-ready dicts, so a FHIR server can mount them as they are (it passes
the URL of the Binary as it serves it). Sources: HL7 FHIR R4 DocumentReference and Binary (status
current | superseded | entered-in-error; ``relatesTo`` code ``replaces``; attachment ``hash`` = base64 SHA-1 in R4,
so the SHA-256 the platform keeps goes to an extension-free ``identifier`` instead), FR Core identifier systems
(DOMAIN.md §1.2 INS OIDs, §1.3 IdNat_PS ``urn:oid:1.2.250.1.71.4.2.1``), IdNat_Struct ``urn:oid:1.2.250.1.71.4.2.2``
("1" + FINESS, as the Annuaire Santé's organisations carry it), HL7 v3 Confidentiality for ``securityLabel``.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from maillage.document import rules
from maillage.document.facts import AuthorFacts, CustodianFacts, ExportFacts, PatientFacts

IDNAT_PS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IDNAT_STRUCT_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
DOCUMENT_ID_SYSTEM = "urn:ietf:rfc:3986"
CLASS_SYSTEM = "urn:maillage:document-class"  # the platform's own coarse classes (rules.DocumentClass)


def _oid_uri(oid: str) -> str:
    return oid if oid.startswith("urn:oid:") else f"urn:oid:{oid}"


def patient_reference(patient: PatientFacts) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"Patient/{patient.id}", "display": f"{patient.family} {patient.given}"}
    if patient.ins and patient.ins_oid:
        ref["identifier"] = {"use": "official", "system": _oid_uri(patient.ins_oid), "value": patient.ins}
    return ref


def author_reference(author: AuthorFacts) -> dict[str, Any]:
    ref: dict[str, Any] = {"display": author.name}
    if author.rpps:
        ref["identifier"] = {"system": IDNAT_PS_SYSTEM, "value": f"8{author.rpps}"}
    return ref


def custodian_reference(custodian: CustodianFacts) -> dict[str, Any]:
    ref: dict[str, Any] = {"display": custodian.name}
    if custodian.finess:
        ref["identifier"] = {"system": IDNAT_STRUCT_SYSTEM, "value": f"1{custodian.finess}"}
    return ref


def document_reference(facts: ExportFacts, *, binary_url: str) -> dict[str, Any]:
    """The ``DocumentReference`` of one version; ``binary_url`` is where its ``Binary`` is (``Binary/<id>`` on a
    server, ``urn:uuid:<id>`` in a bundle)."""
    d = facts.document
    kind = rules.document_type(d.type_code)
    secrecy = rules.Confidentiality(d.confidentiality)
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": str(d.id),
        "masterIdentifier": {"system": DOCUMENT_ID_SYSTEM, "value": f"urn:uuid:{d.id}"},
        "identifier": [{"system": DOCUMENT_ID_SYSTEM, "value": f"urn:uuid:{d.series_id}"}],
        "status": rules.Status(d.status).fhir,
        "docStatus": "final",
        "type": {"coding": [{"system": rules.LOINC_SYSTEM, "code": kind.code, "display": kind.display}],
                 "text": kind.label},
        "category": [{"coding": [{"system": CLASS_SYSTEM, "code": kind.document_class.value,
                                  "display": kind.document_class.label}]}],
        "subject": patient_reference(facts.patient),
        "date": d.created_at.isoformat(),
        "author": [author_reference(facts.author)],
        "description": d.title,
        "securityLabel": [{"coding": [{"system": CONFIDENTIALITY_SYSTEM, "code": secrecy.hl7}]}],
        "content": [{"attachment": {
            "contentType": d.media_type, "language": "fr-FR", "url": binary_url, "size": d.size_bytes,
            "hash": attachment_hash(facts),
            "title": d.file_name, "creation": d.created_at.isoformat()}}],
        "context": {"period": {"start": d.act_date.isoformat(), "end": d.act_date.isoformat()}},
    }
    if facts.custodian is not None:
        resource["custodian"] = custodian_reference(facts.custodian)
    if d.replaces_id is not None:
        resource["relatesTo"] = [{"code": "replaces", "target": {"reference": f"DocumentReference/{d.replaces_id}"}}]
    return resource


def attachment_hash(facts: ExportFacts) -> str:
    """R4's ``Attachment.hash``: base64 of the content's SHA-1, from the one stored at upload when there is one."""
    if facts.document.sha1 is not None:
        return base64.b64encode(bytes.fromhex(facts.document.sha1)).decode("ascii")
    if facts.content is None:
        raise ValueError("the SHA-1 of a document is needed: its stored value or its content")
    return base64.b64encode(hashlib.sha1(facts.content).digest()).decode("ascii")  # noqa: S324 (R4: SHA-1)


def binary_id(facts: ExportFacts) -> uuid.UUID:
    """The Binary's id, derived from the document's (name-based UUID, RFC 9562 v5): stable across exports."""
    return uuid.uuid5(facts.document.id, "content")


def binary(facts: ExportFacts) -> dict[str, Any]:
    """The ``Binary`` with the content, base64."""
    if facts.content is None:
        raise ValueError("a Binary needs the document's content")
    return {"resourceType": "Binary", "id": str(binary_id(facts)), "contentType": facts.document.media_type,
            "data": base64.b64encode(facts.content).decode("ascii")}


def bundle(facts: ExportFacts) -> dict[str, Any]:
    """A ``collection`` Bundle of the DocumentReference and its Binary, for a download."""
    content = binary(facts)
    binary_url = f"urn:uuid:{binary_id(facts)}"
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": facts.document.created_at.isoformat(),
        "entry": [
            {"fullUrl": f"urn:uuid:{facts.document.id}", "resource": document_reference(facts, binary_url=binary_url)},
            {"fullUrl": binary_url, "resource": content},
        ],
    }
