"""Encryption at rest, the API the rest of the platform calls.

- ``seal`` / ``unseal``: small secrets and free-text bodies (up to 1 MiB), ciphertext in the database,
  one row per (object type, object id, field).
- ``store_blob`` / ``read_blob``: documents, ciphertext in the blob store, metadata in the database.
- ``delete_object``: every sealed field and blob of an object; files go after commit (a job, by id).
- ``rotate`` / ``retire_unused_keys``: a new key-encryption key re-wraps every data key, content untouched;
  a key leaves the ring only when no data key refers to it.

Each value has its own random 256-bit data key. The content is authenticated with the object it belongs
to as associated data, and the wrapped data key with its key-encryption key id and the same object: a
ciphertext or a wrapped key copied onto another object does not decrypt. Services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from maillage.exceptions import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from maillage.kit import crypto, french
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.models.vault import Blob, SealedValue
from maillage.vault import columns
from maillage.vault.blobstore import BlobMissing, BlobStore, get_blobstore
from maillage.vault.errors import CiphertextCorrupted
from maillage.vault.keys import KeyRing, get_keyring
from maillage.worker.queue import enqueue_job

log = get_logger("maillage.vault")

SEAL_MAX_BYTES = 1024 * 1024
ROTATION_BATCH = 500
ORPHAN_GRACE = dt.timedelta(hours=1)
DELETE_BLOB_FILE_JOB = "vault.delete_blob_file"

_OBJECT_TYPE = re.compile(r"^[a-z][a-z0-9_.]{0,59}$")
_OBJECT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")

# Associated-data labels: a version and the kind of value, so no two uses can be confused.
_AAD_SEALED = "maillage.vault.sealed.v1"
_AAD_BLOB = "maillage.vault.blob.v1"
_AAD_DATA_KEY = "maillage.vault.data-key.v1"

_SEALED = cast(Table, SealedValue.__table__)


@dataclass(frozen=True)
class BlobRef:
    """What a caller keeps of a stored document: its id and what can be said without decrypting it."""

    id: uuid.UUID
    object_type: str
    object_id: str
    media_type: str
    size_bytes: int
    sha256: str
    created_at: dt.datetime


@dataclass
class RotationReport:
    active_kek_id: str
    created: bool
    rewrapped: int = 0
    by_previous_kek: dict[str, int] = field(default_factory=dict)
    changed_meanwhile: int = 0


@dataclass(frozen=True)
class SweepReport:
    orphan_files: int
    temporary_files: int


# -- checks ---------------------------------------------------------------------------------------
def _check_object(object_type: str, object_id: str) -> None:
    if not isinstance(object_type, str) or not _OBJECT_TYPE.match(object_type):
        raise ValidationFailed(
            "Type d'objet invalide : minuscules, chiffres, « _ » et « . », commençant par une lettre (60 au plus)."
        )
    if not isinstance(object_id, str) or not _OBJECT_ID.match(object_id):
        raise ValidationFailed("Identifiant d'objet invalide : lettres, chiffres et « _ . : - » (100 au plus).")


def _check_field(name: str) -> None:
    if not isinstance(name, str) or not _FIELD.match(name):
        raise ValidationFailed("Nom de champ invalide : minuscules, chiffres et « _ », commençant par une lettre.")


def _check_bytes(data: Any, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationFailed(f"{what} à chiffrer doit être fourni en octets.")
    return bytes(data)


def _sealed_aad(object_type: str, object_id: str, field_name: str) -> bytes:
    return crypto.encode_aad(_AAD_SEALED, object_type, object_id, field_name)


def _blob_aad(object_type: str, object_id: str, blob_id: uuid.UUID) -> bytes:
    return crypto.encode_aad(_AAD_BLOB, object_type, object_id, str(blob_id))


def _data_key_aad(kek_id: str, kind: str, object_type: str, object_id: str, slot: str) -> bytes:
    return crypto.encode_aad(_AAD_DATA_KEY, kek_id, kind, object_type, object_id, slot)


def _upsert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _unwrap(keyring: KeyRing, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
    kek = keyring.get(kek_id)
    return crypto.unwrap_key(kek, wrapped, aad=aad)


# -- sealed values ----------------------------------------------------------------------------------
def seal(
    session: Session,
    *,
    object_type: str,
    object_id: str,
    plaintext: bytes,
    field: str = "body",
    keyring: KeyRing | None = None,
) -> uuid.UUID:
    """Encrypt ``plaintext`` for this object's ``field`` and store it; sealing again replaces the value.

    Returns the id of the row (the same id when a value is replaced).
    """
    _check_object(object_type, object_id)
    _check_field(field)
    plaintext = _check_bytes(plaintext, "Le contenu")
    if len(plaintext) > SEAL_MAX_BYTES:
        raise PayloadTooLarge(
            f"Le texte à chiffrer dépasse {SEAL_MAX_BYTES // 1024} Kio : enregistrez-le comme document."
        )
    ring = keyring or get_keyring()
    kek = ring.active()
    data_key = crypto.generate_key()
    nonce, ciphertext = crypto.seal(data_key, plaintext, aad=_sealed_aad(object_type, object_id, field))
    wrapped = crypto.wrap_key(kek.key, data_key, aad=_data_key_aad(kek.id, "sealed", object_type, object_id, field))
    stamp = now()
    values = {"kek_id": kek.id, "wrapped_key": wrapped, "nonce": nonce, "ciphertext": ciphertext, "updated_at": stamp}
    insert = _upsert(session)
    stmt = (
        insert(_SEALED)
        .values(id=uuid.uuid4(), object_type=object_type, object_id=object_id, field=field, created_at=stamp, **values)
        .on_conflict_do_update(index_elements=["object_type", "object_id", "field"], set_=values)
        .returning(_SEALED.c.id)
    )
    row_id: uuid.UUID = session.execute(stmt).scalar_one()
    return row_id


def unseal(
    session: Session,
    *,
    object_type: str,
    object_id: str,
    field: str = "body",
    keyring: KeyRing | None = None,
) -> bytes:
    """Decrypt this object's ``field``; ``NotFound`` when nothing was sealed there."""
    _check_object(object_type, object_id)
    _check_field(field)
    row = session.execute(
        select(
            SealedValue.id, SealedValue.kek_id, SealedValue.wrapped_key, SealedValue.nonce, SealedValue.ciphertext
        ).where(
            SealedValue.object_type == object_type,
            SealedValue.object_id == object_id,
            SealedValue.field == field,
        )
    ).one_or_none()
    if row is None:
        raise NotFound("Contenu chiffré introuvable.")
    ring = keyring or get_keyring()
    try:
        data_key = _unwrap(
            ring, row.kek_id, row.wrapped_key, _data_key_aad(row.kek_id, "sealed", object_type, object_id, field)
        )
        return crypto.open_sealed(data_key, row.nonce, row.ciphertext, aad=_sealed_aad(object_type, object_id, field))
    except crypto.CryptoError:
        log.error("vault.sealed_value_corrupted", sealed_value_id=str(row.id), object_type=object_type)
        raise CiphertextCorrupted() from None


def has_sealed(session: Session, *, object_type: str, object_id: str, field: str = "body") -> bool:
    _check_object(object_type, object_id)
    _check_field(field)
    found = session.scalar(
        select(SealedValue.id).where(
            SealedValue.object_type == object_type, SealedValue.object_id == object_id, SealedValue.field == field
        )
    )
    return found is not None


# -- blobs -----------------------------------------------------------------------------------------
def _ref(row: Any) -> BlobRef:
    return BlobRef(
        id=row.id,
        object_type=row.object_type,
        object_id=row.object_id,
        media_type=row.media_type,
        size_bytes=row.size_bytes,
        sha256=row.plaintext_sha256,
        created_at=row.created_at,
    )


def store_blob(
    session: Session,
    *,
    object_type: str,
    object_id: str,
    data: bytes,
    media_type: str,
    keyring: KeyRing | None = None,
    blobs: BlobStore | None = None,
) -> BlobRef:
    """Encrypt a document into the blob store and record its metadata in the caller's transaction.

    The file is written (atomically) before the row is flushed; if the transaction later rolls back,
    the file has no row and ``sweep_orphans`` deletes it after ``ORPHAN_GRACE``.
    """
    _check_object(object_type, object_id)
    if not isinstance(media_type, str) or not _MEDIA_TYPE.match(media_type):
        raise ValidationFailed("Type de média invalide : attendu sous la forme type/sous-type (ex. application/pdf).")
    data = _check_bytes(data, "Le document")
    store = blobs or get_blobstore()
    if len(data) > store.max_bytes:
        raise PayloadTooLarge(
            f"Le document dépasse la taille maximale acceptée ({store.max_bytes // (1024 * 1024)} Mio)."
        )
    ring = keyring or get_keyring()
    kek = ring.active()
    blob_id = uuid.uuid4()
    data_key = crypto.generate_key()
    nonce, ciphertext = crypto.seal(data_key, data, aad=_blob_aad(object_type, object_id, blob_id))
    wrapped = crypto.wrap_key(
        kek.key, data_key, aad=_data_key_aad(kek.id, "blob", object_type, object_id, str(blob_id))
    )
    row = Blob(
        id=blob_id,
        object_type=object_type,
        object_id=object_id,
        media_type=media_type.lower(),
        size_bytes=len(data),
        plaintext_sha256=crypto.sha256_hex(data),
        ciphertext_sha256=crypto.sha256_hex(ciphertext),
        kek_id=kek.id,
        wrapped_key=wrapped,
        nonce=nonce,
        created_at=now(),
    )
    store.write(blob_id, ciphertext)
    try:
        session.add(row)
        session.flush()
    except Exception:
        store.delete(blob_id)
        raise
    log.info("vault.blob_stored", blob_id=str(blob_id), object_type=object_type, size_bytes=len(data))
    return _ref(row)


def _blob_row(session: Session, blob_id: uuid.UUID, object_type: str, object_id: str) -> Any:
    _check_object(object_type, object_id)
    if not isinstance(blob_id, uuid.UUID):
        raise NotFound("Document introuvable.")
    row = session.execute(select(*Blob.__table__.columns).where(Blob.id == blob_id)).one_or_none()
    # Another object's blob is answered exactly like a missing one.
    if row is None or row.object_type != object_type or row.object_id != object_id:
        raise NotFound("Document introuvable.")
    return row


def list_blobs(session: Session, *, object_type: str, object_id: str) -> list[BlobRef]:
    _check_object(object_type, object_id)
    rows = session.execute(
        select(*Blob.__table__.columns)
        .where(Blob.object_type == object_type, Blob.object_id == object_id)
        .order_by(Blob.created_at, Blob.id)
    ).all()
    return [_ref(row) for row in rows]


def read_blob(
    session: Session,
    blob_id: uuid.UUID,
    *,
    object_type: str,
    object_id: str,
    keyring: KeyRing | None = None,
    blobs: BlobStore | None = None,
) -> bytes:
    """Decrypt a document after checking the ciphertext's hash, the GCM tag and the plaintext's hash.

    Any mismatch raises ``CiphertextCorrupted``: wrong bytes are never returned.
    """
    row = _blob_row(session, blob_id, object_type, object_id)
    store = blobs or get_blobstore()
    try:
        ciphertext = store.read(blob_id)
    except BlobMissing:
        log.error("vault.blob_file_missing", blob_id=str(blob_id))
        raise CiphertextCorrupted("Le fichier chiffré du document est introuvable dans le stockage.") from None
    if not hmac.compare_digest(crypto.sha256_hex(ciphertext), row.ciphertext_sha256):
        log.error("vault.blob_hash_mismatch", blob_id=str(blob_id))
        raise CiphertextCorrupted("Le fichier chiffré du document ne correspond pas à son empreinte : il a été altéré.")
    ring = keyring or get_keyring()
    try:
        data_key = _unwrap(
            ring, row.kek_id, row.wrapped_key, _data_key_aad(row.kek_id, "blob", object_type, object_id, str(blob_id))
        )
        plaintext = crypto.open_sealed(data_key, row.nonce, ciphertext, aad=_blob_aad(object_type, object_id, blob_id))
    except crypto.CryptoError:
        log.error("vault.blob_authentication_failed", blob_id=str(blob_id))
        raise CiphertextCorrupted() from None
    if not hmac.compare_digest(crypto.sha256_hex(plaintext), row.plaintext_sha256):
        log.error("vault.blob_plaintext_hash_mismatch", blob_id=str(blob_id))
        raise CiphertextCorrupted()
    return plaintext


def delete_blob(session: Session, blob_id: uuid.UUID, *, object_type: str, object_id: str) -> None:
    """Delete one document of an object; its file goes after commit."""
    _blob_row(session, blob_id, object_type, object_id)
    session.execute(delete(Blob).where(Blob.id == blob_id))
    enqueue_job(session, DELETE_BLOB_FILE_JOB, blob_id=str(blob_id))


def delete_object(session: Session, *, object_type: str, object_id: str, field: str | None = None) -> int:
    """Delete every sealed field and document of an object; returns how many were deleted.

    With ``field``, only that sealed field goes (documents stay). Blob files are deleted after commit by a
    job (by id, idempotent); a rollback keeps them.
    """
    _check_object(object_type, object_id)
    if field is not None:
        _check_field(field)
        result = session.execute(
            delete(SealedValue).where(
                SealedValue.object_type == object_type, SealedValue.object_id == object_id, SealedValue.field == field
            )
        )
        session.flush()
        return int(getattr(result, "rowcount", 0) or 0)
    blob_ids = list(
        session.scalars(select(Blob.id).where(Blob.object_type == object_type, Blob.object_id == object_id))
    )
    sealed = session.execute(
        delete(SealedValue).where(SealedValue.object_type == object_type, SealedValue.object_id == object_id)
    )
    session.execute(delete(Blob).where(Blob.object_type == object_type, Blob.object_id == object_id))
    for blob_id in blob_ids:
        enqueue_job(session, DELETE_BLOB_FILE_JOB, blob_id=str(blob_id))
    session.flush()
    return int(getattr(sealed, "rowcount", 0) or 0) + len(blob_ids)


def delete_blob_file(session: Session, blob_id: uuid.UUID, *, blobs: BlobStore | None = None) -> bool:
    """Delete the file of a blob whose row is gone (after commit). True if a file was deleted."""
    if session.scalar(select(Blob.id).where(Blob.id == blob_id)) is not None:
        log.warning("vault.blob_file_kept_row_exists", blob_id=str(blob_id))
        return False
    return (blobs or get_blobstore()).delete(blob_id)


def sweep_orphans(
    session: Session,
    *,
    older_than: dt.timedelta = ORPHAN_GRACE,
    blobs: BlobStore | None = None,
    batch_size: int = 500,
) -> SweepReport:
    """Delete blob files that have no metadata row and are older than ``older_than``, and stale temp files.

    The grace period protects files whose transaction has not committed yet.
    """
    store = blobs or get_blobstore()
    cutoff = now() - older_than
    orphans = temporaries = 0
    batch: list[Any] = []

    def flush_batch() -> int:
        ids = [stored.blob_id for stored in batch]
        known = set(session.scalars(select(Blob.id).where(Blob.id.in_(ids))))
        removed = sum(1 for stored in batch if stored.blob_id not in known and store.remove_file(stored))
        batch.clear()
        return removed

    for stored in store.iter_files():
        if stored.modified_at >= cutoff:
            continue
        if stored.blob_id is None:
            temporaries += int(store.remove_file(stored))
            continue
        batch.append(stored)
        if len(batch) >= batch_size:
            orphans += flush_batch()
    if batch:
        orphans += flush_batch()
    if orphans or temporaries:
        log.info("vault.orphans_swept", orphan_files=orphans, temporary_files=temporaries)
    return SweepReport(orphan_files=orphans, temporary_files=temporaries)


# -- keys ------------------------------------------------------------------------------------------
def key_usage(session: Session, kek_ids: list[str] | None = None) -> dict[str, int]:
    """How many data keys each key-encryption key wraps (sealed values and blobs, and with ``kek_ids`` the
    sealed text columns' values wrapped by those keys)."""
    usage: Counter[str] = Counter()
    for model in (SealedValue, Blob):
        for kek_id, count in session.execute(select(model.kek_id, func.count()).group_by(model.kek_id)).all():
            usage[str(kek_id)] += int(count)
    if kek_ids:
        usage.update(columns.column_key_usage(session, kek_ids))
    return dict(usage)


def rotate(
    session: Session,
    keyring: KeyRing,
    *,
    new_key: bool = True,
    batch_size: int = ROTATION_BATCH,
) -> RotationReport:
    """Make a new KEK active (unless ``new_key`` is False) and re-wrap every data key under it.

    Content is not touched: only ``kek_id`` and ``wrapped_key`` change. Rows are read in batches by id
    and updated only if their wrapped key is still the one read (a value re-sealed meanwhile is left as
    it is and counted in ``changed_meanwhile``). Flushes; the caller commits.
    """
    if batch_size < 1:
        raise ValidationFailed("La taille de lot doit être positive.")
    created = False
    if new_key:
        kek = keyring.add_active()
        created = True
    else:
        kek = keyring.active()
    report = RotationReport(active_kek_id=kek.id, created=created)
    by_previous: Counter[str] = Counter()
    for model, kind in ((SealedValue, "sealed"), (Blob, "blob")):
        table = cast(Table, model.__table__)
        slot_column = table.c.field if model is SealedValue else table.c.id
        last_id: uuid.UUID | None = None
        stmt_update = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.wrapped_key == bindparam("b_old"))
            .values(kek_id=bindparam("b_kek"), wrapped_key=bindparam("b_wrapped"))
        )
        while True:
            query = (
                select(
                    table.c.id,
                    table.c.kek_id,
                    table.c.wrapped_key,
                    table.c.object_type,
                    table.c.object_id,
                    slot_column.label("slot"),
                )
                .where(table.c.kek_id != kek.id)
                .order_by(table.c.id)
                .limit(batch_size)
            )
            if last_id is not None:
                query = query.where(table.c.id > last_id)
            rows = session.execute(query).all()
            if not rows:
                break
            params = []
            for row in rows:
                slot = str(row.slot)
                try:
                    data_key = _unwrap(
                        keyring,
                        row.kek_id,
                        row.wrapped_key,
                        _data_key_aad(row.kek_id, kind, row.object_type, row.object_id, slot),
                    )
                except crypto.CryptoError:
                    log.error("vault.rotation_unwrap_failed", row_id=str(row.id), kind=kind, kek_id=row.kek_id)
                    raise CiphertextCorrupted(
                        f"La clé de données de l'enregistrement {row.id} ne se déchiffre pas : rotation interrompue."
                    ) from None
                params.append(
                    {
                        "b_id": row.id,
                        "b_old": row.wrapped_key,
                        "b_kek": kek.id,
                        "b_wrapped": crypto.wrap_key(
                            kek.key, data_key, aad=_data_key_aad(kek.id, kind, row.object_type, row.object_id, slot)
                        ),
                    }
                )
            session.execute(stmt_update, params)
            ids = [row.id for row in rows]
            done = set(session.scalars(select(table.c.id).where(table.c.id.in_(ids), table.c.kek_id == kek.id)))
            for row in rows:
                if row.id in done:
                    by_previous[row.kek_id] += 1
                else:
                    report.changed_meanwhile += 1
            last_id = rows[-1].id
    in_columns, changed = columns.rewrap_columns(session, keyring, batch_size=batch_size)
    by_previous.update(in_columns)
    report.changed_meanwhile += changed
    session.flush()
    report.by_previous_kek = dict(by_previous)
    report.rewrapped = sum(by_previous.values())
    log.info("vault.rotated", kek_id=kek.id, rewrapped=report.rewrapped, changed_meanwhile=report.changed_meanwhile)
    return report


def retire_key(keyring: KeyRing, session: Session, kek_id: str) -> None:
    """Retire one KEK; refused while it is active or any data key still refers to it."""
    if not keyring.has(kek_id):
        raise NotFound(f"La clé « {kek_id} » n'est pas dans le trousseau.")
    if kek_id == keyring.active().id:
        raise Conflict(f"La clé « {kek_id} » est la clé active : faites d'abord une rotation.")
    in_use = key_usage(session, [kek_id]).get(kek_id, 0)
    if in_use:
        raise Conflict(
            f"La clé « {kek_id} » protège encore "
            f"{french.count(in_use, 'clé de données', 'clés de données')} : lancez « maillage keys rotate » "
            "avant de la retirer."
        )
    keyring.retire(kek_id)


def retire_unused_keys(keyring: KeyRing, session: Session) -> list[str]:
    """Retire every KEK but the active one that no data key refers to; returns their ids."""
    usage = key_usage(session, keyring.ids())
    active_id = keyring.active().id
    retired: list[str] = []
    for kek_id in keyring.ids():
        if kek_id != active_id and usage.get(kek_id, 0) == 0:
            keyring.retire(kek_id)
            retired.append(kek_id)
    return retired
