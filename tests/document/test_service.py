"""Document use cases on SQLite and PostgreSQL: the bad-input corpus, storage through the vault, reads,
lists and deletion under authorization, with their audit entries.

Source: issue 8 (bad-input corpus for uploads) and docs/adr/0007-document-uploads.md.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from PIL import Image
from sqlalchemy import select

from maillage.authz import service as authz
from maillage.document import rules, service
from maillage.document.rules import FileRefused
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.pagination import PageParams
from maillage.models import Job
from maillage.models.audit import AuditEntry
from maillage.models.document import Document
from maillage.models.vault import Blob
from maillage.vault import service as vault
from tests.corpus.make_corpus import CASES, Case
from tests.document.conftest import actor_of, caring_physician, corpus, document_audit, stored_counts
from tests.fixtures.factories import make_user
from tests.fixtures.teleexpertise import actor as te_actor
from tests.fixtures.teleexpertise import photo, world

REFUSED = [case for case in CASES if not case.accepted]
ACCEPTED = [case for case in CASES if case.accepted]


def upload(db, care, name="compte-rendu.pdf", data=None, declared="application/pdf", **kw):
    fields = dict(patient_id=care.patient_id, filename=name, data=corpus("ok_report.pdf") if data is None else data,
                  declared_type=declared, purpose="care", owner_type="patient", owner_id=str(care.patient_id))
    fields.update(kw)
    return service.store_upload(db, care.actor, **fields)


def upload_case(db, care, case: Case, **kw):
    return upload(db, care, name=case.upload_name, data=corpus(case.file), declared=case.declared_type, **kw)


class TestStoreUploadWithTheCorpus:
    @pytest.mark.parametrize("case", REFUSED, ids=[c.file for c in REFUSED])
    def test_each_bad_file_is_refused_in_french_and_leaves_nothing_stored(self, db, blobs, care, case, doc_settings):
        """Issue 8: each corpus file gets a clear French error and leaves nothing stored — no document row,
        no blob row, no file in the blob folder, no audit entry — even when the caller commits afterwards."""
        with pytest.raises(FileRefused) as refused:
            upload_case(db, care, case, settings=doc_settings)
        error = refused.value
        assert (error.reason.value, error.status_code) == (case.reason, case.status)
        assert case.fragment in error.message, error.message
        assert error.details == [{"field": "file", "reason": case.reason, "message": error.message}]
        db.commit()
        assert stored_counts(db, blobs) == (0, 0, 0)
        assert document_audit(db, care.patient_id) == []

    @pytest.mark.parametrize("case", ACCEPTED, ids=[c.file for c in ACCEPTED])
    def test_each_good_file_is_stored_encrypted_with_its_sniffed_type(self, db, blobs, care, case, doc_settings):
        document = upload_case(db, care, case, settings=doc_settings)
        assert document.media_type == case.stored_type
        assert stored_counts(db, blobs) == (1, 1, 1)
        blob = db.get(Blob, document.blob_id)
        assert blob is not None and blob.media_type == case.stored_type
        assert (blob.object_type, blob.object_id) == ("document", str(document.id))
        _, content = service.read(db, care.actor, document.id, "care")
        assert rules.sniff(content).media_type == case.stored_type
        assert (len(content), document.sha256) == (document.size_bytes, blob.plaintext_sha256)
        stored_file = next(blobs.iter_files()).path.read_bytes()
        assert content[:64] not in stored_file  # only ciphertext on disk

    def test_the_corpus_folder_holds_exactly_the_files_of_the_table_and_stays_small(self):
        from tests.corpus.make_corpus import HERE

        on_disk = {p.name for p in HERE.iterdir() if p.is_file()} - {"make_corpus.py", "README.md", "__init__.py"}
        assert on_disk == {case.file for case in CASES}
        assert sum((HERE / name).stat().st_size for name in on_disk) < 3 * 1024 * 1024


class TestStoreUploadOfImages:
    def test_a_phone_photo_comes_back_without_any_exif_upright_and_without_the_comment(self, db, blobs, care):
        """Issue 8: no GPS coordinates from a phone photo leak into a shared document."""
        original = Image.open(io.BytesIO(corpus("ok_photo_gps_exif.jpg")))
        assert original.getexif().get_ifd(0x8825)  # the corpus photo does carry GPS
        document = upload(db, care, name="IMG_2041.JPG", data=corpus("ok_photo_gps_exif.jpg"), declared="image/jpeg")
        _, content = service.read(db, care.actor, document.id, "care")
        stored = Image.open(io.BytesIO(content))
        exif = stored.getexif()
        assert len(exif) == 0 and not exif.get_ifd(0x8825) and 0x8825 not in exif
        assert not {"exif", "xmp", "comment", "icc_profile"} & set(stored.info)
        for marker in (b"Exif\x00\x00", b"GPS", b"SN-0042-TEST", b"Fabricant-Test", b"Jean Test", b"x:xmpmeta"):
            assert marker not in content
        # Orientation 6 (rotate 90° clockwise) applied to the pixels: 320 × 240 becomes 240 × 320.
        assert stored.size == (240, 320) == (document.width, document.height)

    def test_png_text_chunks_and_exif_are_dropped(self, db, blobs, care):
        document = upload(db, care, name="scan.png", data=corpus("ok_scan_text_chunks.png"), declared="image/png")
        _, content = service.read(db, care.actor, document.id, "care")
        chunks = png_chunk_types(content)
        assert chunks <= {b"IHDR", b"IDAT", b"IEND"}, chunks
        assert b"Dr Test" not in content and b"48.8567" not in content

    def test_webp_metadata_is_dropped_and_the_image_stays_webp(self, db, blobs, care):
        document = upload(db, care, name="plaie.webp", data=corpus("ok_photo_exif.webp"), declared="image/webp")
        _, content = service.read(db, care.actor, document.id, "care")
        stored = Image.open(io.BytesIO(content))
        assert stored.format == "WEBP" and not stored.getexif() and "xmp" not in stored.info
        assert b"EXIF" not in content and b"XMP " not in content

    def test_a_zip_appended_to_a_jpeg_does_not_survive_re_encoding(self, db, blobs, care):
        document = upload(db, care, name="photo.jpg", data=corpus("ok_polyglot_jpeg_zip.jpg"), declared="image/jpeg")
        _, content = service.read(db, care.actor, document.id, "care")
        assert b"PK\x03\x04" not in content and b"<script" not in content
        assert content.endswith(b"\xff\xd9")

    def test_a_transparent_palette_png_keeps_its_transparency(self, db, blobs, care):
        document = upload(db, care, name="schema.png", data=corpus("ok_palette_transparent.png"), declared=None)
        _, content = service.read(db, care.actor, document.id, "care")
        stored = Image.open(io.BytesIO(content))
        assert stored.mode == "RGBA" and stored.getpixel((0, 1))[3] == 0 and stored.getpixel((5, 5))[3] == 255

    def test_a_pdf_is_stored_byte_for_byte_with_its_page_count(self, db, blobs, care):
        data = corpus("ok_report.pdf")
        document = upload(db, care, data=data)
        _, content = service.read(db, care.actor, document.id, "care")
        assert content == data and document.page_count == 2 and document.width is None


def png_chunk_types(data: bytes) -> set[bytes]:
    types, i = set(), 8
    while i < len(data):
        length = int.from_bytes(data[i:i + 4], "big")
        types.add(data[i + 4:i + 8])
        i += 12 + length
    return types


class TestStoreUpload:
    def test_the_stored_row_says_who_what_for_whom_and_to_what_it_is_attached(self, db, blobs, care):
        document = upload(db, care, name="ordonnance scanne\u0301e.pdf", title="  Ordonnance   du 28/11 ")
        row = db.scalars(select(Document).where(Document.id == document.id)).one()
        assert (row.patient_id, row.owner_type, row.owner_id) == (care.patient_id, "patient", str(care.patient_id))
        assert row.display_name == "ordonnance scannée.pdf" and row.title == "Ordonnance du 28/11"
        assert (row.uploaded_by, row.purpose, row.deleted_at) == (care.user.id, "care", None)

    def test_another_capability_attaches_a_file_to_its_own_object(self, db, blobs, care):
        request_id = str(uuid.uuid4())
        document = upload(db, care, data=corpus("ok_photo_gps_exif.jpg"), name="plaie.jpg", declared="image/jpeg",
                          purpose="teleexpertise", owner_type="teleexpertise_request", owner_id=request_id)
        assert (document.owner_type, document.owner_id, document.purpose) == (
            "teleexpertise_request", request_id, "teleexpertise")
        rows, _ = service.list_documents(db, care.actor, care.patient_id, purpose="teleexpertise",
                                         page=PageParams(), owner_type="teleexpertise_request", owner_id=request_id)
        assert [r.id for r in rows] == [document.id]

    def test_the_upload_is_audited_with_the_document_id(self, db, blobs, care):
        document = upload(db, care)
        db.commit()
        [entry] = document_audit(db, care.patient_id)
        assert (entry.action, entry.object_type, entry.object_id, entry.outcome, entry.actor_id) == (
            "upload", "document", str(document.id), "success", str(care.user.id))

    def test_a_name_without_extension_gets_the_one_of_its_real_type(self, db, blobs, care):
        assert upload(db, care, name="compte rendu", declared="application/octet-stream").display_name == (
            "compte rendu.pdf")
        assert upload(db, care, name=None, declared=None).display_name == "document.pdf"

    def test_a_file_over_the_size_limit_is_refused_with_413(self, db, blobs, care, doc_settings):
        small = doc_settings.model_copy(update={"document_max_bytes": 500})
        with pytest.raises(FileRefused) as refused:
            upload(db, care, settings=small)
        assert refused.value.status_code == 413 and "taille maximale" in refused.value.message
        assert stored_counts(db, blobs) == (0, 0, 0)

    def test_an_owner_with_too_many_documents_gets_no_more(self, db, blobs, care, doc_settings):
        two = doc_settings.model_copy(update={"document_max_per_owner": 2})
        upload(db, care, settings=two)
        upload(db, care, settings=two)
        with pytest.raises(FileRefused) as refused:
            upload(db, care, settings=two)
        assert refused.value.reason == rules.Reason.TOO_MANY_DOCUMENTS and refused.value.status_code == 409
        assert stored_counts(db, blobs) == (2, 2, 2)

    def test_a_smaller_page_cap_applies(self, db, blobs, care, doc_settings):
        with pytest.raises(FileRefused) as refused:
            upload(db, care, settings=doc_settings.model_copy(update={"document_max_pdf_pages": 1}))
        assert "2 pages (1 au plus)" in refused.value.message

    def test_someone_elses_patient_is_not_found_and_nothing_is_read(self, db, blobs, care):
        outsider = caring_physician(db)
        with pytest.raises(NotFound):
            upload(db, outsider, patient_id=care.patient_id, owner_id=str(care.patient_id))
        assert stored_counts(db, blobs) == (0, 0, 0)

    def test_a_role_without_write_access_is_forbidden(self, db, blobs, care):
        analyst = actor_of(db, make_user(db, "analyst"))
        with pytest.raises(PermissionDenied):
            service.store_upload(db, analyst, patient_id=care.patient_id, filename="a.pdf",
                                 data=corpus("ok_report.pdf"), declared_type=None, purpose="care",
                                 owner_type="patient", owner_id=str(care.patient_id))

    @pytest.mark.parametrize("owner_type,owner_id", [("Patient", "x"), ("patient", "a/b"), ("", "x"), ("p", "")])
    def test_a_malformed_owner_is_refused(self, db, blobs, care, owner_type, owner_id):
        with pytest.raises(ValidationFailed):
            upload(db, care, owner_type=owner_type, owner_id=owner_id)

    def test_an_unknown_purpose_is_refused(self, db, blobs, care):
        with pytest.raises(ValidationFailed):
            upload(db, care, purpose="curiosity")

    def test_a_title_with_control_characters_is_refused(self, db, blobs, care):
        with pytest.raises(ValidationFailed):
            upload(db, care, title="Ordonnance\x1b[31m")


class TestRead:
    def test_the_content_is_decrypted_and_the_download_audited(self, db, blobs, care):
        document = upload(db, care)
        db.commit()
        got, content = service.read(db, care.actor, document.id, "care")
        assert got.id == document.id and content == corpus("ok_report.pdf")
        db.commit()
        entries = document_audit(db, care.patient_id)
        assert [(e.action, e.object_id) for e in entries] == [("upload", str(document.id)),
                                                              ("download", str(document.id))]

    def test_another_patients_document_and_a_missing_one_get_the_same_answer(self, db, blobs, care):
        document = upload(db, care)
        outsider = caring_physician(db)
        with pytest.raises(NotFound) as hidden:
            service.read(db, outsider.actor, document.id, "care")
        with pytest.raises(NotFound) as missing:
            service.read(db, outsider.actor, uuid.uuid4(), "care")
        assert (hidden.value.status_code, hidden.value.message) == (missing.value.status_code, missing.value.message)

    def test_an_analyst_is_forbidden_even_for_a_missing_document(self, db, blobs):
        analyst = actor_of(db, make_user(db, "analyst"))
        with pytest.raises(PermissionDenied):
            service.read(db, analyst, uuid.uuid4(), "care")

    def test_a_colleague_caring_for_the_same_patient_reads_it(self, db, blobs, care):
        document = upload(db, care)
        colleague = caring_physician(db, "nurse", patient_id=care.patient_id)
        assert service.read(db, colleague.actor, document.id, "care")[1] == corpus("ok_report.pdf")


class TestGet:
    def test_metadata_is_audited_as_a_read(self, db, blobs, care):
        document = upload(db, care)
        assert service.get(db, care.actor, str(document.id), "care").id == document.id
        db.commit()
        assert [e.action for e in document_audit(db, care.patient_id)] == ["upload", "read"]

    def test_a_malformed_id_is_not_found(self, db, care):
        with pytest.raises(NotFound):
            service.get(db, care.actor, "not-a-uuid", "care")


class TestListDocuments:
    def test_pages_run_newest_first_and_say_whether_more_follow(self, db, blobs, care):
        ids = [upload(db, care).id for _ in range(3)]
        first, more = service.list_documents(db, care.actor, care.patient_id, purpose="care",
                                             page=PageParams(limit=2, offset=0))
        rest, no_more = service.list_documents(db, care.actor, care.patient_id, purpose="care",
                                               page=PageParams(limit=2, offset=2))
        assert more and not no_more
        assert {d.id for d in first + rest} == set(ids) and len(first) == 2 and len(rest) == 1
        assert first[0].uploaded_at >= first[1].uploaded_at >= rest[0].uploaded_at

    def test_only_this_patients_live_documents_are_listed_and_the_search_is_audited(self, db, blobs, care):
        kept = upload(db, care)
        gone = upload(db, care)
        other = caring_physician(db)
        upload(db, other)
        service.delete(db, care.actor, gone.id, "care")
        rows, _ = service.list_documents(db, care.actor, care.patient_id, purpose="care", page=PageParams())
        assert [r.id for r in rows] == [kept.id]
        db.commit()
        assert document_audit(db, care.patient_id)[-1].action == "search"

    def test_an_outsider_gets_not_found(self, db, care):
        with pytest.raises(NotFound):
            service.list_documents(db, caring_physician(db).actor, care.patient_id, purpose="care",
                                   page=PageParams())


class TestDelete:
    def test_the_row_stays_the_content_goes_and_its_file_after_commit(self, db, blobs, care):
        document = upload(db, care)
        blob_id = document.blob_id
        service.delete(db, care.actor, document.id, "care")
        db.commit()
        row = db.scalars(select(Document).where(Document.id == document.id)
                         .execution_options(populate_existing=True)).one()
        assert row.deleted_at is not None and row.deleted_by == care.user.id and row.blob_id is None
        assert db.get(Blob, blob_id) is None
        job = db.scalars(select(Job).where(Job.name == vault.DELETE_BLOB_FILE_JOB)).one()
        assert job.args == {"blob_id": str(blob_id)}
        assert vault.delete_blob_file(db, blob_id) and stored_counts(db, blobs) == (1, 0, 0)
        assert document_audit(db, care.patient_id)[-1].action == "delete"

    def test_a_deleted_document_is_not_found_any_more(self, db, blobs, care):
        document = upload(db, care)
        service.delete(db, care.actor, document.id, "care")
        for call in (service.get, service.read, service.delete):
            with pytest.raises(NotFound):
                call(db, care.actor, document.id, "care")

    def test_only_the_uploader_may_delete(self, db, blobs, care):
        document = upload(db, care)
        colleague = caring_physician(db, patient_id=care.patient_id)
        with pytest.raises(PermissionDenied):
            service.delete(db, colleague.actor, document.id, "care")
        assert db.get(Blob, document.blob_id) is not None

    def test_an_outsider_gets_not_found(self, db, blobs, care):
        document = upload(db, care)
        with pytest.raises(NotFound):
            service.delete(db, caring_physician(db).actor, document.id, "care")


# --- issue 20: first-class documents ----------------------------------------------------------------------------------



def _png() -> bytes:
    return photo()


class TestStoreUploadDescribesTheDocument:
    def test_an_upload_is_the_first_current_version_of_its_own_series_by_its_author(self, db, blobs, care,
                                                                                     doc_settings):
        document = upload(db, care, settings=doc_settings, type_code="11488-4", act_date=dt.date(2026, 11, 2),
                          title="Consultation de suivi")
        assert (document.type_code, document.act_date, document.author_id, document.source, document.status,
                document.version, document.series_id, document.confidentiality, document.legal_hold) == (
            "11488-4", dt.date(2026, 11, 2), care.user.id, "upload", "current", 1, document.id, "normal", False)

    def test_an_untyped_image_is_a_photograph(self, db, blobs, care, doc_settings):
        document = upload(db, care, name="lesion.png", data=_png(), declared="image/png", settings=doc_settings)
        assert document.type_code == "72170-4"

    def test_an_unknown_type_a_future_date_or_an_unknown_confidentiality_are_refused_and_nothing_is_stored(
            self, db, blobs, care, doc_settings):
        for bad in ({"type_code": "00000-0"}, {"act_date": dt.date.today() + dt.timedelta(days=2)},
                    {"confidentiality": "secret"}):
            with pytest.raises(ValidationFailed):
                upload(db, care, settings=doc_settings, **bad)
        assert stored_counts(db, blobs)[0] == 0


class TestNewVersion:
    def test_a_new_version_supersedes_the_current_one_which_stays_readable(self, db, blobs, care, doc_settings):
        first = upload(db, care, settings=doc_settings, type_code="57833-6", title="Ordonnance")
        second = service.new_version(db, care.actor, first.id, filename="ordonnance-v2.pdf",
                                     data=corpus("ok_report.pdf"), declared_type="application/pdf",
                                     settings=doc_settings)
        assert (second.version, second.series_id, second.replaces_id, second.type_code, second.title) == (
            2, first.id, first.id, "57833-6", "Ordonnance")
        assert (first.status, first.status_changed_by) == ("superseded", care.user.id)
        _, data = service.read(db, care.actor, first.id, "care")
        assert data.startswith(b"%PDF")
        assert [d.version for d in service.versions(db, care.actor, second)] == [2, 1]

    def test_a_superseded_version_gets_no_new_version(self, db, blobs, care, doc_settings):
        first = upload(db, care, settings=doc_settings)
        service.new_version(db, care.actor, first.id, filename="v2.pdf", data=corpus("ok_report.pdf"),
                            declared_type="application/pdf", settings=doc_settings)
        with pytest.raises(Conflict, match="version en vigueur"):
            service.new_version(db, care.actor, first.id, filename="v3.pdf", data=corpus("ok_report.pdf"),
                                declared_type="application/pdf", settings=doc_settings)

    def test_the_list_shows_current_documents_by_default_filter_and_all_versions_on_demand(self, db, blobs, care,
                                                                                          doc_settings):
        first = upload(db, care, settings=doc_settings, act_date=dt.date(2026, 1, 5))
        service.new_version(db, care.actor, first.id, filename="v2.pdf", data=corpus("ok_report.pdf"),
                            declared_type="application/pdf", settings=doc_settings)
        photo_doc = upload(db, care, name="p.png", data=_png(), declared="image/png", settings=doc_settings,
                           act_date=dt.date(2025, 6, 1))
        page = PageParams(limit=10, offset=0)

        def listed(**kw):
            rows, _ = service.list_documents(db, care.actor, care.patient_id, purpose="care", page=page,
                                             filters=service.repository.Filters(**kw))
            return [(r.type_code, r.version) for r in rows]

        assert listed(statuses=("current",)) == [("34133-9", 2), ("72170-4", 1)]
        assert listed(statuses=None) == [("34133-9", 2), ("34133-9", 1), ("72170-4", 1)]
        assert listed(type_codes=("72170-4",)) == [("72170-4", 1)]
        assert listed(act_from=dt.date(2026, 1, 1), statuses=None) == [("34133-9", 2), ("34133-9", 1)]
        assert listed(act_to=dt.date(2025, 12, 31)) == [("72170-4", 1)]
        assert photo_doc.status == "current"


class TestEnteredInError:
    def test_the_author_marks_a_document_entered_in_error_with_a_reason(self, db, blobs, care, doc_settings):
        document = upload(db, care, settings=doc_settings)
        service.mark_entered_in_error(db, care.actor, document.id, "Mauvais patient")
        assert (document.status, document.status_reason, document.status_changed_by) == (
            "entered_in_error", "Mauvais patient", care.user.id)
        with pytest.raises(Conflict):
            service.mark_entered_in_error(db, care.actor, document.id, "Encore une fois")

    def test_a_colleague_outside_the_author_s_team_may_not(self, db, blobs, care, doc_settings):
        document = upload(db, care, settings=doc_settings)
        other = caring_physician(db, patient_id=care.patient_id)
        with pytest.raises(PermissionDenied):
            service.mark_entered_in_error(db, other.actor, document.id, "Mauvais patient")
        assert document.status == "current"

    def test_without_a_reason_nothing_changes(self, db, blobs, care, doc_settings):
        document = upload(db, care, settings=doc_settings)
        with pytest.raises(ValidationFailed, match="pourquoi"):
            service.mark_entered_in_error(db, care.actor, document.id, "")
        assert document.status == "current"


class TestConfidentialityRestrictedToTheAuthorsTeam:
    def _restricted(self, db, doc_settings):
        w = world(db)
        for user in (w.expert, w.colleague, w.outsider):
            authz.grant_relationship(db, user_id=user.id, patient_id=w.patient_id, kind="attending")
        document = service.store_upload(
            db, te_actor(db, w.expert), patient_id=w.patient_id, filename="note.pdf", data=corpus("ok_report.pdf"),
            declared_type="application/pdf", purpose="care", owner_type="patient", owner_id=str(w.patient_id),
            confidentiality="restricted", settings=doc_settings)
        return w, document

    def test_the_author_s_line_colleague_reads_it(self, db, blobs, doc_settings):
        w, document = self._restricted(db, doc_settings)
        assert service.get(db, te_actor(db, w.colleague), document.id, "care").id == document.id

    def test_a_physician_caring_for_the_patient_outside_the_team_gets_404_and_does_not_see_it_listed(
            self, db, blobs, doc_settings):
        w, document = self._restricted(db, doc_settings)
        for user in (w.outsider, w.requester):
            with pytest.raises(NotFound):
                service.get(db, te_actor(db, user), document.id, "care")
            rows, _ = service.list_documents(db, te_actor(db, user), w.patient_id, purpose="care",
                                             page=PageParams(limit=10, offset=0))
            assert document.id not in [r.id for r in rows]
        rows, _ = service.list_documents(db, te_actor(db, w.colleague), w.patient_id, purpose="care",
                                         page=PageParams(limit=10, offset=0))
        assert document.id in [r.id for r in rows]


class TestReadsAreScopedAndAudited:
    def test_a_physician_without_a_relationship_gets_404_like_missing(self, db, blobs, care, doc_settings):
        document = upload(db, care, settings=doc_settings)
        stranger = actor_of(db, make_user(db, "physician"))
        for call in (service.get, service.read, service.export_facts):
            with pytest.raises(NotFound):
                call(db, stranger, document.id, *(["care"] if call is not service.export_facts else []))
        with pytest.raises(NotFound):
            service.get(db, care.actor, uuid.uuid4(), "care")

    def test_reading_a_version_and_exporting_are_audited_in_the_same_transaction(self, db, blobs, care,
                                                                                 doc_settings):
        document = upload(db, care, settings=doc_settings)
        service.read(db, care.actor, document.id, "care")
        service.export_facts(db, care.actor, document.id)
        db.commit()
        actions = [(e.action, e.object_type) for e in db.scalars(
            select(AuditEntry).where(AuditEntry.object_id == str(document.id)).order_by(AuditEntry.seq))]
        assert ("download", "document") in actions and ("export", "document") in actions


class TestPurge:
    def _old_and_recent(self, db, care, doc_settings):
        old = upload(db, care, settings=doc_settings, act_date=dt.date(1990, 1, 1))
        held = upload(db, care, settings=doc_settings, act_date=dt.date(1989, 6, 1))
        service.set_legal_hold(db, care.actor, held.id, True)
        recent_care = caring_physician(db)
        recent = upload(db, recent_care, settings=doc_settings, act_date=dt.date(2026, 11, 1))
        return old, held, recent

    def test_the_dry_run_lists_expired_documents_and_held_ones_and_changes_nothing(self, db, blobs, care,
                                                                                   doc_settings):
        old, held, _recent = self._old_and_recent(db, care, doc_settings)
        items = service.purge(db, dry_run=True, today=dt.date(2026, 12, 7))
        assert {(i.document_id, i.held, i.retained_until) for i in items} == {
            (old.id, False, dt.date(2010, 1, 1)), (held.id, True, dt.date(2010, 1, 1))}
        assert old.deleted_at is None and old.blob_id is not None

    def test_the_purge_deletes_content_and_blob_skips_held_and_audits_each_deletion(self, db, blobs, care,
                                                                                     doc_settings):
        old, held, recent = self._old_and_recent(db, care, doc_settings)
        blob_id = old.blob_id
        service.purge(db, dry_run=False, today=dt.date(2026, 12, 7))
        assert (old.deleted_at is not None, old.blob_id, old.title) == (True, None, None)
        assert db.get(Blob, blob_id) is None
        assert held.deleted_at is None and recent.deleted_at is None
        db.commit()
        entry = db.scalar(select(AuditEntry).where(AuditEntry.object_id == str(old.id),
                                                   AuditEntry.action == "purge"))
        assert entry is not None and entry.actor_role == "system"
        assert service.purge(db, dry_run=False, today=dt.date(2026, 12, 7))[0].held  # only the held one is left

    def test_the_last_care_of_the_patient_counts_for_all_their_documents(self, db, blobs, care, doc_settings):
        upload(db, care, settings=doc_settings, act_date=dt.date(1990, 1, 1))
        upload(db, care, settings=doc_settings, act_date=dt.date(2010, 1, 2))
        assert service.purge(db, dry_run=True, today=dt.date(2030, 1, 2)) == []
        assert len(service.purge(db, dry_run=True, today=dt.date(2030, 1, 3))) == 2
