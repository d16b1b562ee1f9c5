"""The blob store: files of ciphertext, one per blob id, never plaintext.

Only ``maillage.vault.service`` writes here, and it writes AES-256-GCM ciphertext; the metadata (hashes,
wrapped data key, nonce) lives in the database. The local store shards files by the first hex digits of
the id (``ab/cd/abcd…``) so no folder grows too large, writes atomically (temporary file, fsync, rename,
fsync of the folder) so a crash leaves either the whole file or nothing, and keeps everything ``0600``
in ``0700`` folders. Another store (S3-compatible) can implement the same protocol later.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from maillage.config import get_settings
from maillage.kit.process import ProcessWide

TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class StoredFile:
    """A file found in the store: its blob id (None for a temporary file), path and modification time."""

    blob_id: uuid.UUID | None
    path: Path
    modified_at: dt.datetime


class BlobMissing(Exception):
    """No file for this blob id."""


class BlobStore(Protocol):
    max_bytes: int

    def write(self, blob_id: uuid.UUID, ciphertext: bytes) -> None: ...

    def read(self, blob_id: uuid.UUID) -> bytes: ...

    def delete(self, blob_id: uuid.UUID) -> bool: ...

    def exists(self, blob_id: uuid.UUID) -> bool: ...

    def iter_files(self) -> Iterator[StoredFile]: ...

    def remove_file(self, stored: StoredFile) -> bool: ...


class LocalBlobStore:
    """Ciphertext files under ``root`` (``var/blobs/`` by default)."""

    def __init__(self, root: Path, *, max_bytes: int = 100 * 1024 * 1024):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_for(self, blob_id: uuid.UUID) -> Path:
        name = blob_id.hex
        return self.root / name[:2] / name[2:4] / name

    def _ensure_folder(self, folder: Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def write(self, blob_id: uuid.UUID, ciphertext: bytes) -> None:
        target = self.path_for(blob_id)
        self._ensure_folder(target.parent)
        tmp = target.with_name(f"{TEMP_PREFIX}{target.name}-{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(ciphertext)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    def read(self, blob_id: uuid.UUID) -> bytes:
        try:
            return self.path_for(blob_id).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(str(blob_id)) from None

    def exists(self, blob_id: uuid.UUID) -> bool:
        return self.path_for(blob_id).is_file()

    def delete(self, blob_id: uuid.UUID) -> bool:
        """Delete the file; True if it existed. Deleting twice is harmless."""
        path = self.path_for(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def iter_files(self) -> Iterator[StoredFile]:
        """Every blob file and temporary file in the store (other files are left alone)."""
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if not (first.is_dir() and len(first.name) == 2):
                continue
            for second in sorted(first.iterdir()):
                if not (second.is_dir() and len(second.name) == 2):
                    continue
                for path in second.iterdir():
                    try:
                        info = path.lstat()
                    except FileNotFoundError:
                        continue
                    modified = dt.datetime.fromtimestamp(info.st_mtime, tz=dt.UTC)
                    if path.name.startswith(TEMP_PREFIX):
                        yield StoredFile(None, path, modified)
                        continue
                    blob_id = _parse_blob_name(path.name)
                    if blob_id is not None and path.name.startswith(first.name + second.name):
                        yield StoredFile(blob_id, path, modified)

    def remove_file(self, stored: StoredFile) -> bool:
        try:
            stored.path.unlink()
        except FileNotFoundError:
            return False
        return True


def _parse_blob_name(name: str) -> uuid.UUID | None:
    if len(name) != 32:
        return None
    try:
        blob_id = uuid.UUID(hex=name)
    except ValueError:
        return None
    return blob_id if blob_id.hex == name else None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _from_settings() -> BlobStore:
    settings = get_settings()
    return LocalBlobStore(settings.blob_dir, max_bytes=settings.blob_max_bytes)


_blobstore: ProcessWide[BlobStore] = ProcessWide(_from_settings)


def get_blobstore() -> BlobStore:
    """The process's blob store, built once from ``get_settings()`` unless a test put one in place."""
    return _blobstore.get()


def reset_blobstore() -> None:
    _blobstore.reset()


def use_blobstore(store: BlobStore) -> AbstractContextManager[BlobStore]:
    """Make ``store`` the process's blob store inside the block (tests)."""
    return _blobstore.use(store)
