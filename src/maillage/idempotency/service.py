"""Idempotent creates.

A client that retries a create (a timeout, a lost answer) sends the same ``Idempotency-Key`` header.
The key is recorded in the same transaction as the object it creates:

- first request: the key row is inserted, the object is created, the answer is stored with the key,
  all committed together;
- a later retry: the stored answer is returned with status 200 (the object exists; nothing is created);
- a concurrent retry while the first is still running: PostgreSQL makes the second insert wait on the
  unique index; when the first commits, the second sees the stored answer (200); if the first rolled
  back, the second proceeds and creates the object;
- the same key with a different body: 422, because the client is confused and must not be guessed for.

Keys are kept 24 hours (``purge_expired``, a daily job).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maillage.exceptions import Conflict, ValidationFailed
from maillage.kit.clock import now
from maillage.models.idempotency import IdempotencyKey
from maillage.worker.registry import job, periodic

KEY_TTL = dt.timedelta(hours=24)


@dataclass
class Replay:
    status_code: int
    body: dict[str, Any]


@dataclass
class Claim:
    row: IdempotencyKey


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _check_key(key: str) -> str:
    key = key.strip()
    if not 8 <= len(key) <= 100 or any(ord(c) < 33 or ord(c) > 126 for c in key):
        raise ValidationFailed(
            "En-tête Idempotency-Key invalide : 8 à 100 caractères visibles (un UUID convient).",
            details=[{"field": "header.idempotency-key", "message": "Format invalide."}],
        )
    return key


def begin(session: Session, *, scope: str, key: str, method: str, path: str, body: Any) -> Claim | Replay:
    """Claim ``key`` for this request, or return the answer already given to it."""
    key = _check_key(key)
    digest = request_hash(method, path, body)
    row = IdempotencyKey(scope=scope[:100], key=key, method=method, path=path[:500], request_hash=digest)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return Claim(row)
    except IntegrityError:
        pass
    existing = session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope[:100],
                                                           IdempotencyKey.key == key))
    if existing is None:  # the other transaction rolled back between our insert and this read
        raise Conflict("Une requête identique vient d'échouer : réessayez.")
    if existing.request_hash != digest:
        raise ValidationFailed(
            "Cette clé d'idempotence a déjà servi pour une autre requête.",
            details=[{"field": "header.idempotency-key", "message": "Clé déjà utilisée avec un autre contenu."}],
        )
    if existing.status_code is None or existing.response is None:
        raise Conflict("Une requête identique est en cours de traitement : réessayez dans un instant.")
    return Replay(200, dict(existing.response))


def complete(session: Session, claim: Claim, status_code: int, response: dict[str, Any]) -> None:
    claim.row.status_code = status_code
    claim.row.response = json.loads(json.dumps(response, default=str))
    session.flush()


@job("idempotency.purge_expired")
def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now() - KEY_TTL))
    return int(getattr(result, "rowcount", 0) or 0)


periodic("idempotency.purge_expired", every=dt.timedelta(hours=24))
