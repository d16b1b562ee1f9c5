"""Every vault test gets its own key directory and blob folder under tmp_path, put in place for the process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from maillage.vault.blobstore import LocalBlobStore, use_blobstore
from maillage.vault.keys import DirectoryKeyRing, use_keyring


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "var" / "keys"


@pytest.fixture
def keyring(key_dir: Path) -> Iterator[DirectoryKeyRing]:
    ring = DirectoryKeyRing.create(key_dir)
    with use_keyring(ring):
        yield ring


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[LocalBlobStore]:
    store = LocalBlobStore(tmp_path / "var" / "blobs", max_bytes=4 * 1024 * 1024)
    with use_blobstore(store):
        yield store
