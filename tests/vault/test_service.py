"""Envelope encryption service on SQLite and PostgreSQL: seal/unseal, blobs, deletion, orphans, rotation.

Source: issue 3 (encryption at rest) and docs/adr/0005-envelope-encryption.md.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid

import pytest
from sqlalchemy import func, select, update

from maillage.exceptions import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from maillage.kit import clock, crypto
from maillage.models import Job
from maillage.models.vault import Blob, SealedValue
from maillage.vault import service
from maillage.vault.errors import CiphertextCorrupted, KeyUnavailable
from maillage.vault.keys import DirectoryKeyRing, Kek, StaticKeyRing, use_keyring
from maillage.worker.runner import Worker, WorkerConfig

PDF = b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF"


def sealed_row(db, object_type="message", object_id="m1", field="body") -> SealedValue:
    return db.scalars(
        select(SealedValue)
        .where(SealedValue.object_type == object_type, SealedValue.object_id == object_id, SealedValue.field == field)
        .execution_options(populate_existing=True)
    ).one()


def blob_row(db, blob_id) -> Blob:
    return db.scalars(select(Blob).where(Blob.id == blob_id).execution_options(populate_existing=True)).one()


def run_jobs(sessions) -> None:
    import maillage.vault.tasks  # noqa: F401 - registers the vault's jobs

    Worker(sessions, WorkerConfig(poll_seconds=0.01)).run_until_idle()


class TestSeal:
    def test_a_sealed_body_unseals_to_the_same_bytes(self, db, keyring):
        service.seal(db, object_type="message", object_id="m1", plaintext="Avis: réévaluer à J+3".encode())
        assert service.unseal(db, object_type="message", object_id="m1").decode() == "Avis: réévaluer à J+3"

    def test_the_row_holds_only_ciphertext_under_the_active_key(self, db, keyring):
        row_id = service.seal(db, object_type="message", object_id="m1", plaintext=b"secret clinical text")
        row = sealed_row(db)
        assert row.id == row_id
        assert b"secret clinical text" not in row.ciphertext
        assert row.kek_id == keyring.active().id
        assert len(row.nonce) == 12 and len(row.wrapped_key) == crypto.WRAPPED_KEY_BYTES

    def test_sealing_again_replaces_the_value_in_the_same_row_with_a_fresh_data_key(self, db, keyring):
        first = service.seal(db, object_type="message", object_id="m1", plaintext=b"v1")
        wrapped_before = sealed_row(db).wrapped_key
        second = service.seal(db, object_type="message", object_id="m1", plaintext=b"v2")
        assert first == second
        assert service.unseal(db, object_type="message", object_id="m1") == b"v2"
        assert sealed_row(db).wrapped_key != wrapped_before
        assert db.scalar(select(func.count()).select_from(SealedValue)) == 1

    def test_one_object_can_have_several_sealed_fields(self, db, keyring):
        service.seal(db, object_type="user_account", object_id="u1", field="totp", plaintext=b"JBSWY3DP")
        service.seal(db, object_type="user_account", object_id="u1", field="note", plaintext=b"note")
        assert service.unseal(db, object_type="user_account", object_id="u1", field="totp") == b"JBSWY3DP"
        assert service.unseal(db, object_type="user_account", object_id="u1", field="note") == b"note"
        assert service.has_sealed(db, object_type="user_account", object_id="u1", field="totp")
        assert not service.has_sealed(db, object_type="user_account", object_id="u1")

    def test_a_body_of_exactly_one_mebibyte_is_accepted_and_one_byte_more_refused(self, db, keyring):
        service.seal(db, object_type="message", object_id="big", plaintext=b"a" * service.SEAL_MAX_BYTES)
        with pytest.raises(PayloadTooLarge, match="1024 Kio"):
            service.seal(db, object_type="message", object_id="bigger", plaintext=b"a" * (service.SEAL_MAX_BYTES + 1))
        assert not service.has_sealed(db, object_type="message", object_id="bigger")

    @pytest.mark.parametrize(
        ("object_type", "object_id", "field"),
        [
            ("", "1", "body"),
            ("Message", "1", "body"),
            ("message", "", "body"),
            ("message", "a b", "body"),
            ("message", "x" * 101, "body"),
            ("message", "1", "Body"),
            ("message", "1", ""),
        ],
    )
    def test_invalid_identifiers_are_refused_and_nothing_is_stored(self, db, keyring, object_type, object_id, field):
        with pytest.raises(ValidationFailed):
            service.seal(db, object_type=object_type, object_id=object_id, field=field, plaintext=b"x")
        assert db.scalar(select(func.count()).select_from(SealedValue)) == 0

    def test_text_instead_of_bytes_is_refused(self, db, keyring):
        with pytest.raises(ValidationFailed, match="octets"):
            service.seal(db, object_type="message", object_id="m1", plaintext="texte")  # type: ignore[arg-type]


class TestUnseal:
    def test_an_absent_value_is_not_found(self, db, keyring):
        with pytest.raises(NotFound):
            service.unseal(db, object_type="message", object_id="nobody")

    def test_a_ciphertext_copied_onto_another_object_does_not_decrypt(self, db, keyring):
        service.seal(db, object_type="message", object_id="m1", plaintext=b"for m1 only")
        service.seal(db, object_type="message", object_id="m2", plaintext=b"for m2")
        source = sealed_row(db, object_id="m1")
        stolen = {
            "kek_id": source.kek_id,
            "wrapped_key": source.wrapped_key,
            "nonce": source.nonce,
            "ciphertext": source.ciphertext,
        }
        db.execute(update(SealedValue).where(SealedValue.object_id == "m2").values(**stolen))
        with pytest.raises(CiphertextCorrupted):
            service.unseal(db, object_type="message", object_id="m2")

    def test_content_copied_under_another_objects_data_key_does_not_decrypt(self, db, keyring):
        service.seal(db, object_type="message", object_id="m1", plaintext=b"for m1 only")
        service.seal(db, object_type="message", object_id="m2", plaintext=b"for m2")
        source = sealed_row(db, object_id="m1")
        db.execute(
            update(SealedValue)
            .where(SealedValue.object_id == "m2")
            .values(nonce=source.nonce, ciphertext=source.ciphertext)
        )
        with pytest.raises(CiphertextCorrupted):
            service.unseal(db, object_type="message", object_id="m2")

    def test_a_ciphertext_moved_to_another_field_or_object_type_does_not_decrypt(self, db, keyring):
        service.seal(db, object_type="message", object_id="m1", field="body", plaintext=b"body")
        db.execute(update(SealedValue).values(field="subject"))
        with pytest.raises(CiphertextCorrupted):
            service.unseal(db, object_type="message", object_id="m1", field="subject")
        db.execute(update(SealedValue).values(field="body", object_type="note"))
        with pytest.raises(CiphertextCorrupted):
            service.unseal(db, object_type="note", object_id="m1")

    def test_a_tampered_ciphertext_is_detected(self, db, keyring):
        service.seal(db, object_type="message", object_id="m1", plaintext=b"original")
        row = sealed_row(db)
        tampered = bytearray(row.ciphertext)
        tampered[0] ^= 1
        db.execute(update(SealedValue).values(ciphertext=bytes(tampered)))
        with pytest.raises(CiphertextCorrupted, match="altéré"):
            service.unseal(db, object_type="message", object_id="m1")

    def test_a_value_whose_key_is_not_in_the_ring_is_unavailable(self, db, keyring):
        service.seal(db, object_type="message", object_id="m1", plaintext=b"x")
        stranger = StaticKeyRing([Kek("other", crypto.generate_key())])
        with pytest.raises(KeyUnavailable):
            service.unseal(db, object_type="message", object_id="m1", keyring=stranger)


class TestStoreBlob:
    def test_a_document_round_trips_and_its_reference_describes_it(self, db, keyring, blobs):
        ref = service.store_blob(db, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
        assert ref.size_bytes == len(PDF) and ref.sha256 == crypto.sha256_hex(PDF)
        assert ref.media_type == "application/pdf" and ref.object_id == "d1"
        assert service.read_blob(db, ref.id, object_type="document", object_id="d1") == PDF
        assert service.list_blobs(db, object_type="document", object_id="d1") == [ref]

    def test_the_file_holds_ciphertext_matching_the_recorded_hash(self, db, keyring, blobs):
        ref = service.store_blob(db, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
        stored = blobs.path_for(ref.id).read_bytes()
        row = blob_row(db, ref.id)
        assert PDF[:9] not in stored and len(stored) == len(PDF) + 16
        assert row.ciphertext_sha256 == crypto.sha256_hex(stored)
        assert row.plaintext_sha256 == crypto.sha256_hex(PDF)
        assert row.kek_id == keyring.active().id and len(row.nonce) == 12

    def test_an_empty_document_round_trips(self, db, keyring, blobs):
        ref = service.store_blob(db, object_type="document", object_id="d1", data=b"", media_type="text/plain")
        assert service.read_blob(db, ref.id, object_type="document", object_id="d1") == b""

    def test_a_document_over_the_limit_is_refused_and_no_file_is_written(self, db, keyring, blobs):
        with pytest.raises(PayloadTooLarge, match="4 Mio"):
            service.store_blob(
                db,
                object_type="document",
                object_id="d1",
                data=b"x" * (blobs.max_bytes + 1),
                media_type="application/pdf",
            )
        assert list(blobs.iter_files()) == []

    @pytest.mark.parametrize("media_type", ["", "pdf", "application/", "text/plain; charset=<script>", "a/b c"])
    def test_an_invalid_media_type_is_refused(self, db, keyring, blobs, media_type):
        with pytest.raises(ValidationFailed, match="Type de média"):
            service.store_blob(db, object_type="document", object_id="d1", data=b"x", media_type=media_type)
        assert list(blobs.iter_files()) == []


class TestReadBlob:
    def test_a_corrupted_file_is_detected_never_returned(self, db, keyring, blobs):
        ref = service.store_blob(db, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
        path = blobs.path_for(ref.id)
        data = bytearray(path.read_bytes())
        data[100] ^= 0x40
        path.write_bytes(bytes(data))
        with pytest.raises(CiphertextCorrupted, match="empreinte"):
            service.read_blob(db, ref.id, object_type="document", object_id="d1")

    def test_a_corrupted_file_with_a_rewritten_hash_fails_the_gcm_tag(self, db, keyring, blobs):
        ref = service.store_blob(db, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
        path = blobs.path_for(ref.id)
        data = bytearray(path.read_bytes())
        data[-1] ^= 0x01
        path.write_bytes(bytes(data))
        db.execute(update(Blob).where(Blob.id == ref.id).values(ciphertext_sha256=crypto.sha256_hex(bytes(data))))
        with pytest.raises(CiphertextCorrupted, match="altéré"):
            service.read_blob(db, ref.id, object_type="document", object_id="d1")

    def test_a_missing_file_is_reported_clearly(self, db, keyring, blobs):
        ref = service.store_blob(db, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
        blobs.path_for(ref.id).unlink()
        with pytest.raises(CiphertextCorrupted, match="introuvable"):
            service.read_blob(db, ref.id, object_type="document", object_id="d1")

    def test_another_objects_document_is_answered_like_a_missing_one(self, db, keyring, blobs):
        ref = service.store_blob(db, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
        for object_type, object_id in (("document", "d2"), ("message", "d1")):
            with pytest.raises(NotFound, match="Document introuvable"):
                service.read_blob(db, ref.id, object_type=object_type, object_id=object_id)
        with pytest.raises(NotFound, match="Document introuvable"):
            service.read_blob(db, uuid.uuid4(), object_type="document", object_id="d1")

    def test_a_ciphertext_moved_onto_another_objects_blob_does_not_decrypt(self, db, keyring, blobs):
        mine = service.store_blob(db, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
        theirs = service.store_blob(
            db, object_type="document", object_id="d2", data=b"other", media_type="application/pdf"
        )
        source = blob_row(db, mine.id)
        shutil.copyfile(blobs.path_for(mine.id), blobs.path_for(theirs.id))
        db.execute(
            update(Blob)
            .where(Blob.id == theirs.id)
            .values(
                kek_id=source.kek_id,
                wrapped_key=source.wrapped_key,
                nonce=source.nonce,
                ciphertext_sha256=source.ciphertext_sha256,
                plaintext_sha256=source.plaintext_sha256,
                size_bytes=source.size_bytes,
            )
        )
        with pytest.raises(CiphertextCorrupted):
            service.read_blob(db, theirs.id, object_type="document", object_id="d2")


class TestDeleteObject:
    def test_fields_and_documents_go_and_files_are_deleted_after_commit_by_a_job(self, sessions, keyring, blobs):
        with sessions() as s:
            service.seal(s, object_type="document", object_id="d1", plaintext=b"title")
            ref = service.store_blob(s, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
            service.seal(s, object_type="document", object_id="d2", plaintext=b"kept")
            s.commit()
        with sessions() as s:
            assert service.delete_object(s, object_type="document", object_id="d1") == 2
            assert blobs.exists(ref.id)  # not before commit
            s.commit()
        run_jobs(sessions)
        assert not blobs.exists(ref.id)
        with sessions() as s:
            with pytest.raises(NotFound):
                service.unseal(s, object_type="document", object_id="d1")
            assert service.unseal(s, object_type="document", object_id="d2") == b"kept"
            job = s.scalars(select(Job).where(Job.name == service.DELETE_BLOB_FILE_JOB)).one()
            assert job.args == {"blob_id": str(ref.id)} and job.status == "done"

    def test_a_rolled_back_deletion_keeps_the_document_readable(self, sessions, keyring, blobs):
        with sessions() as s:
            ref = service.store_blob(s, object_type="document", object_id="d1", data=PDF, media_type="application/pdf")
            s.commit()
        with sessions() as s:
            service.delete_object(s, object_type="document", object_id="d1")
            s.rollback()
        run_jobs(sessions)
        with sessions() as s:
            assert service.read_blob(s, ref.id, object_type="document", object_id="d1") == PDF

    def test_with_a_field_only_that_field_goes(self, db, keyring, blobs):
        service.seal(db, object_type="user_account", object_id="u1", field="totp", plaintext=b"a")
        service.seal(db, object_type="user_account", object_id="u1", field="totp_pending", plaintext=b"b")
        assert service.delete_object(db, object_type="user_account", object_id="u1", field="totp_pending") == 1
        assert service.delete_object(db, object_type="user_account", object_id="u1", field="totp_pending") == 0
        assert service.unseal(db, object_type="user_account", object_id="u1", field="totp") == b"a"

    def test_an_object_with_nothing_sealed_deletes_nothing(self, db, keyring, blobs):
        assert service.delete_object(db, object_type="document", object_id="none") == 0


class TestDeleteBlob:
    def test_one_document_goes_and_the_others_stay(self, db, keyring, blobs):
        first = service.store_blob(db, object_type="document", object_id="d1", data=b"1", media_type="text/plain")
        second = service.store_blob(db, object_type="document", object_id="d1", data=b"2", media_type="text/plain")
        service.delete_blob(db, first.id, object_type="document", object_id="d1")
        assert [r.id for r in service.list_blobs(db, object_type="document", object_id="d1")] == [second.id]
        with pytest.raises(NotFound):
            service.delete_blob(db, second.id, object_type="document", object_id="other")


class TestDeleteBlobFile:
    def test_the_job_is_idempotent_and_never_deletes_a_file_whose_row_exists(self, db, keyring, blobs):
        ref = service.store_blob(db, object_type="document", object_id="d1", data=b"1", media_type="text/plain")
        assert service.delete_blob_file(db, ref.id) is False
        assert blobs.exists(ref.id)
        db.execute(Blob.__table__.delete().where(Blob.__table__.c.id == ref.id))
        assert service.delete_blob_file(db, ref.id) is True
        assert service.delete_blob_file(db, ref.id) is False


class TestSweepOrphans:
    def test_files_of_rolled_back_writes_are_deleted_after_the_grace_period(self, sessions, keyring, blobs):
        with sessions() as s:
            kept = service.store_blob(s, object_type="document", object_id="d1", data=b"kept", media_type="text/plain")
            s.commit()
        with sessions() as s:
            orphan = service.store_blob(
                s, object_type="document", object_id="d2", data=b"gone", media_type="text/plain"
            )
            s.rollback()
        leftover = blobs.path_for(orphan.id).with_name(".tmp-" + orphan.id.hex + "-dead")
        leftover.write_bytes(b"partial")
        assert blobs.exists(orphan.id)
        with sessions() as s:  # young: may belong to a transaction still running
            assert service.sweep_orphans(s) == service.SweepReport(0, 0)
        later = clock.now() + service.ORPHAN_GRACE + dt.timedelta(minutes=1)
        with clock.frozen(later), sessions() as s:
            assert service.sweep_orphans(s, batch_size=1) == service.SweepReport(orphan_files=1, temporary_files=1)
        assert not blobs.exists(orphan.id) and not leftover.exists()
        with sessions() as s:
            assert service.read_blob(s, kept.id, object_type="document", object_id="d1") == b"kept"


class TestKeyUsage:
    def test_data_keys_are_counted_per_key_encryption_key(self, db, keyring, blobs):
        first = keyring.active().id
        service.seal(db, object_type="message", object_id="m1", plaintext=b"a")
        service.store_blob(db, object_type="document", object_id="d1", data=b"b", media_type="text/plain")
        second = keyring.add_active().id
        service.seal(db, object_type="message", object_id="m2", plaintext=b"c")
        assert service.key_usage(db) == {first: 2, second: 1}


def fill(db, count: int = 3) -> dict[str, bytes]:
    """Sealed bodies and documents under the current active key; returns what each must decrypt to."""
    expected = {}
    for i in range(count):
        body = f"corps {i}".encode()
        service.seal(db, object_type="message", object_id=f"m{i}", plaintext=body)
        expected[f"sealed:m{i}"] = body
        data = os.urandom(1000 + i)
        ref = service.store_blob(
            db, object_type="document", object_id=f"d{i}", data=data, media_type="application/octet-stream"
        )
        expected[f"blob:d{i}:{ref.id}"] = data
    return expected


def check_all(db, expected: dict[str, bytes], keyring) -> None:
    for key, value in expected.items():
        kind, object_id, *rest = key.split(":")
        if kind == "sealed":
            assert service.unseal(db, object_type="message", object_id=object_id, keyring=keyring) == value
        else:
            blob_id = uuid.UUID(rest[0])
            assert service.read_blob(db, blob_id, object_type="document", object_id=object_id, keyring=keyring) == value


class TestRotate:
    def test_after_rotation_everything_decrypts_and_the_old_key_is_no_longer_needed(self, db, keyring, blobs, key_dir):
        old = keyring.active().id
        expected = fill(db)
        content_before = {r.id: (r.ciphertext, r.nonce) for r in db.scalars(select(SealedValue))}
        files_before = {f.path: f.path.read_bytes() for f in blobs.iter_files()}

        report = service.rotate(db, keyring, batch_size=2)

        assert report.created and report.active_kek_id != old
        assert report.rewrapped == 6 and report.by_previous_kek == {old: 6} and report.changed_meanwhile == 0
        assert service.key_usage(db) == {report.active_kek_id: 6}
        check_all(db, expected, keyring)
        # Content untouched: same ciphertexts, nonces and files.
        db.expire_all()
        assert {r.id: (r.ciphertext, r.nonce) for r in db.scalars(select(SealedValue))} == content_before
        assert {f.path: f.path.read_bytes() for f in blobs.iter_files()} == files_before
        # Remove the old key from the directory: a fresh ring without it still reads everything.
        (key_dir / f"kek-{old}.key").rename(key_dir.parent / "elsewhere.key")
        without_old = DirectoryKeyRing(key_dir)
        assert old not in without_old.ids()
        check_all(db, expected, without_old)

    def test_rewrap_only_moves_data_keys_to_the_current_active_key(self, db, blobs):
        """The environment-variable path: a new key is put first in MAILLAGE_VAULT_KEYS, then re-wrap."""
        old, new = Kek("old", crypto.generate_key()), Kek("new", crypto.generate_key())
        with use_keyring(StaticKeyRing([old])):
            expected = fill(db, 2)
        ring = StaticKeyRing([new, old])
        report = service.rotate(db, ring, new_key=False)
        assert not report.created and report.active_kek_id == "new" and report.rewrapped == 4
        assert service.rotate(db, ring, new_key=False).rewrapped == 0
        check_all(db, expected, StaticKeyRing([new]))

    def test_a_value_re_sealed_during_the_rotation_is_not_overwritten(self, db, keyring, blobs, monkeypatch):
        service.seal(db, object_type="message", object_id="m1", plaintext=b"before")
        real_wrap = crypto.wrap_key
        calls = []

        def wrap_then_reseal(kek, data_key, *, aad):
            wrapped = real_wrap(kek, data_key, aad=aad)
            if not calls:  # a request re-seals m1 between the rotation's read and its update
                calls.append(1)
                service.seal(db, object_type="message", object_id="m1", plaintext=b"after", keyring=stale)
            return wrapped

        stale = StaticKeyRing([keyring.active()])  # a process that has not seen the rotation yet
        monkeypatch.setattr(crypto, "wrap_key", wrap_then_reseal)
        report = service.rotate(db, keyring)
        monkeypatch.setattr(crypto, "wrap_key", real_wrap)
        assert report.changed_meanwhile == 1 and report.rewrapped == 0
        assert service.unseal(db, object_type="message", object_id="m1") == b"after"
        assert service.rotate(db, keyring, new_key=False).rewrapped == 1
        assert service.unseal(db, object_type="message", object_id="m1") == b"after"

    def test_a_data_key_under_a_missing_kek_stops_the_rotation(self, db, keyring, blobs):
        fill(db, 1)
        stranger = StaticKeyRing([Kek("stranger", crypto.generate_key())])
        with pytest.raises(KeyUnavailable):
            service.rotate(db, stranger, new_key=False)

    def test_a_tampered_wrapped_key_stops_the_rotation_with_a_clear_error(self, db, keyring, blobs):
        service.seal(db, object_type="message", object_id="m1", plaintext=b"x")
        db.execute(update(SealedValue).values(object_id="m2"))  # the wrapped key no longer matches its object
        with pytest.raises(CiphertextCorrupted, match="rotation interrompue"):
            service.rotate(db, keyring)


class TestRetireUnusedKeys:
    def test_a_key_is_retired_only_once_nothing_refers_to_it(self, db, keyring, blobs, key_dir):
        old = keyring.active().id
        expected = fill(db, 2)
        new = keyring.add_active().id  # a new active key, data keys still under the old one
        assert service.retire_unused_keys(keyring, db) == []
        assert (key_dir / f"kek-{old}.key").exists()
        service.rotate(db, keyring, new_key=False)
        assert service.retire_unused_keys(keyring, db) == [old]
        assert not (key_dir / f"kek-{old}.key").exists()
        assert DirectoryKeyRing(key_dir).ids() == [new]
        check_all(db, expected, DirectoryKeyRing(key_dir))


class TestRetireKey:
    def test_a_key_still_in_use_is_refused_with_its_count(self, db, keyring, blobs):
        old = keyring.active().id
        fill(db, 1)
        keyring.add_active()
        with pytest.raises(Conflict, match="protège encore 2 clé"):
            service.retire_key(keyring, db, old)
        assert keyring.has(old)

    def test_the_active_key_is_refused(self, db, keyring):
        with pytest.raises(Conflict, match="clé active"):
            service.retire_key(keyring, db, keyring.active().id)

    def test_an_unknown_key_is_not_found(self, db, keyring):
        with pytest.raises(NotFound):
            service.retire_key(keyring, db, "ghost")


