"""The compte rendu's PDF: written once per process for the same content, checked and audited at every reading."""

from __future__ import annotations

import datetime as dt

import pytest

from maillage.exceptions import PermissionDenied
from maillage.kit.clock import frozen
from maillage.teleexpertise import report, service
from maillage.teleexpertise.schemas import AdmissionUpdate, OpinionIn
from tests.fixtures.teleexpertise import OPINION, T0, claimed, world
from tests.teleexpertise.test_service import audit_actions


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[report.ReportData]:
    """The documents actually written (the cache emptied first: other tests' reports may be in it)."""
    report.WRITTEN.clear()
    seen: list[report.ReportData] = []
    real = report.render_pdf

    def counting(data: report.ReportData) -> bytes:
        seen.append(data)
        return real(data)

    monkeypatch.setattr(report, "render_pdf", counting)
    return seen


class TestCompteRenduWrittenOnce:
    def test_a_second_reading_returns_the_same_bytes_without_writing_them_again_and_is_audited(self, db, written):
        with frozen(T0):
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OPINION)
            before = audit_actions(db, req.id).count("export")
            first = service.compte_rendu(db, w.a(db, w.requester), req.id)
            second = service.compte_rendu(db, w.a(db, w.expert), req.id)
        assert first == second and first.startswith(b"%PDF")
        assert len(written) == 1
        assert audit_actions(db, req.id).count("export") == before + 2, "each reading is an audited export"

    def test_what_changes_after_the_opinion_is_in_the_next_reading(self, db, written):
        with frozen(T0):
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OpinionIn(
                answer="Hospitalisation programmée utile.", orientation="scheduled_hospitalisation"))
            first = service.compte_rendu(db, w.a(db, w.requester), req.id)
            service.update_admission(db, w.a(db, w.expert), req.id,
                                     AdmissionUpdate(status="accepted", planned_at=T0 + dt.timedelta(days=3)))
            second = service.compte_rendu(db, w.a(db, w.requester), req.id)
        assert first != second and len(written) == 2
        assert written[0].admission != written[1].admission

    def test_a_professional_refused_before_stays_refused_once_the_document_is_written(self, db, written):
        w = world(db)
        req = claimed(db, w)
        service.answer(db, w.a(db, w.expert), req.id, OPINION)
        service.compte_rendu(db, w.a(db, w.requester), req.id)
        with pytest.raises(PermissionDenied):
            service.compte_rendu(db, w.a(db, w.colleague), req.id)
        assert len(written) == 1


class TestCompteRenduFiledInThePatientsDocuments:
    """The signed opinion's compte rendu is filed in the patient's documents when the opinion is signed (issue #20:
    a report the platform generates is a document of the record), once, apart from the request's attachments."""

    def test_signing_files_the_report_once_as_a_consult_note_the_requester_can_read(self, db, written):
        from maillage.document import service as documents
        from maillage.kit.pagination import PageParams
        from maillage.security.purposes import Purpose
        from maillage.teleexpertise import repository as te_repo

        with frozen(T0):
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OPINION)
            requester = w.a(db, w.requester)
            rows, _ = documents.list_documents(db, requester, req.patient_id, purpose=Purpose.TELEEXPERTISE,
                                               page=PageParams(limit=50, offset=0))
            filed = [d for d in rows if d.origin_type == "teleexpertise_request" and d.origin_id == str(req.id)]
            assert len(filed) == 1
            doc = filed[0]
            assert doc.type_code == "11488-4" and doc.source == "report" and doc.media_type == "application/pdf"
            assert doc.title == f"Compte rendu de téléexpertise du {T0.strftime('%d/%m/%Y')}"
            _, data = documents.read(db, requester, doc.id, Purpose.TELEEXPERTISE)
            assert data.startswith(b"%PDF")
            assert data == service.compte_rendu(db, requester, req.id), "the filed PDF is the compte rendu"
            again = report.file_report(db, w.a(db, w.expert), req)
            assert again.id == doc.id, "filed once: a second filing returns the first"
            assert doc.id not in {a.id for a in te_repo.attachments(db, req.id)}, "not one of the attachments"
