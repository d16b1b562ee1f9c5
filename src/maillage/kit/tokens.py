"""Random secrets handed to people and machines, and how they are stored (SHA-256 only).

These secrets carry 256 bits of entropy, so a fast hash is enough to store them: nobody can
brute-force a preimage. Passwords, chosen by people, use Argon2id instead (maillage.auth).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def keyed_digest(key: str, message: str) -> str:
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
