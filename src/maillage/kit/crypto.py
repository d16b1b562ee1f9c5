"""Authenticated encryption primitives: AES-256-GCM with associated data, data keys and their wrapping.

Only the ``cryptography`` package's AESGCM does the cryptography; this module fixes the sizes, draws the
nonces and keys from the operating system's CSPRNG, encodes associated data unambiguously and turns every
failure into one exception. It knows no settings, no models and no key storage (that is ``maillage.vault``).

Nonces are 96-bit random values drawn for every encryption. NIST SP 800-38D §8.3 bounds the number of
encryptions under one key with random nonces to 2^32; a data key encrypts one value, and a key-encryption
key wraps one data key per object, far below the bound for a hospital group (rotation starts a new count).
"""

from __future__ import annotations

import hashlib
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit GCM nonce (NIST SP 800-38D recommended length)
TAG_BYTES = 16
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
# AESGCM refuses data longer than 2^31 - 1 bytes in one call.
MAX_PLAINTEXT_BYTES = 2**31 - 1 - TAG_BYTES


class CryptoError(Exception):
    """A ciphertext, a tag, a key or associated data did not verify. Carries no secret."""


def generate_key() -> bytes:
    """A fresh random 256-bit key (data key or key-encryption key)."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise CryptoError(f"an AES-256 key is {KEY_BYTES} bytes")


def encode_aad(*parts: str) -> bytes:
    """Encode the associated data so that no two different tuples give the same bytes.

    Each part is UTF-8 preceded by its length on 4 bytes: ``("ab", "c")`` and ``("a", "bc")`` differ.
    """
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        out += struct.pack(">I", len(raw))
        out += raw
    return bytes(out)


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt and authenticate ``plaintext`` under ``key`` bound to ``aad``.

    Returns ``(nonce, ciphertext)``; the ciphertext ends with the 16-byte GCM tag.
    """
    _check_key(key)
    if len(plaintext) > MAX_PLAINTEXT_BYTES:
        raise CryptoError("plaintext too long for one AES-GCM message")
    nonce = new_nonce()
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, nonce: bytes, ciphertext: bytes, *, aad: bytes) -> bytes:
    """Verify the tag and decrypt; raise ``CryptoError`` on any mismatch (key, nonce, data or ``aad``)."""
    _check_key(key)
    if len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
        raise CryptoError("malformed ciphertext")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise CryptoError("authentication failed") from None


def wrap_key(kek: bytes, data_key: bytes, *, aad: bytes) -> bytes:
    """Wrap a data key under a key-encryption key with AES-256-GCM: ``nonce || encrypted key || tag``."""
    _check_key(data_key)
    nonce, ciphertext = seal(kek, data_key, aad=aad)
    return nonce + ciphertext


def unwrap_key(kek: bytes, wrapped: bytes, *, aad: bytes) -> bytes:
    """Recover a data key wrapped by ``wrap_key``; raise ``CryptoError`` if anything does not verify."""
    if len(wrapped) != WRAPPED_KEY_BYTES:
        raise CryptoError("malformed wrapped key")
    data_key = open_sealed(kek, wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad=aad)
    _check_key(data_key)
    return data_key


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
