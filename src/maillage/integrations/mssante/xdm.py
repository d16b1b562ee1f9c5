"""IHE XDM archives (ITI TF-1 §16, ITI TF-3 §4.2.3.2 and §4.2.3.3): build one for a document, read one received.

An XDM zip holds ``README.TXT``, ``INDEX.HTM`` and ``IHE_XDM/SUBSET01/`` with ``METADATA.XML`` (an ebRS
``SubmitObjectsRequest``: one submission set, its document entries, the ``HasMember`` associations) and the
documents it describes. Each document entry carries its class, type and format codes, the patient (``patientId``
and ``sourcePatientInfo``), the author, and the SHA-1 ``hash`` and ``size`` of the file (XDS metadata, ITI TF-3
table 4.2.3.2-1). The identifiers of the classification schemes are those of ITI TF-3 §4.2.5.

The patient's INS travels in ``patientId`` only when the caller passes one (a qualified identity: the caller
decides, ``maillage.patient.rules.can_share_matricule``); otherwise the platform's own identifier is used.
Reading is defensive: a received archive is untrusted input (zip bombs, ``../`` paths, a hash that does not match).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import io
import uuid
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
CDA = "urn:hl7-org:v3"

SUBSET = "IHE_XDM/SUBSET01"
METADATA = f"{SUBSET}/METADATA.XML"

# ITI TF-3 §4.2.5 (table 4.2.5-1): classification schemes and object types.
DOCUMENT_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DOCUMENT_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
SUBMISSION_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
DOCUMENT_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DOCUMENT_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SUBMISSION_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SUBMISSION_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SUBMISSION_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"

LOINC = "2.16.840.1.113883.6.1"
FORMAT_SYSTEM = "1.3.6.1.4.1.19376.1.2.3"  # IHE format codes
PDF_IN_CDA = "urn:ihe:iti:xds-sd:pdf:2008"  # XDS-SD: a PDF wrapped in a CDA R2 level-1 document
MIME_SUFFICIENT = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
RPPS_ROOT = "1.2.250.1.71.4.2.1"  # IdNat_PS (8 + RPPS), ASIP/ANS OID for person identifiers

# Limits for untrusted archives.
MAX_ENTRIES = 50
MAX_UNPACKED_BYTES = 50 * 1_048_576


class XdmError(Exception):
    """The archive can not be read; the message is French, for the reception inbox."""


@dataclass(frozen=True)
class Code:
    code: str
    system: str
    display: str


@dataclass(frozen=True)
class PatientIdentity:
    """``identifier``/``authority`` is the INS (matricule + OID) for a qualified identity, else a local id."""

    identifier: str
    authority: str
    birth_name: str
    given_names: str
    birth_date: dt.date
    sex: str  # M / F
    is_ins: bool = False

    @property
    def cx(self) -> str:
        """HL7 v2 CX form used by XDS: ``id^^^&oid&ISO``."""
        return f"{self.identifier}^^^&{self.authority}&ISO"


@dataclass(frozen=True)
class Author:
    name: str  # as shown: "Claire Martin"
    rpps: str | None = None
    family: str | None = None  # from the directory when known; else the last word of ``name``
    given: str | None = None
    role: str | None = None
    institution: str | None = None

    @property
    def xcn(self) -> str:
        """HL7 v2 XCN: ``id^family^given^^^^^^^&authority&ISO`` (the id is the IdNat_PS, 8 + RPPS)."""
        if self.family:
            family, given = self.family, self.given or ""
        else:
            given, _, family = self.name.strip().rpartition(" ")
        ident = f"8{self.rpps}" if self.rpps else ""
        authority = f"^^^^^^&{RPPS_ROOT}&ISO" if self.rpps else ""
        return f"{ident}^{family}^{given}{authority}"


@dataclass(frozen=True)
class OutgoingDocument:
    data: bytes
    media_type: str
    title: str
    type_code: Code
    class_code: Code
    created_at: dt.datetime
    unique_id: str  # an OID or urn:uuid
    confidentiality: str = "N"


@dataclass(frozen=True)
class Submission:
    document: OutgoingDocument
    patient: PatientIdentity
    author: Author
    source_id: str  # the sending system's OID
    intended_recipient: str
    submitted_at: dt.datetime
    with_cda: bool = True


@dataclass
class ReceivedEntry:
    uri: str
    data: bytes
    media_type: str
    title: str
    format_code: str
    type_code: str
    patient_id: str | None
    patient_authority: str | None
    declared_name: str = ""  # sourcePatientInfo PID-5: birth name and given names, as sent
    declared_family: str = ""  # PID-5's first component: the birth name
    declared_birth_date: dt.date | None = None  # PID-7


@dataclass
class ReceivedArchive:
    entries: list[ReceivedEntry] = field(default_factory=list)

    def patient_ids(self) -> set[tuple[str, str]]:
        return {(e.patient_id, e.patient_authority) for e in self.entries
                if e.patient_id is not None and e.patient_authority is not None}


def _dtm(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _oid_from_uuid() -> str:
    """A unique id as an OID (2.25 arc of ITU-T X.667: the UUID as an integer)."""
    return f"2.25.{uuid.uuid4().int}"


def cda_document(submission: Submission) -> bytes:
    """A CDA R2 level-1 document (XDS-SD) wrapping the PDF in ``nonXMLBody``, header per CI-SIS minimal structure:
    the INS as ``patientRole/id`` only when the identity is qualified, the author by RPPS."""
    doc, patient, author = submission.document, submission.patient, submission.author
    ET.register_namespace("", CDA)
    root = ET.Element(f"{{{CDA}}}ClinicalDocument")

    def sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
        return ET.SubElement(parent, f"{{{CDA}}}{tag}", attrs)

    sub(root, "realmCode", code="FR")
    sub(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    sub(root, "templateId", root="1.3.6.1.4.1.19376.1.2.20")  # XDS-SD
    sub(root, "id", root=doc.unique_id)
    sub(root, "code", code=doc.type_code.code, codeSystem=doc.type_code.system, displayName=doc.type_code.display)
    sub(root, "title").text = doc.title
    sub(root, "effectiveTime", value=_dtm(doc.created_at))
    sub(root, "confidentialityCode", code=doc.confidentiality, codeSystem=CONFIDENTIALITY_SYSTEM)
    sub(root, "languageCode", code="fr-FR")
    role = sub(sub(root, "recordTarget"), "patientRole")
    sub(role, "id", root=patient.authority, extension=patient.identifier)
    person = sub(role, "patient")
    name = sub(person, "name")
    for given in patient.given_names.split():
        sub(name, "given").text = given
    sub(name, "family", qualifier="BR").text = patient.birth_name
    sub(person, "administrativeGenderCode", code=patient.sex, codeSystem="2.16.840.1.113883.5.1")
    sub(person, "birthTime", value=patient.birth_date.strftime("%Y%m%d"))
    auth = sub(root, "author")
    sub(auth, "time", value=_dtm(doc.created_at))
    assigned = sub(auth, "assignedAuthor")
    sub(assigned, "id", root=RPPS_ROOT, extension=f"8{author.rpps}" if author.rpps else "")
    sub(sub(assigned, "assignedPerson"), "name").text = author.name
    custodian = sub(sub(sub(root, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    sub(custodian, "id", root=submission.source_id)
    body = sub(sub(root, "component"), "nonXMLBody")
    text = sub(body, "text", mediaType=doc.media_type, representation="B64")
    text.text = base64.b64encode(doc.data).decode("ascii")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _slot(parent: ET.Element, name: str, *values: str) -> None:
    slot = ET.SubElement(parent, f"{{{RIM}}}Slot", name=name)
    vl = ET.SubElement(slot, f"{{{RIM}}}ValueList")
    for value in values:
        ET.SubElement(vl, f"{{{RIM}}}Value").text = value


def _named(parent: ET.Element, tag: str, text: str) -> None:
    holder = ET.SubElement(parent, f"{{{RIM}}}{tag}")
    ET.SubElement(holder, f"{{{RIM}}}LocalizedString", {"value": text, "charset": "UTF-8", "xml:lang": "fr-FR"})


def _classification(parent: ET.Element, scheme: str, obj: str, code: Code) -> None:
    c = ET.SubElement(parent, f"{{{RIM}}}Classification", id=_urn(), classificationScheme=scheme,
                      classifiedObject=obj, nodeRepresentation=code.code)
    _slot(c, "codingScheme", code.system)
    _named(c, "Name", code.display)


def _author(parent: ET.Element, scheme: str, obj: str, author: Author) -> None:
    c = ET.SubElement(parent, f"{{{RIM}}}Classification", id=_urn(), classificationScheme=scheme,
                      classifiedObject=obj, nodeRepresentation="")
    _slot(c, "authorPerson", author.xcn)
    if author.institution:
        _slot(c, "authorInstitution", author.institution)
    if author.role:
        _slot(c, "authorRole", author.role)


def _external(parent: ET.Element, scheme: str, obj: str, value: str, name: str) -> None:
    e = ET.SubElement(parent, f"{{{RIM}}}ExternalIdentifier", id=_urn(), registryObject=obj,
                      identificationScheme=scheme, value=value)
    _named(e, "Name", name)


@dataclass(frozen=True)
class _File:
    uri: str
    data: bytes
    media_type: str
    format_code: Code
    title: str


def metadata_xml(submission: Submission, files: list[_File]) -> bytes:
    """The ebRS ``SubmitObjectsRequest`` describing ``files`` (one document entry each) in one submission set."""
    ET.register_namespace("rim", RIM)
    ET.register_namespace("lcm", LCM)
    doc, patient = submission.document, submission.patient
    root = ET.Element(f"{{{LCM}}}SubmitObjectsRequest")
    objects = ET.SubElement(root, f"{{{RIM}}}RegistryObjectList")
    set_id = _urn()
    source_info = [f"PID-3|{patient.cx}", f"PID-5|{patient.birth_name}^{patient.given_names}^^^^^L",
                   f"PID-7|{patient.birth_date.strftime('%Y%m%d')}", f"PID-8|{patient.sex}"]
    entry_ids = []
    for f in files:
        entry_id = _urn()
        entry_ids.append(entry_id)
        e = ET.SubElement(objects, f"{{{RIM}}}ExtrinsicObject", id=entry_id, mimeType=f.media_type,
                          objectType=DOCUMENT_ENTRY_TYPE, status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved")
        _slot(e, "creationTime", _dtm(doc.created_at))
        _slot(e, "hash", _sha1(f.data))
        _slot(e, "size", str(len(f.data)))
        _slot(e, "languageCode", "fr-FR")
        _slot(e, "URI", f.uri.rpartition("/")[2])
        _slot(e, "serviceStartTime", _dtm(doc.created_at))
        _slot(e, "sourcePatientId", patient.cx)
        _slot(e, "sourcePatientInfo", *source_info)
        _named(e, "Name", f.title)
        _author(e, DOCUMENT_AUTHOR, entry_id, submission.author)
        _classification(e, CLASS_CODE, entry_id, doc.class_code)
        confidentiality = "Normal" if doc.confidentiality == "N" else "Restreint"
        _classification(e, CONFIDENTIALITY_CODE, entry_id, Code(doc.confidentiality, CONFIDENTIALITY_SYSTEM,
                                                                confidentiality))
        _classification(e, FORMAT_CODE, entry_id, f.format_code)
        _classification(e, TYPE_CODE, entry_id, doc.type_code)
        _external(e, DOCUMENT_PATIENT_ID, entry_id, patient.cx, "XDSDocumentEntry.patientId")
        unique = doc.unique_id if f.format_code.code == PDF_IN_CDA or len(files) == 1 else _oid_from_uuid()
        _external(e, DOCUMENT_UNIQUE_ID, entry_id, unique, "XDSDocumentEntry.uniqueId")
    package = ET.SubElement(objects, f"{{{RIM}}}RegistryPackage", id=set_id)
    _slot(package, "submissionTime", _dtm(submission.submitted_at))
    _slot(package, "intendedRecipient", f"|{submission.intended_recipient}^^^^^^^^^^^^^INTERNET")
    _named(package, "Name", doc.title)
    _author(package, SUBMISSION_AUTHOR, set_id, submission.author)
    _classification(package, CONTENT_TYPE_CODE, set_id, doc.class_code)
    ET.SubElement(objects, f"{{{RIM}}}Classification", id=_urn(), classifiedObject=set_id,
                  classificationNode=SUBMISSION_SET_NODE)
    _external(package, SUBMISSION_UNIQUE_ID, set_id, _oid_from_uuid(), "XDSSubmissionSet.uniqueId")
    _external(package, SUBMISSION_SOURCE_ID, set_id, submission.source_id, "XDSSubmissionSet.sourceId")
    _external(package, SUBMISSION_PATIENT_ID, set_id, patient.cx, "XDSSubmissionSet.patientId")
    for entry_id in entry_ids:
        a = ET.SubElement(objects, f"{{{RIM}}}Association", id=_urn(), associationType=HAS_MEMBER,
                          sourceObject=set_id, targetObject=entry_id)
        _slot(a, "SubmissionSetStatus", "Original")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _index(submission: Submission, files: list[_File]) -> bytes:
    rows = "".join(f'<li><a href="{html.escape(f.uri)}">{html.escape(f.title)}</a> ({html.escape(f.media_type)})</li>'
                   for f in files)
    return (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Documents</title></head><body>'
            f"<h1>Contenu de l'archive IHE XDM</h1><p>Envoyé par {html.escape(submission.author.name)}.</p>"
            f'<ul>{rows}</ul><p><a href="{METADATA}">Métadonnées XDS</a></p></body></html>').encode()


README = ("Archive IHE XDM (ITI TF-1 §16) produite par Maillage.\r\n"
          "Le dossier IHE_XDM/SUBSET01 contient les documents et METADATA.XML (métadonnées XDS, ebRIM 3.0).\r\n"
          "Ouvrez INDEX.HTM pour la liste des documents.\r\n")


def build(submission: Submission) -> bytes:
    """The XDM zip for ``submission``: the document, its CDA R2 level-1 wrapper when asked, metadata, index."""
    doc = submission.document
    extension = {"application/pdf": "PDF", "image/jpeg": "JPG", "image/png": "PNG"}.get(doc.media_type, "BIN")
    files = [_File(f"{SUBSET}/DOC0001.{extension}", doc.data, doc.media_type,
                   Code(MIME_SUFFICIENT, FORMAT_SYSTEM, "Format défini par le type MIME"), doc.title)]
    if submission.with_cda:
        files.append(_File(f"{SUBSET}/DOC0002.XML", cda_document(submission), "text/xml",
                           Code(PDF_IN_CDA, FORMAT_SYSTEM, "Document à corps non structuré en PDF"),
                           f"{doc.title} (CDA R2 niveau 1)"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.TXT", README)
        archive.writestr("INDEX.HTM", _index(submission, files))
        archive.writestr(METADATA, metadata_xml(submission, files))
        for f in files:
            archive.writestr(f.uri, f.data)
    return buffer.getvalue()


# -- reading ---------------------------------------------------------------------------------------------------------


def _slots(element: ET.Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in element.findall(f"{{{RIM}}}Slot"):
        out[slot.get("name", "")] = [v.text or "" for v in slot.iter(f"{{{RIM}}}Value")]
    return out


def _name(element: ET.Element) -> str:
    s = element.find(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString")
    return s.get("value", "") if s is not None else ""


def _date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def parse_cx(value: str) -> tuple[str, str] | None:
    """``id^^^&oid&ISO`` → (id, oid)."""
    ident, _, rest = value.partition("^^^")
    parts = rest.split("&")
    if not ident or len(parts) < 2 or not parts[1]:
        return None
    return ident.strip(), parts[1].strip()


def _safe_names(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise XdmError(f"Archive refusée : {len(infos)} fichiers ({MAX_ENTRIES} au plus).")
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        raise XdmError("Archive refusée : son contenu décompressé dépasse la taille permise.")
    out = {}
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise XdmError("Archive refusée : un chemin sort de l'archive.")
        out[name.upper()] = info
    return out


def _untrusted_xml(raw: bytes) -> ET.Element:
    """Parse received XML: a document type declaration (the door to entity expansion and external entities) is
    refused before the parser sees it; ``ET.ParseError`` otherwise."""
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise ET.ParseError("document type declarations are refused")
    return ET.fromstring(raw)  # noqa: S314 - no DTD can reach the parser (checked above)


def cda_pdf(data: bytes) -> bytes | None:
    """The PDF inside a CDA level-1 document's ``nonXMLBody``, if it holds one."""
    try:
        root = _untrusted_xml(data)
    except ET.ParseError:
        return None
    text = root.find(f".//{{{CDA}}}nonXMLBody/{{{CDA}}}text")
    if text is None or text.get("representation") != "B64" or text.get("mediaType") != "application/pdf":
        return None
    try:
        return base64.b64decode((text.text or "").strip(), validate=False)
    except ValueError:
        return None


def read(data: bytes) -> ReceivedArchive:
    """The document entries of an XDM zip, each with its checked content; ``XdmError`` (French) otherwise."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise XdmError("Pièce jointe illisible : ce n'est pas une archive ZIP valide.") from None
    with archive:
        names = _safe_names(archive)
        meta = names.get(METADATA)
        if meta is None:
            raise XdmError("Archive IHE XDM incomplète : IHE_XDM/SUBSET01/METADATA.XML manquant.")
        try:
            raw = archive.read(meta)
        except (zipfile.BadZipFile, OSError):
            raise XdmError("Archive IHE XDM corrompue : METADATA.XML ne se décompresse pas.") from None
        try:
            root = _untrusted_xml(raw)
        except ET.ParseError:
            raise XdmError("Métadonnées XDS illisibles (METADATA.XML n'est pas un XML valide).") from None
        result = ReceivedArchive()
        entries = [e for e in root.iter(f"{{{RIM}}}ExtrinsicObject")]
        if not entries:
            raise XdmError("Archive IHE XDM vide : aucune fiche de document dans METADATA.XML.")
        for entry in entries:
            slots = _slots(entry)
            uri = (slots.get("URI") or [""])[0]
            info = names.get(f"{SUBSET}/{uri}".upper()) if uri else None
            if info is None:
                raise XdmError("Archive IHE XDM incohérente : un document décrit est absent de l'archive.")
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, OSError):
                raise XdmError("Archive IHE XDM corrompue : un document ne se décompresse pas.") from None
            expected = (slots.get("hash") or [""])[0].lower()
            if expected and expected != _sha1(content):
                raise XdmError("Archive IHE XDM refusée : l'empreinte d'un document ne correspond pas.")
            size = (slots.get("size") or [""])[0]
            if size and size != str(len(content)):
                raise XdmError("Archive IHE XDM refusée : la taille d'un document ne correspond pas.")
            codes = {c.get("classificationScheme"): c.get("nodeRepresentation", "")
                     for c in entry.findall(f"{{{RIM}}}Classification")}
            pid = None
            for ext in entry.findall(f"{{{RIM}}}ExternalIdentifier"):
                if ext.get("identificationScheme") == DOCUMENT_PATIENT_ID:
                    pid = parse_cx(ext.get("value", ""))
            info_lines = dict(v.partition("|")[::2] for v in slots.get("sourcePatientInfo", []))
            family, _, given = info_lines.get("PID-5", "").partition("^")
            declared = f"{family} {given.split('^')[0]}".strip()
            result.entries.append(ReceivedEntry(
                uri=uri, data=content, media_type=entry.get("mimeType", "application/octet-stream"),
                title=_name(entry), format_code=codes.get(FORMAT_CODE, ""), type_code=codes.get(TYPE_CODE, ""),
                patient_id=pid[0] if pid else None, patient_authority=pid[1] if pid else None,
                declared_name=declared[:200], declared_family=family.strip()[:100],
                declared_birth_date=_date(info_lines.get("PID-7", ""))))
        return result
