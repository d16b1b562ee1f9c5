"""The local blob store: sharded paths, atomic owner-only writes, idempotent deletes, listing for the sweeper."""

from __future__ import annotations

import stat
import uuid

import pytest

from maillage.vault.blobstore import BlobMissing, LocalBlobStore, get_blobstore, use_blobstore


@pytest.fixture
def store(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


class TestPathFor:
    def test_files_are_sharded_by_the_first_hex_digits_of_the_id(self, store):
        blob_id = uuid.UUID("abcdef00-0000-4000-8000-000000000000")
        assert store.path_for(blob_id) == store.root / "ab" / "cd" / blob_id.hex


class TestWrite:
    def test_a_written_file_reads_back_owner_only_with_no_temporary_file_left(self, store):
        blob_id = uuid.uuid4()
        store.write(blob_id, b"\x00ciphertext")
        path = store.path_for(blob_id)
        assert store.read(blob_id) == b"\x00ciphertext"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert [p.name for p in path.parent.iterdir()] == [blob_id.hex]

    def test_a_failed_write_leaves_nothing_behind(self, store, monkeypatch):
        blob_id = uuid.uuid4()

        def boom(*_args):
            raise OSError("disk full")

        monkeypatch.setattr("maillage.vault.blobstore.os.fsync", boom)
        with pytest.raises(OSError, match="disk full"):
            store.write(blob_id, b"data")
        assert list(store.path_for(blob_id).parent.iterdir()) == []


class TestRead:
    def test_a_missing_file_raises_blob_missing(self, store):
        with pytest.raises(BlobMissing):
            store.read(uuid.uuid4())


class TestDelete:
    def test_deleting_is_idempotent(self, store):
        blob_id = uuid.uuid4()
        store.write(blob_id, b"x")
        assert store.delete(blob_id) is True
        assert store.delete(blob_id) is False
        assert not store.exists(blob_id)


class TestIterFiles:
    def test_blob_files_and_temporary_files_are_listed_and_other_files_ignored(self, store):
        blob_id = uuid.uuid4()
        store.write(blob_id, b"x")
        folder = store.path_for(blob_id).parent
        (folder / ".tmp-leftover").write_bytes(b"partial")
        (folder / "README").write_text("not a blob")
        (store.root / "notes.txt").write_text("not a blob either")
        found = {(f.blob_id, f.path.name) for f in store.iter_files()}
        assert found == {(blob_id, blob_id.hex), (None, ".tmp-leftover")}

    def test_an_absent_root_lists_nothing(self, tmp_path):
        assert list(LocalBlobStore(tmp_path / "nowhere").iter_files()) == []


class TestUseBlobstore:
    def test_a_store_is_put_in_place_then_the_previous_one_restored(self, store, tmp_path):
        other = LocalBlobStore(tmp_path / "other")
        with use_blobstore(store):
            with use_blobstore(other):
                assert get_blobstore() is other
            assert get_blobstore() is store
