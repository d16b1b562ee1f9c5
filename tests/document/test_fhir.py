"""The FHIR mapping of one document: a DocumentReference and its Binary, validated with fhir.resources (R4B, whose
DocumentReference and Binary are R4's), the INS only for a qualified identity.

Source: HL7 FHIR R4 DocumentReference, Binary, Bundle; DOMAIN.md §1.2 (INS OIDs), §1.3 (IdNat_PS).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference

from maillage.document import fhir
from maillage.document.facts import AuthorFacts, CustodianFacts, DocumentFacts, ExportFacts, PatientFacts

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def facts(*, ins: str | None = "295109912611193", replaces: uuid.UUID | None = None, status: str = "current",
          confidentiality: str = "normal", custodian: bool = True) -> ExportFacts:
    doc_id = uuid.uuid4()
    return ExportFacts(
        document=DocumentFacts(id=doc_id, series_id=replaces or doc_id, version=2 if replaces else 1,
                               replaces_id=replaces, type_code="11488-4", title="Compte rendu de téléconsultation",
                               status=status, confidentiality=confidentiality, act_date=dt.date(2026, 11, 30),
                               created_at=dt.datetime(2026, 11, 30, 10, 15, tzinfo=dt.UTC),
                               media_type="application/pdf", size_bytes=len(PDF), sha256="0" * 64,
                               file_name="compte-rendu.pdf"),
        patient=PatientFacts(id=uuid.uuid4(), family="MARTIN", given="Louise", birth_date=dt.date(1951, 3, 2),
                             sex="F", ins=ins, ins_oid="1.2.250.1.213.1.4.8" if ins else None),
        author=AuthorFacts(user_id=uuid.uuid4(), name="Dr Paul Durand", family="Durand", given="Paul",
                           rpps="10005173140"),
        custodian=CustodianFacts(name="CH de Limoges", finess="870000015") if custodian else None,
        content=PDF)


class TestDocumentReference:
    def test_it_is_a_valid_r4_document_reference(self):
        resource = fhir.document_reference(facts(), binary_url="Binary/abc")
        parsed = DocumentReference.model_validate(resource)
        assert parsed.status == "current"
        assert parsed.type.coding[0].system == "http://loinc.org" and parsed.type.coding[0].code == "11488-4"
        assert parsed.content[0].attachment.url == "Binary/abc"
        assert parsed.content[0].attachment.contentType == "application/pdf"

    def test_the_patient_is_identified_by_the_ins_when_qualified(self):
        subject = fhir.document_reference(facts(), binary_url="Binary/x")["subject"]
        assert subject["identifier"] == {"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8",
                                         "value": "295109912611193"}

    def test_no_ins_for_an_identity_that_is_not_qualified(self):
        resource = fhir.document_reference(facts(ins=None), binary_url="Binary/x")
        assert "identifier" not in resource["subject"]
        assert "2951099" not in str(resource)

    def test_author_by_idnat_ps_and_custodian_by_idnat_struct(self):
        resource = fhir.document_reference(facts(), binary_url="Binary/x")
        assert resource["author"][0]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810005173140"}
        assert resource["custodian"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1870000015"}

    def test_a_new_version_replaces_the_previous_and_statuses_map_to_fhir(self):
        previous = uuid.uuid4()
        resource = fhir.document_reference(facts(replaces=previous, status="entered_in_error",
                                                 confidentiality="restricted"), binary_url="Binary/x")
        DocumentReference.model_validate(resource)
        assert resource["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{previous}"}}]
        assert resource["status"] == "entered-in-error"
        assert resource["securityLabel"][0]["coding"][0]["code"] == "R"

    def test_without_a_custodian_the_element_is_left_out(self):
        assert "custodian" not in fhir.document_reference(facts(custodian=False), binary_url="Binary/x")


class TestBinaryAndBundle:
    def test_the_binary_holds_the_content_in_base64(self):
        f = facts()
        parsed = Binary.model_validate(fhir.binary(f))
        assert base64.b64decode(fhir.binary(f)["data"]) == PDF
        assert parsed.contentType == "application/pdf"

    def test_the_bundle_links_the_reference_to_its_binary_and_is_valid(self):
        f = facts()
        bundle = fhir.bundle(f)
        Bundle.model_validate(bundle)
        reference, content = (e["resource"] for e in bundle["entry"])
        assert reference["content"][0]["attachment"]["url"] == bundle["entry"][1]["fullUrl"]
        assert content["resourceType"] == "Binary"
        assert fhir.binary_id(f) == fhir.binary_id(f)  # stable across exports
