"""The CDA R2 level-1 export: structure checked element by element with the stdlib XML parser (the CDA R2 schema,
CDA.xsd, is not available offline here).

Source: HL7 CDA R2 (POCD_HD000040, nonXMLBody); ANS CI-SIS Structuration minimale (header: INS only for a qualified
identity, author IdNat_PS, custodian IdNat_Struct); DOMAIN.md §1.2, §1.3, §5.2.
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
import xml.etree.ElementTree as ET

import pytest

from maillage.document import cda
from tests.document.test_fhir import PDF, facts

NS = {"h": "urn:hl7-org:v3"}


def parse(data: bytes) -> ET.Element:
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(data)


def one(root: ET.Element, path: str) -> ET.Element:
    found = root.findall(path, NS)
    assert len(found) == 1, path
    return found[0]


class TestClinicalDocument:
    def test_the_header_has_the_required_cda_elements(self):
        f = facts()
        root = parse(cda.clinical_document(f))
        assert root.tag == "{urn:hl7-org:v3}ClinicalDocument"
        assert one(root, "h:typeId").attrib == {"root": "2.16.840.1.113883.1.3", "extension": "POCD_HD000040"}
        assert one(root, "h:realmCode").get("code") == "FR"
        assert one(root, "h:id").get("root") == str(f.document.id).upper()
        code = one(root, "h:code")
        assert (code.get("code"), code.get("codeSystem")) == ("11488-4", "2.16.840.1.113883.6.1")
        assert one(root, "h:title").text == "Compte rendu de téléconsultation"
        assert one(root, "h:effectiveTime").get("value") == "20261130101500+0000"
        assert one(root, "h:confidentialityCode").get("code") == "N"
        assert one(root, "h:languageCode").get("code") == "fr-FR"
        assert one(root, "h:setId").get("root") == str(f.document.series_id).upper()
        assert one(root, "h:versionNumber").get("value") == "1"
        for required in ("h:recordTarget/h:patientRole", "h:author/h:time", "h:author/h:assignedAuthor",
                         "h:custodian/h:assignedCustodian/h:representedCustodianOrganization", "h:component"):
            one(root, required)

    def test_the_body_is_the_pdf_in_base64(self):
        root = parse(cda.clinical_document(facts()))
        text = one(root, "h:component/h:nonXMLBody/h:text")
        assert (text.get("mediaType"), text.get("representation")) == ("application/pdf", "B64")
        assert base64.b64decode(text.text or "") == PDF

    def test_the_patient_ins_with_its_oid_when_the_identity_is_qualified(self):
        root = parse(cda.clinical_document(facts()))
        pid = one(root, "h:recordTarget/h:patientRole/h:id")
        assert (pid.get("root"), pid.get("extension")) == ("1.2.250.1.213.1.4.8", "295109912611193")
        assert one(root, "h:recordTarget/h:patientRole/h:patient/h:birthTime").get("value") == "19510302"

    def test_no_ins_for_an_identity_that_is_not_qualified(self):
        f = facts(ins=None)
        data = cda.clinical_document(f)
        pid = one(parse(data), "h:recordTarget/h:patientRole/h:id")
        assert pid.get("extension") is None and pid.get("root") == str(f.patient.id).upper()
        assert b"1.2.250.1.213.1.4" not in data

    def test_author_rpps_and_custodian_finess(self):
        root = parse(cda.clinical_document(facts()))
        author = one(root, "h:author/h:assignedAuthor/h:id")
        assert (author.get("root"), author.get("extension")) == ("1.2.250.1.71.4.2.1", "810005173140")
        custodian = one(root, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:id")
        assert (custodian.get("root"), custodian.get("extension")) == ("1.2.250.1.71.4.2.2", "1870000015")

    def test_a_new_version_names_the_one_it_replaces(self):
        previous = uuid.uuid4()
        root = parse(cda.clinical_document(facts(replaces=previous)))
        related = one(root, "h:relatedDocument")
        assert related.get("typeCode") == "RPLC"
        assert one(related, "h:parentDocument/h:id").get("root") == str(previous).upper()
        assert one(root, "h:versionNumber").get("value") == "2"

    def test_an_image_is_not_wrapped(self):
        f = facts()
        image = dataclasses.replace(f, document=dataclasses.replace(f.document, media_type="image/png"))
        assert not cda.can_wrap("image/png")
        with pytest.raises(ValueError):
            cda.clinical_document(image)
