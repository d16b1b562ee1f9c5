"""Signing prescriptions: Ed25519 keys derived from the vault's key-encryption keys, never stored.

The platform signs each prescription with one key; the key is kept by the vault: for each vault key (KEK) an
Ed25519 signing key is derived with HKDF-SHA256 under a label of its own, so the vault's key material is never used
directly for signing and a rotation of the vault brings a new signing key. The signing key's id is
``rx-<kek id>``. The public keys are published (``verification_keys``, served at
``/api/prescriptions/verification-keys``) so that anyone holding a prescription's signed content can check it.

A prescription stays verifiable as long as its vault key is in the ring (retiring a vault key retires the signing
key derived from it: retire only keys that no longer sign live prescriptions).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from maillage.vault.keys import KeyRing, get_keyring

KEY_PREFIX = "rx-"
HKDF_INFO = b"maillage prescription signing key v1"


def _private_key(kek: bytes) -> Ed25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(kek)
    return Ed25519PrivateKey.from_private_bytes(seed)


def _public_key(key_id: str, keyring: KeyRing | None = None) -> Ed25519PublicKey | None:
    ring = keyring or get_keyring()
    if not key_id.startswith(KEY_PREFIX) or not ring.has(key_id[len(KEY_PREFIX):]):
        return None
    return _private_key(ring.get(key_id[len(KEY_PREFIX):])).public_key()


@dataclass(frozen=True)
class Signature:
    key_id: str
    value: str  # base64

    @property
    def verification_code(self) -> str:
        """Eight characters derived from the signature, printed and carried by the QR code with the number."""
        return base64.b32encode(hashlib.sha256(self.value.encode()).digest()).decode()[:8]


def sign(content: bytes, keyring: KeyRing | None = None) -> Signature:
    ring = keyring or get_keyring()
    kek = ring.active()
    value = _private_key(kek.key).sign(content)
    return Signature(KEY_PREFIX + kek.id, base64.b64encode(value).decode())


def verify(content: bytes, signature: str, key_id: str, keyring: KeyRing | None = None) -> bool:
    """Whether ``signature`` (base64) is the signature of ``content`` by the key ``key_id``."""
    public = _public_key(key_id, keyring)
    if public is None:
        return False
    try:
        public.verify(base64.b64decode(signature, validate=True), content)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def verification_keys(keyring: KeyRing | None = None) -> list[dict[str, str]]:
    """The published keys: id, algorithm and the raw 32-byte public key in base64 (as a JWK's ``x`` would be,
    but in standard base64)."""
    ring = keyring or get_keyring()
    keys = []
    for kek_id in ring.ids():
        raw = _private_key(ring.get(kek_id)).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        keys.append({"key_id": KEY_PREFIX + kek_id, "algorithm": "Ed25519",
                     "public_key": base64.b64encode(raw).decode()})
    return keys
