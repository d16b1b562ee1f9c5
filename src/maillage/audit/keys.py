"""The audit key: what seals the chain (HMAC-SHA256) and signs its checkpoints, kept outside the database.

Whoever can write to the database but does not hold this key cannot recompute the hash of an edited entry, nor
sign a checkpoint (docs/adr/0004-audit-hash-chain.md). Two sources, chosen by the settings, as for the vault's keys:

- ``MAILLAGE_AUDIT_KEYS="id1:base64key,id2:base64key"``: the first key seals new entries, the others only verify
  (an orchestrator's secret store injects the variable; rotation = put a new key first and restart).
- otherwise the directory ``settings.audit_key_dir`` (default ``var/audit-keys/``): one file ``audit-<id>.key``
  per key holding the base64 of 32 random bytes; the greatest id (ids are creation times) seals. The directory
  must be ``0700`` and the files ``0600``. In development the first key is created on first use; elsewhere a
  missing key stops the process (``maillage audit keygen`` creates it).

Each key is never used directly: a chain key and a checkpoint key are derived from it (HMAC-SHA256 with a label),
so a checkpoint signature can never pass for an entry hash or the other way round.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from maillage.config import Settings, get_settings
from maillage.exceptions import ServiceUnavailable
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.kit.process import ProcessWide

log = get_logger("maillage.audit")

KEY_BYTES = 32
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEY_FILE_PATTERN = re.compile(r"^audit-([A-Za-z0-9_-]{1,64})\.key$")
ENV_VARIABLE = "MAILLAGE_AUDIT_KEYS"
CHAIN_LABEL = b"maillage/audit/chain/v1"
CHECKPOINT_LABEL = b"maillage/audit/checkpoint/v1"


class AuditKeyError(ServiceUnavailable):
    """The audit key is missing, unreadable or exposed: the chain can be neither sealed nor verified."""

    code = "audit_key_configuration"
    default_message = "La clé d'audit n'est pas disponible."


@dataclass(frozen=True, repr=False)
class AuditKey:
    id: str
    chain_key: bytes = field(repr=False)
    checkpoint_key: bytes = field(repr=False)

    @classmethod
    def derive(cls, key_id: str, secret: bytes) -> AuditKey:
        return cls(key_id, hmac.new(secret, CHAIN_LABEL, hashlib.sha256).digest(),
                   hmac.new(secret, CHECKPOINT_LABEL, hashlib.sha256).digest())

    def __repr__(self) -> str:  # never print key material
        return f"AuditKey(id={self.id!r})"


class AuditKeys:
    """The audit keys a process holds: the active one seals, every one verifies."""

    def __init__(self, keys: list[tuple[str, bytes]], *, source: str):
        if not keys:
            raise AuditKeyError(f"Aucune clé d'audit ({source}).")
        self.source = source
        self._keys: dict[str, AuditKey] = {}
        for key_id, secret in keys:
            if not KEY_ID_PATTERN.match(key_id):
                raise AuditKeyError(f"Identifiant de clé d'audit invalide « {key_id[:70]} » : lettres, chiffres, "
                                    "- et _ (64 au plus).")
            if key_id in self._keys:
                raise AuditKeyError(f"La clé d'audit « {key_id} » apparaît deux fois ({source}).")
            if len(secret) != KEY_BYTES:
                raise AuditKeyError(f"La clé d'audit « {key_id} » ne fait pas {KEY_BYTES} octets ({source}).")
            self._keys[key_id] = AuditKey.derive(key_id, secret)
        self.active = self._keys[keys[0][0]]

    @property
    def chain_keys(self) -> Mapping[str, bytes]:
        return {key_id: key.chain_key for key_id, key in self._keys.items()}

    @property
    def checkpoint_keys(self) -> Mapping[str, bytes]:
        return {key_id: key.checkpoint_key for key_id, key in self._keys.items()}

    def ids(self) -> list[str]:
        return list(self._keys)


def new_key_id() -> str:
    return f"{now():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _decode(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AuditKeyError(f"La clé d'audit {where} n'est pas du base64 valide.") from None


def keys_from_env_value(value: str) -> AuditKeys:
    keys: list[tuple[str, bytes]] = []
    for position, item in enumerate(value.split(","), start=1):
        item = item.strip()
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep:
            raise AuditKeyError(f"{ENV_VARIABLE} : l'élément n° {position} doit avoir la forme "
                                "identifiant:clé_en_base64.")
        keys.append((key_id.strip(), _decode(encoded, f"n° {position} de {ENV_VARIABLE}")))
    return AuditKeys(keys, source=f"variable {ENV_VARIABLE}")


def _mode(mode: int) -> str:
    return oct(stat.S_IMODE(mode))[2:].zfill(4)


def _missing(key_dir: Path) -> str:
    return (f"Aucune clé d'audit : ni {ENV_VARIABLE} ni fichier audit-<id>.key dans {key_dir}. La chaîne d'audit "
            "ne peut être ni scellée ni vérifiée. Créez la clé avec « maillage audit keygen » (ou renseignez la "
            "variable) avant de démarrer.")


def keys_from_dir(key_dir: Path, *, create_if_empty: bool = False) -> AuditKeys:
    """Read ``audit-<id>.key`` files (0600) of ``key_dir`` (0700); the greatest id is active."""
    key_dir = Path(key_dir)
    if not key_dir.exists():
        if not create_if_empty:
            raise AuditKeyError(_missing(key_dir))
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not key_dir.is_dir():
        raise AuditKeyError(f"{key_dir} n'est pas un dossier : les clés d'audit ne peuvent pas y être lues.")
    mode = key_dir.stat().st_mode
    if mode & 0o077:
        raise AuditKeyError(f"Le dossier des clés d'audit {key_dir} est accessible au groupe ou aux autres "
                            f"utilisateurs (droits {_mode(mode)}) : appliquez « chmod 700 {key_dir} ».")
    found: list[tuple[str, bytes]] = []
    for path in sorted(key_dir.iterdir(), reverse=True):
        match = KEY_FILE_PATTERN.match(path.name)
        if not match:
            continue
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            raise AuditKeyError(f"Le fichier de clé d'audit {path} n'est pas un fichier privé (droits "
                                f"{_mode(info.st_mode)}) : il est refusé. Appliquez « chmod 600 {path} ».")
        found.append((match.group(1), _decode(path.read_text(encoding="ascii", errors="replace"),
                                              f"du fichier {path}")))
    if not found:
        if not create_if_empty:
            raise AuditKeyError(_missing(key_dir))
        key_id = create_key_file(key_dir)
        log.warning("audit.key_created_for_development", key_id=key_id)
        return keys_from_dir(key_dir)
    return AuditKeys(found, source=f"dossier {key_dir}")


def create_key_file(key_dir: Path) -> str:
    """Write a new random key ``audit-<id>.key`` (0600) in ``key_dir`` (created 0700); it becomes the active one."""
    key_dir = Path(key_dir)
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_id = new_key_id()
    path = key_dir / f"audit-{key_id}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    dir_fd = os.open(key_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return key_id


def load_audit_keys(settings: Settings) -> AuditKeys:
    value = settings.audit_keys.get_secret_value().strip()
    if value:
        return keys_from_env_value(value)
    return keys_from_dir(settings.effective_audit_key_dir, create_if_empty=settings.environment == "development")


_audit_keys: ProcessWide[AuditKeys] = ProcessWide(lambda: load_audit_keys(get_settings()))


def get_audit_keys() -> AuditKeys:
    """The process's audit keys, loaded once (an append costs a dictionary read, no file access)."""
    return _audit_keys.get()


def reset_audit_keys() -> None:
    _audit_keys.reset()


def use_audit_keys(keys: AuditKeys) -> AbstractContextManager[AuditKeys]:
    """Make ``keys`` the process's audit keys inside the block (tests)."""
    return _audit_keys.use(keys)


def check_audit_keys_ready(settings: Settings | None = None) -> AuditKeys:
    """Load the audit keys now, so that a process outside development refuses to start without one."""
    return load_audit_keys(settings or get_settings())
