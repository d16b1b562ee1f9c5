"""The document API over HTTP on SQLite and PostgreSQL: multipart uploads with the bad-input corpus,
Idempotency-Key, listing, metadata, content with safe headers, deletion; the authorization triplet on
every endpoint and the audit entries.

Source: issue 8, docs/adr/0007-document-uploads.md, CONVENTIONS.md (triplet).
"""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image
from sqlalchemy import func, select

from maillage.models.audit import AuditEntry
from maillage.models.document import Document
from maillage.models.idempotency import IdempotencyKey
from tests.corpus.make_corpus import CASES, Case
from tests.document.conftest import caring_physician, corpus, document_audit, stored_counts
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in, sign_out

# Names with CR, LF or NUL cannot travel in a multipart header at all: the service-level tests cover them.
HTTP_REFUSED = [c for c in CASES if not c.accepted and not any(ch in c.upload_name for ch in "\r\n\x00")]
ACCEPTED = [c for c in CASES if c.accepted]


def multipart(files: list[tuple[str, str | None, bytes, str | None]], fields: dict[str, str] | None = None
              ) -> tuple[bytes, str]:
    """A multipart/form-data body written by hand, so file names travel exactly as given (UTF-8, unescaped)."""
    boundary = f"----maillage-{uuid.uuid4().hex}"
    out = bytearray()
    for field, name, data, declared in files:
        disposition = f'form-data; name="{field}"' + (f'; filename="{name}"' if name is not None else "")
        head = f"Content-Disposition: {disposition}\r\n" + (f"Content-Type: {declared}\r\n" if declared else "")
        out += f"--{boundary}\r\n".encode() + head.encode() + b"\r\n" + data + b"\r\n"
    for key, value in (fields or {}).items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode() + value.encode()
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def post_file(client, patient_id, name="compte-rendu.pdf", data=None, declared="application/pdf",
              headers=None, title=None, files=None):
    body, content_type = multipart(files or [("file", name, corpus("ok_report.pdf") if data is None else data,
                                              declared)], {"title": title} if title else None)
    h = {"content-type": content_type, "x-csrf-token": csrf_token(client), "accept": "application/json"}
    h.update(headers or {})
    return client.post(f"/api/patients/{patient_id}/documents", content=body, headers=h)


@pytest.fixture
def signed(client, db, care):
    sign_in(client, db, care.user)
    return care


class TestUploadDocument:
    def test_a_pdf_is_created_with_201_its_location_and_its_metadata(self, client, db, blobs, signed):
        response = post_file(client, signed.patient_id, title="Compte rendu d'hospitalisation")
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"] == f"/api/documents/{body['id']}"
        assert (body["media_type"], body["display_name"], body["page_count"], body["patient_id"]) == (
            "application/pdf", "compte-rendu.pdf", 2, str(signed.patient_id))
        assert body["title"] == "Compte rendu d'hospitalisation" and body["uploaded_by"] == str(signed.user.id)
        assert stored_counts(db, blobs) == (1, 1, 1)

    @pytest.mark.parametrize("case", HTTP_REFUSED, ids=[c.file for c in HTTP_REFUSED])
    def test_each_bad_file_gets_its_french_error_and_nothing_is_stored(self, client, db, blobs, signed,
                                                                      case: Case):
        response = post_file(client, signed.patient_id, name=case.upload_name, data=corpus(case.file),
                             declared=case.declared_type)
        assert response.status_code == case.status, response.text
        error = response.json()["error"]
        assert error["code"] == "file_refused" and error["details"][0]["reason"] == case.reason
        assert case.fragment in error["message"]
        assert stored_counts(db, blobs) == (0, 0, 0)
        assert document_audit(db, signed.patient_id) == []

    @pytest.mark.parametrize("case", ACCEPTED, ids=[c.file for c in ACCEPTED])
    def test_each_good_file_is_served_back_with_its_sniffed_type(self, client, db, blobs, signed, case: Case):
        created = post_file(client, signed.patient_id, name=case.upload_name, data=corpus(case.file),
                            declared=case.declared_type or "application/octet-stream")
        assert created.status_code == 201, created.text
        content = client.get(f"/api/documents/{created.json()['id']}/content")
        assert content.status_code == 200 and content.headers["content-type"] == case.stored_type

    def test_gps_coordinates_of_a_phone_photo_do_not_come_back(self, client, db, blobs, signed):
        created = post_file(client, signed.patient_id, name="IMG_2041.JPG", data=corpus("ok_photo_gps_exif.jpg"),
                            declared="image/jpeg")
        content = client.get(f"/api/documents/{created.json()['id']}/content").content
        exif = Image.open(io.BytesIO(content)).getexif()
        assert len(exif) == 0 and not exif.get_ifd(0x8825)

    def test_a_retry_with_the_same_idempotency_key_creates_one_document(self, client, db, blobs, signed):
        key = {"idempotency-key": f"upload-{uuid.uuid4()}"}
        first = post_file(client, signed.patient_id, headers=key)
        second = post_file(client, signed.patient_id, headers=key)
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.json() == second.json()
        assert stored_counts(db, blobs) == (1, 1, 1)

    def test_the_same_key_with_another_file_is_refused(self, client, db, blobs, signed):
        key = {"idempotency-key": f"upload-{uuid.uuid4()}"}
        assert post_file(client, signed.patient_id, headers=key).status_code == 201
        other = post_file(client, signed.patient_id, name="photo.jpg", data=corpus("ok_photo_gps_exif.jpg"),
                          declared="image/jpeg", headers=key)
        assert other.status_code == 422 and "clé d'idempotence" in other.json()["error"]["message"]
        assert stored_counts(db, blobs) == (1, 1, 1)

    def test_a_refused_file_frees_its_idempotency_key(self, client, db, blobs, signed):
        key = {"idempotency-key": f"upload-{uuid.uuid4()}"}
        assert post_file(client, signed.patient_id, data=corpus("truncated.pdf"), headers=key).status_code == 422
        assert db.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

    def test_two_files_in_one_request_are_refused(self, client, db, blobs, signed):
        files = [("file", "a.pdf", corpus("ok_report.pdf"), "application/pdf"),
                 ("file", "b.pdf", corpus("ok_report.pdf"), "application/pdf")]
        response = post_file(client, signed.patient_id, files=files)
        assert response.status_code == 422 and response.json()["error"]["details"][0]["reason"] == "too_many_files"
        assert "un seul fichier" in response.json()["error"]["message"]
        assert stored_counts(db, blobs) == (0, 0, 0)

    def test_a_file_in_another_field_or_no_multipart_at_all_is_no_file(self, client, db, blobs, signed):
        misplaced = post_file(client, signed.patient_id, files=[("document", "a.pdf", corpus("ok_report.pdf"), None)])
        as_json = client.post(f"/api/patients/{signed.patient_id}/documents", json={"file": "x"},
                              headers={"x-csrf-token": csrf_token(client)})
        for response in (misplaced, as_json):
            assert response.status_code == 422 and response.json()["error"]["details"][0]["reason"] == "no_file"

    def test_a_body_over_the_upload_limit_is_refused_before_parsing(self, app, client, db, blobs, signed):
        app.state.settings = app.state.settings.model_copy(update={"max_upload_bytes": 2000})
        response = post_file(client, signed.patient_id, data=corpus("ok_photo_gps_exif.jpg"), name="a.jpg",
                             declared="image/jpeg")
        assert response.status_code == 413 and stored_counts(db, blobs) == (0, 0, 0)

    def test_a_file_over_the_document_limit_is_refused_in_french(self, app, client, db, blobs, signed):
        app.state.settings = app.state.settings.model_copy(update={"document_max_bytes": 500})
        response = post_file(client, signed.patient_id)
        assert response.status_code == 413 and "taille maximale d'un document" in response.json()["error"]["message"]

    def test_a_unicode_name_travels_and_is_stored_in_nfc(self, client, db, blobs, signed):
        response = post_file(client, signed.patient_id, name="ordonnance scanne\u0301e.pdf")
        assert response.json()["display_name"] == "ordonnance scannée.pdf"

    def test_triplet(self, client, db, blobs, care):
        """Anonymous → 401, a role without write access → 403, a physician without relationship → 404."""
        sign_out(client)
        assert post_file(client, care.patient_id).status_code == 401
        sign_in(client, db, make_user(db, "analyst"))
        assert post_file(client, care.patient_id).status_code == 403
        sign_out(client)
        sign_in(client, db, make_user(db, "physician"))
        assert post_file(client, care.patient_id).status_code == 404
        assert stored_counts(db, blobs) == (0, 0, 0)

    def test_a_refused_access_is_audited_as_denied(self, client, db, blobs, care):
        outsider = make_user(db, "physician")
        sign_in(client, db, outsider)
        post_file(client, care.patient_id, headers={"x-request-id": "req-doc-denied-01"})
        [entry] = document_audit(db, care.patient_id)
        assert (entry.outcome, entry.action, entry.actor_id, entry.request_id) == (
            "denied", "upload", str(outsider.id), "req-doc-denied-01")


@pytest.fixture
def stored(client, db, blobs, signed):
    """A PDF uploaded over HTTP by the signed-in physician: its id."""
    response = post_file(client, signed.patient_id, name="compte rendu «final».pdf")
    assert response.status_code == 201, response.text
    return response.json()["id"]


class TestListPatientDocuments:
    def test_pages_of_documents_newest_first(self, client, db, blobs, signed):
        ids = [post_file(client, signed.patient_id).json()["id"] for _ in range(3)]
        first = client.get(f"/api/patients/{signed.patient_id}/documents?limit=2").json()
        rest = client.get(f"/api/patients/{signed.patient_id}/documents?limit=2&offset=2").json()
        assert (first["has_more"], rest["has_more"], first["limit"], rest["offset"]) == (True, False, 2, 2)
        assert {d["id"] for d in first["items"] + rest["items"]} == set(ids)

    def test_an_oversized_page_is_refused(self, client, signed):
        assert client.get(f"/api/patients/{signed.patient_id}/documents?limit=1000").status_code == 422

    def test_triplet(self, client, db, care):
        assert_triplet(client, db, "GET", f"/api/patients/{care.patient_id}/documents",
                       wrong_role_user=make_user(db, "billing_officer"), outsider_user=make_user(db, "nurse"))


class TestGetDocument:
    def test_metadata_is_returned_and_the_read_audited_with_the_request_id(self, client, db, signed, stored):
        response = client.get(f"/api/documents/{stored}", headers={"x-request-id": "req-doc-read-0001"})
        assert response.status_code == 200 and response.json()["id"] == stored
        entry = db.scalars(select(AuditEntry).where(AuditEntry.request_id == "req-doc-read-0001")).one()
        assert (entry.action, entry.object_type, entry.object_id, entry.patient_id, entry.purpose) == (
            "read", "document", stored, str(signed.patient_id), "care")

    def test_a_missing_document_is_404(self, client, signed):
        assert client.get(f"/api/documents/{uuid.uuid4()}").status_code == 404

    def test_triplet(self, client, db, stored):
        assert_triplet(client, db, "GET", f"/api/documents/{stored}",
                       wrong_role_user=make_user(db, "analyst"), outsider_user=make_user(db, "physician"))


class TestGetDocumentContent:
    def test_the_bytes_come_with_safe_download_headers(self, client, db, signed, stored):
        response = client.get(f"/api/documents/{stored}/content")
        assert response.status_code == 200 and response.content == corpus("ok_report.pdf")
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "private, no-store"
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"compte rendu final.pdf\"; "
            "filename*=UTF-8''compte%20rendu%20%C2%ABfinal%C2%BB.pdf")
        assert "sandbox" in response.headers["content-security-policy"]

    def test_the_download_is_audited(self, client, db, signed, stored):
        client.get(f"/api/documents/{stored}/content")
        assert [e.action for e in document_audit(db, signed.patient_id)] == ["upload", "download"]

    def test_triplet(self, client, db, stored):
        assert_triplet(client, db, "GET", f"/api/documents/{stored}/content",
                       wrong_role_user=make_user(db, "administrator"), outsider_user=make_user(db, "midwife"))


class TestDeleteDocument:
    def test_the_document_is_gone_for_everyone_and_the_deletion_audited(self, client, db, blobs, signed, stored):
        response = client.delete(f"/api/documents/{stored}", headers={"x-csrf-token": csrf_token(client)})
        assert response.status_code == 204
        assert client.get(f"/api/documents/{stored}").status_code == 404
        assert client.get(f"/api/patients/{signed.patient_id}/documents").json()["items"] == []
        row = db.scalars(select(Document).where(Document.id == uuid.UUID(stored))).one()
        assert row.deleted_at is not None and row.blob_id is None
        assert [e.action for e in document_audit(db, signed.patient_id)][-2:] == ["delete", "search"]

    def test_a_colleague_may_read_but_not_delete(self, client, db, blobs, signed, stored):
        colleague = caring_physician(db, patient_id=signed.patient_id)
        sign_out(client)
        sign_in(client, db, colleague.user)
        assert client.get(f"/api/documents/{stored}").status_code == 200
        response = client.delete(f"/api/documents/{stored}", headers={"x-csrf-token": csrf_token(client)})
        assert response.status_code == 403 and "déposé ce document" in response.json()["error"]["message"]

    def test_triplet(self, client, db, stored):
        assert_triplet(client, db, "DELETE", f"/api/documents/{stored}",
                       wrong_role_user=make_user(db, "pharmacist"), outsider_user=make_user(db, "physician"))
