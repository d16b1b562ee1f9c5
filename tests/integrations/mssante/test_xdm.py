"""IHE XDM archives (ITI TF-1 §16, ITI TF-3 §4.2.3): what the platform builds, and how it reads what it receives."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import zipfile
from xml.etree import ElementTree as ET

import pytest

from maillage.integrations.mssante import xdm

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
R = f"{{{xdm.RIM}}}"


def submission(*, ins: bool = True, with_cda: bool = True) -> xdm.Submission:
    patient = xdm.PatientIdentity(
        identifier="279035121518989" if ins else "8a3c1f52-0000-4000-8000-000000000001",
        authority="1.2.250.1.213.1.4.10" if ins else "1.2.250.1.999.1.1",
        birth_name="DURAND", given_names="Jeanne Marie", birth_date=dt.date(1979, 3, 5), sex="F", is_ins=ins)
    return xdm.Submission(
        document=xdm.OutgoingDocument(data=PDF, media_type="application/pdf", title="Compte rendu de téléexpertise",
                                      type_code=xdm.Code("11488-4", xdm.LOINC, "Compte rendu de consultation"),
                                      class_code=xdm.Code("11", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
                                      created_at=T0, unique_id="2.25.1234"),
        patient=patient, author=xdm.Author(name="Claire Martin", rpps="10101010101"), source_id="1.2.250.1.999.1",
        intended_recipient="dr.leroy@chu.mssante.fr", submitted_at=T0, with_cda=with_cda)


def entries(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return {name: z.read(name) for name in z.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


class TestBuild:
    def test_the_archive_holds_readme_index_metadata_the_pdf_and_its_cda(self):
        names = set(entries(xdm.build(submission())))
        assert names == {"README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML",
                         "IHE_XDM/SUBSET01/DOC0001.PDF", "IHE_XDM/SUBSET01/DOC0002.XML"}

    def test_the_metadata_is_a_submission_set_with_its_document_entries_and_associations(self):
        files = entries(xdm.build(submission()))
        root = ET.fromstring(files[xdm.METADATA])
        assert root.tag == f"{{{xdm.LCM}}}SubmitObjectsRequest"
        docs = root.findall(f".//{R}ExtrinsicObject")
        assert [d.get("objectType") for d in docs] == [xdm.DOCUMENT_ENTRY_TYPE] * 2
        package = root.find(f".//{R}RegistryPackage")
        assert package is not None
        set_class = [c for c in root.iter(f"{R}Classification")
                     if c.get("classificationNode") == xdm.SUBMISSION_SET_NODE]
        assert set_class and set_class[0].get("classifiedObject") == package.get("id")
        members = [a.get("targetObject") for a in root.iter(f"{R}Association")
                   if a.get("associationType") == xdm.HAS_MEMBER and a.get("sourceObject") == package.get("id")]
        assert sorted(members) == sorted(d.get("id") for d in docs)

    def test_the_document_entry_carries_hash_size_codes_patient_and_author(self):
        files = entries(xdm.build(submission()))
        root = ET.fromstring(files[xdm.METADATA])
        pdf_entry = next(d for d in root.iter(f"{R}ExtrinsicObject") if d.get("mimeType") == "application/pdf")
        slots = {s.get("name"): [v.text for v in s.iter(f"{R}Value")] for s in pdf_entry.findall(f"{R}Slot")}
        pdf = files["IHE_XDM/SUBSET01/DOC0001.PDF"]
        assert pdf == PDF
        assert slots["hash"] == [hashlib.sha1(pdf).hexdigest()] and slots["size"] == [str(len(pdf))]
        assert slots["URI"] == ["DOC0001.PDF"]
        assert "PID-5|DURAND^Jeanne Marie^^^^^L" in slots["sourcePatientInfo"]
        assert "PID-7|19790305" in slots["sourcePatientInfo"]
        codes = {c.get("classificationScheme"): c.get("nodeRepresentation")
                 for c in pdf_entry.findall(f"{R}Classification")}
        assert codes[xdm.CLASS_CODE] == "11" and codes[xdm.TYPE_CODE] == "11488-4"
        assert codes[xdm.FORMAT_CODE] == xdm.MIME_SUFFICIENT
        author = next(c for c in pdf_entry.findall(f"{R}Classification")
                      if c.get("classificationScheme") == xdm.DOCUMENT_AUTHOR)
        xcn = "".join(v.text or "" for v in author.iter(f"{R}Value"))
        assert xcn == "810101010101^Martin^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO"
        patient = {e.get("identificationScheme"): e.get("value") for e in pdf_entry.findall(f"{R}ExternalIdentifier")}
        assert patient[xdm.DOCUMENT_PATIENT_ID] == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO"

    def test_a_non_qualified_identity_travels_with_the_platform_identifier_and_no_ins(self):
        files = entries(xdm.build(submission(ins=False)))
        assert b"1.2.250.1.213.1.4" not in files[xdm.METADATA]
        assert b"1.2.250.1.213.1.4" not in files["IHE_XDM/SUBSET01/DOC0002.XML"]

    def test_the_cda_wraps_the_pdf_with_the_ins_and_the_author_rpps(self):
        cda = ET.fromstring(entries(xdm.build(submission()))["IHE_XDM/SUBSET01/DOC0002.XML"])
        ns = {"c": xdm.CDA}
        assert cda.find("c:code", ns).get("code") == "11488-4"
        pid = cda.find("c:recordTarget/c:patientRole/c:id", ns)
        assert (pid.get("root"), pid.get("extension")) == ("1.2.250.1.213.1.4.10", "279035121518989")
        assert cda.find("c:author/c:assignedAuthor/c:id", ns).get("extension") == "810101010101"
        text = cda.find("c:component/c:nonXMLBody/c:text", ns)
        assert text.get("mediaType") == "application/pdf" and base64.b64decode(text.text) == PDF

    def test_without_the_cda_only_the_pdf_is_described(self):
        names = set(entries(xdm.build(submission(with_cda=False))))
        assert "IHE_XDM/SUBSET01/DOC0002.XML" not in names


class TestRead:
    def test_an_archive_built_here_reads_back_with_its_documents_and_patient(self):
        archive = xdm.read(xdm.build(submission()))
        assert [e.media_type for e in archive.entries] == ["application/pdf", "text/xml"]
        assert archive.entries[0].data == PDF
        assert archive.patient_ids() == {("279035121518989", "1.2.250.1.213.1.4.10")}
        assert archive.entries[0].declared_name == "DURAND Jeanne Marie"
        assert archive.entries[0].declared_family == "DURAND"
        assert archive.entries[0].declared_birth_date == dt.date(1979, 3, 5)

    def test_the_cda_gives_back_its_pdf(self):
        files = entries(xdm.build(submission()))
        assert xdm.cda_pdf(files["IHE_XDM/SUBSET01/DOC0002.XML"]) == PDF

    @pytest.mark.parametrize(("change", "message"), [
        ("not_zip", "pas une archive ZIP"),
        ("no_metadata", "METADATA.XML manquant"),
        ("bad_hash", "empreinte"),
        ("missing_document", "absent de l'archive"),
        ("bad_xml", "pas un XML valide"),
        ("doctype", "pas un XML valide"),
        ("traversal", "sort de l'archive"),
    ])
    def test_a_malformed_archive_is_refused_with_a_french_reason(self, change, message):
        files = entries(xdm.build(submission(with_cda=False)))
        if change == "not_zip":
            data = b"ceci n'est pas un zip"
        else:
            if change == "no_metadata":
                del files[xdm.METADATA]
            elif change == "bad_hash":
                files["IHE_XDM/SUBSET01/DOC0001.PDF"] = PDF.replace(b"1.4", b"1.5")
            elif change == "missing_document":
                del files["IHE_XDM/SUBSET01/DOC0001.PDF"]
            elif change == "bad_xml":
                files[xdm.METADATA] = b"<rim:oops"
            elif change == "doctype":
                files[xdm.METADATA] = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
            elif change == "traversal":
                files["../../evil.txt"] = b"x"
            data = rezip(files)
        with pytest.raises(xdm.XdmError, match=message):
            xdm.read(data)
