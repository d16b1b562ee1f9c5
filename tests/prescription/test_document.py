"""The prescription's PDF (maillage.prescription.document): the QR code it carries is read back and matched."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from maillage.document import service as documents
from maillage.exceptions import Conflict
from maillage.kit.pagination import PageParams
from maillage.prescription import document, rules, service
from maillage.security.purposes import Purpose
from tests.fixtures.prescription import dermoval, levothyrox, rx_world, signed


def qr_payloads(pdf: bytes) -> list[str]:
    """Every QR code of the PDF's images, decoded."""
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            picture = Image.open(io.BytesIO(image.data)).convert("L")
            found += [result.text for result in zxingcpp.read_barcodes(picture)]
    return found


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


class TestPrescriptionPdf:
    def test_the_qr_code_carries_the_number_and_the_verification_code(self, db):
        w = rx_world(db)
        view = signed(db, w)
        pdf = document.prescription_pdf(db, w.a(db, w.prescriber), view.prescription.id)
        (payload,) = qr_payloads(pdf)
        assert payload == rules.qr_payload(view.prescription.number, view.prescription.verification_code)
        assert rules.normalise_number(payload) == view.prescription.number
        text = text_of(pdf)
        assert rules.display_number(view.prescription.number) in text
        assert "Non substituable (MTE) - LÉVOTHYROX 100 microgrammes" in text
        assert f"RPPS {view.prescriber_rpps}" in text

    def test_a_prescription_with_an_ald_line_is_bizone(self, db):
        w = rx_world(db)
        view = signed(db, w, dermoval(), levothyrox(ald=True))
        text = text_of(document.prescription_pdf(db, w.a(db, w.prescriber), view.prescription.id))
        assert text.index("affection de longue durée reconnue") < text.index("LÉVOTHYROX") \
            < text.index("SANS RAPPORT") < text.index("DERMOVAL")

    def test_a_draft_has_no_pdf(self, db):
        w = rx_world(db)
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [dermoval()])
        with pytest.raises(Conflict):
            document.prescription_pdf(db, w.a(db, w.prescriber), draft.id)


class TestFiledInThePatientsDocuments:
    def test_signing_files_the_pdf_as_an_ordonnance_of_the_patient(self, db):
        w = rx_world(db)
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [dermoval(), levothyrox()])
        view = document.sign_and_file(db, w.a(db, w.prescriber), draft.id)
        rows, _ = documents.list_documents(db, w.a(db, w.prescriber), w.patient_id, purpose=Purpose.PRESCRIPTION,
                                           page=PageParams(limit=10, offset=0))
        [filed] = [d for d in rows if d.origin_type == "prescription"]
        assert (filed.type_code, filed.source, filed.origin_id) == ("57833-6", "report", str(view.prescription.id))
        assert filed.media_type == "application/pdf" and filed.title == f"Ordonnance n° {view.prescription.number}"
        _, content = documents.read(db, w.a(db, w.prescriber), filed.id, Purpose.PRESCRIPTION)
        (payload,) = qr_payloads(content)
        assert rules.normalise_number(payload) == view.prescription.number

    def test_a_refused_signature_files_nothing(self, db):
        w = rx_world(db)
        view = signed(db, w)
        before = documents.list_documents(db, w.a(db, w.prescriber), w.patient_id, purpose=Purpose.PRESCRIPTION,
                                          page=PageParams(limit=50, offset=0))[0]
        with pytest.raises(Conflict):
            document.sign_and_file(db, w.a(db, w.prescriber), view.prescription.id)  # already signed
        after = documents.list_documents(db, w.a(db, w.prescriber), w.patient_id, purpose=Purpose.PRESCRIPTION,
                                         page=PageParams(limit=50, offset=0))[0]
        assert len(after) == len(before)
