"""One PDF document as an HL7 CDA R2 level-1 document: the CI-SIS header around a ``nonXMLBody`` holding the PDF in
base64.

Pure: ``document.facts`` in, bytes of XML out (stdlib ``xml.etree``). Sources: HL7 CDA R2 (POCD_HD000040; typeId
root 2.16.840.1.113883.1.3; ``nonXMLBody/text`` with ``mediaType`` and ``representation="B64"``); ANS CI-SIS
"Volet Structuration Minimale de Documents de Santé" (realmCode FR, the structuration-minimale templateId,
patient INS in ``recordTarget/patientRole/id`` with its OID only for a qualified identity, author IdNat_PS
root 1.2.250.1.71.4.2.1 = "8" + RPPS, custodian IdNat_Struct root 1.2.250.1.71.4.2.2 = "1" + FINESS;
DOMAIN.md §1.2, §1.3, §5.2). Confidentiality: HL7 v3 Confidentiality (2.16.840.1.113883.5.25). A new version
points to the one it replaces (``relatedDocument typeCode="RPLC"``), versions share ``setId``.

The CDA R2 XML schema (CDA.xsd) is not shipped with the platform and could not be fetched here: the tests check
the structure element by element instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import xml.etree.ElementTree as ET

from maillage.document import rules
from maillage.document.facts import ExportFacts

HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CDA_TYPE_ID_ROOT = "2.16.840.1.113883.1.3"
CDA_TYPE_ID_EXTENSION = "POCD_HD000040"
CISIS_STRUCTURATION_MINIMALE = "1.2.250.1.213.1.1.1.1"
IDNAT_PS_ROOT = "1.2.250.1.71.4.2.1"
IDNAT_STRUCT_ROOT = "1.2.250.1.71.4.2.2"
CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"
GENDER_OID = "2.16.840.1.113883.5.1"
CDA_MEDIA_TYPES = frozenset({"application/pdf"})

ET.register_namespace("", HL7_NS)
ET.register_namespace("xsi", XSI_NS)


def _q(tag: str) -> str:
    return f"{{{HL7_NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, _q(tag), {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _ts(value: object) -> str:
    """HL7 TS: YYYYMMDD for a date, YYYYMMDDHHMMSS+ZZZZ for an aware datetime."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y%m%d%H%M%S%z")
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    raise TypeError(value)


def can_wrap(media_type: str) -> bool:
    return media_type in CDA_MEDIA_TYPES


def clinical_document(facts: ExportFacts) -> bytes:
    """The CDA R2 level-1 document (UTF-8 XML with its declaration). ``ValueError`` for content other than PDF."""
    d, p, a = facts.document, facts.patient, facts.author
    if not can_wrap(d.media_type):
        raise ValueError(f"CDA level 1 wraps a PDF here, not {d.media_type}")
    if facts.content is None:
        raise ValueError("a CDA document needs the document's content")
    kind = rules.document_type(d.type_code)
    root = ET.Element(_q("ClinicalDocument"))
    _sub(root, "realmCode", code="FR")
    _sub(root, "typeId", root=CDA_TYPE_ID_ROOT, extension=CDA_TYPE_ID_EXTENSION)
    _sub(root, "templateId", root=CISIS_STRUCTURATION_MINIMALE)
    _sub(root, "id", root=str(d.id).upper())
    _sub(root, "code", code=kind.code, displayName=kind.display, codeSystem=rules.LOINC_OID, codeSystemName="LOINC")
    _sub(root, "title", d.title)
    _sub(root, "effectiveTime", value=_ts(d.created_at))
    _sub(root, "confidentialityCode", code=rules.Confidentiality(d.confidentiality).hl7,
         codeSystem=CONFIDENTIALITY_OID)
    _sub(root, "languageCode", code="fr-FR")
    _sub(root, "setId", root=str(d.series_id).upper())
    _sub(root, "versionNumber", value=str(d.version))

    role = _sub(_sub(root, "recordTarget"), "patientRole")
    if p.ins and p.ins_oid:
        _sub(role, "id", root=p.ins_oid.removeprefix("urn:oid:"), extension=p.ins)
    else:
        _sub(role, "id", root=str(p.id).upper())  # the platform's own identifier: no INS for an unqualified identity
    person = _sub(role, "patient")
    name = _sub(person, "name")
    _sub(name, "given", p.given)
    _sub(name, "family", p.family)
    _sub(person, "administrativeGenderCode", code=p.sex, codeSystem=GENDER_OID)
    _sub(person, "birthTime", value=_ts(p.birth_date))

    author = _sub(root, "author")
    _sub(author, "time", value=_ts(d.created_at))
    assigned = _sub(author, "assignedAuthor")
    if a.rpps:
        _sub(assigned, "id", root=IDNAT_PS_ROOT, extension=f"8{a.rpps}")
    else:
        _sub(assigned, "id", nullFlavor="UNK")
    author_name = _sub(_sub(assigned, "assignedPerson"), "name")
    if a.given:
        _sub(author_name, "given", a.given)
    _sub(author_name, "family", a.family)

    organisation = _sub(_sub(_sub(root, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    if facts.custodian is not None and facts.custodian.finess:
        _sub(organisation, "id", root=IDNAT_STRUCT_ROOT, extension=f"1{facts.custodian.finess}")
    else:
        _sub(organisation, "id", nullFlavor="UNK")
    if facts.custodian is not None:
        _sub(organisation, "name", facts.custodian.name)

    service = _sub(_sub(root, "documentationOf"), "serviceEvent")
    period = _sub(service, "effectiveTime")
    _sub(period, "low", value=_ts(d.act_date))
    _sub(period, "high", value=_ts(d.act_date))

    if d.replaces_id is not None:
        parent = _sub(_sub(root, "relatedDocument", typeCode="RPLC"), "parentDocument")
        _sub(parent, "id", root=str(d.replaces_id).upper())

    body = _sub(_sub(root, "component"), "nonXMLBody")
    _sub(body, "text", base64.b64encode(facts.content).decode("ascii"), mediaType=d.media_type,
         representation="B64")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
