"""Document tests: their own key ring and blob folder, a physician caring for a patient, the corpus."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from maillage.auth import service as auth
from maillage.authz import service as authz
from maillage.config import Settings
from maillage.models.audit import AuditEntry
from maillage.models.document import Document
from maillage.models.vault import Blob
from maillage.security.actor import Actor
from maillage.vault.blobstore import LocalBlobStore, use_blobstore
from maillage.vault.keys import DirectoryKeyRing, use_keyring
from tests.fixtures.factories import make_patient_id, make_user

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[DirectoryKeyRing]:
    ring = DirectoryKeyRing.create(tmp_path / "var" / "keys")
    with use_keyring(ring):
        yield ring


@pytest.fixture
def blobs(tmp_path: Path, keyring: DirectoryKeyRing) -> Iterator[LocalBlobStore]:
    store = LocalBlobStore(tmp_path / "var" / "blobs", max_bytes=64 * 1024 * 1024)
    with use_blobstore(store):
        yield store


@pytest.fixture
def doc_settings(tmp_path: Path) -> Settings:
    return Settings(environment="test", var_dir=tmp_path / "var", secret_key="d" * 40)


@dataclass
class Care:
    """A physician (user and actor) with an attending relationship to a patient."""

    user: object
    actor: Actor
    patient_id: uuid.UUID


def actor_of(db, user) -> Actor:
    return auth.actor_for(db, user)


def caring_physician(db, role: str = "physician", patient_id: uuid.UUID | None = None) -> Care:
    user = make_user(db, role)
    patient = patient_id or make_patient_id(db)
    authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="attending")
    return Care(user=user, actor=actor_of(db, user), patient_id=patient)


@pytest.fixture
def care(db) -> Care:
    return caring_physician(db)


def stored_counts(db, store: LocalBlobStore) -> tuple[int, int, int]:
    """Documents, blob rows and blob files (including temporary ones) that exist now."""
    documents = db.scalar(select(func.count()).select_from(Document))
    blob_rows = db.scalar(select(func.count()).select_from(Blob))
    files = sum(1 for _ in store.iter_files())
    return int(documents or 0), int(blob_rows or 0), files


def document_audit(db, patient_id: uuid.UUID) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient_id))
                           .order_by(AuditEntry.seq)))
