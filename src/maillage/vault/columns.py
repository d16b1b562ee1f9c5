"""Sealed text columns (``maillage.kit.sealed.SealedText``): the cipher, the list of sealed columns, rotation.

An envelope is ``vault1:<kek id>:<wrapped data key>:<nonce + ciphertext>`` (base64), stored in the
column itself. Each value has its own random data key (AES-256-GCM), wrapped by the active key-encryption key;
the content is authenticated with ``maillage.vault.column.v1`` and the scope ``table.column``, the wrapped key
with the KEK id and the same scope. What it does not bind: the row. An envelope moved to another row of the same
column still opens (a person able to write the database can swap two rows' texts, not read them).
"""

from __future__ import annotations

import binascii
import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, Text, bindparam, func, select, type_coerce, update
from sqlalchemy.orm import Session

from maillage.kit import crypto
from maillage.kit.logging import get_logger
from maillage.kit.sealed import SealedText, install_text_cipher
from maillage.models import Base
from maillage.vault.errors import CiphertextCorrupted
from maillage.vault.keys import KeyRing, get_keyring

log = get_logger("maillage.vault")

PREFIX = "vault1:"
_AAD_COLUMN = "maillage.vault.column.v1"
_AAD_DATA_KEY = "maillage.vault.data-key.v1"


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _unb64(text: str) -> bytes:
    return binascii.a2b_base64(text, strict_mode=True)


# Lists open many values of few columns under one or two KEKs: the associated data is computed once.
@functools.lru_cache(maxsize=1024)
def _key_aad(kek_id: str, scope: str) -> bytes:
    return crypto.encode_aad(_AAD_DATA_KEY, kek_id, "column", scope)


@functools.lru_cache(maxsize=1024)
def _content_aad(scope: str) -> bytes:
    return crypto.encode_aad(_AAD_COLUMN, scope)


def seal_text(scope: str, plaintext: str, *, keyring: KeyRing | None = None) -> str:
    kek = (keyring or get_keyring()).active()
    data_key = crypto.generate_key()
    nonce, ciphertext = crypto.seal(data_key, plaintext.encode("utf-8"), aad=_content_aad(scope))
    wrapped = crypto.wrap_key(kek.key, data_key, aad=_key_aad(kek.id, scope))
    return f"{PREFIX}{kek.id}:{_b64(wrapped)}:{_b64(nonce + ciphertext)}"


@dataclass(frozen=True)
class _Envelope:
    kek_id: str
    wrapped: bytes
    body: bytes


def _parse(scope: str, stored: str) -> _Envelope:
    parts = stored.split(":") if isinstance(stored, str) and stored.startswith(PREFIX) else []
    try:
        if len(parts) != 4:
            raise ValueError
        return _Envelope(parts[1], _unb64(parts[2]), _unb64(parts[3]))
    except (ValueError, binascii.Error):
        # Plain text where an envelope is expected: written around the type, or not migrated.
        log.error("vault.sealed_column_malformed", scope=scope)
        raise CiphertextCorrupted("Un texte chiffré de la base est illisible (format inattendu).") from None


def open_text(scope: str, stored: str, *, keyring: KeyRing | None = None) -> str:
    envelope = _parse(scope, stored)
    ring = keyring or get_keyring()
    try:
        data_key = crypto.unwrap_key(ring.get(envelope.kek_id), envelope.wrapped, aad=_key_aad(envelope.kek_id, scope))
        nonce, ciphertext = envelope.body[: crypto.NONCE_BYTES], envelope.body[crypto.NONCE_BYTES :]
        plain = crypto.open_sealed(data_key, nonce, ciphertext, aad=_content_aad(scope))
    except crypto.CryptoError:
        log.error("vault.sealed_column_corrupted", scope=scope)
        raise CiphertextCorrupted() from None
    return plain.decode("utf-8")


def rewrap_text(scope: str, stored: str, keyring: KeyRing) -> str:
    """The same content under the active KEK (the data key is unwrapped and wrapped again; content untouched)."""
    envelope = _parse(scope, stored)
    kek = keyring.active()
    try:
        data_key = crypto.unwrap_key(keyring.get(envelope.kek_id), envelope.wrapped,
                                     aad=_key_aad(envelope.kek_id, scope))
    except crypto.CryptoError:
        log.error("vault.sealed_column_corrupted", scope=scope)
        raise CiphertextCorrupted() from None
    wrapped = crypto.wrap_key(kek.key, data_key, aad=_key_aad(kek.id, scope))
    return f"{PREFIX}{kek.id}:{_b64(wrapped)}:{_b64(envelope.body)}"


class VaultTextCipher:
    """What ``SealedText`` calls; the process's key ring at each call (rotation is picked up)."""

    def seal(self, scope: str, plaintext: str) -> str:
        return seal_text(scope, plaintext)

    def open(self, scope: str, stored: str) -> str:
        return open_text(scope, stored)


CIPHER = VaultTextCipher()


def install() -> None:
    install_text_cipher(CIPHER)


# -- the sealed columns, for rotation and key usage ---------------------------------------------------
def sealed_columns() -> list[tuple[Table, Column[Any]]]:
    """Every ``SealedText`` column of the models, in a stable order."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, SealedText):
                found.append((table, column))
    return found


def _raw(column: Column[Any]) -> Any:
    return type_coerce(column, Text())


def column_key_usage(session: Session, kek_ids: list[str]) -> dict[str, int]:
    """How many sealed column values each of ``kek_ids`` wraps."""
    usage: Counter[str] = Counter()
    for table, column in sealed_columns():
        for kek_id in kek_ids:
            count = session.scalar(select(func.count()).select_from(table).where(
                _raw(column).startswith(f"{PREFIX}{kek_id}:", autoescape=True)))
            usage[kek_id] += int(count or 0)
    return {k: v for k, v in usage.items() if v}


def rewrap_columns(session: Session, keyring: KeyRing, *, batch_size: int) -> tuple[Counter[str], int]:
    """Re-wrap every sealed column value not under the active KEK; returns (count by previous KEK, changed
    meanwhile). Rows are read by id in batches and updated only if the value is still the one read."""
    kek = keyring.active()
    by_previous: Counter[str] = Counter()
    changed = 0
    active_prefix = f"{PREFIX}{kek.id}:"
    for table, column in sealed_columns():
        scope = column.type.scope  # type: ignore[attr-defined]
        pk = table.c.id
        stmt = (update(table).where(pk == bindparam("b_id"), _raw(column) == bindparam("b_old", type_=Text()))
                .values({column.name: bindparam("b_new", type_=Text())}))
        last = None
        while True:
            query = (select(pk, _raw(column).label("v")).where(column.is_not(None),
                     ~_raw(column).startswith(active_prefix, autoescape=True)).order_by(pk).limit(batch_size))
            if last is not None:
                query = query.where(pk > last)
            rows = session.execute(query).all()
            if not rows:
                break
            params = [{"b_id": r.id, "b_old": r.v, "b_new": rewrap_text(scope, r.v, keyring)} for r in rows]
            session.execute(stmt, params)
            ids = [r.id for r in rows]
            done = set(session.scalars(select(pk).where(pk.in_(ids),
                                                        _raw(column).startswith(active_prefix, autoescape=True))))
            for r in rows:
                if r.id in done:
                    by_previous[_parse(scope, r.v).kek_id] += 1
                else:
                    changed += 1
            last = rows[-1].id
    return by_previous, changed
