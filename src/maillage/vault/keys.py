"""The key ring: key-encryption keys (KEKs), kept outside the database.

Two sources, chosen by the settings:

- ``MAILLAGE_VAULT_KEYS="id1:base64key,id2:base64key"``: the first key is active, the others only unwrap
  (an orchestrator's secret store injects the variable; rotation = put a new key first, restart, re-wrap).
- otherwise the directory ``settings.key_dir`` (``var/keys/``): one file ``kek-<id>.key`` per key holding
  the base64 of 32 random bytes, and a file ``ACTIVE`` naming the active key. The directory must be
  ``0700`` and the key files ``0600``: a key readable by group or others is refused, not loaded.
  In development the first key is created on first use; elsewhere a missing key stops the process.

Running processes notice a rotation made by ``maillage keys rotate`` on the same directory: the ``ACTIVE``
file is checked on every use and an unknown key id triggers a reload.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from maillage.config import Settings, get_settings
from maillage.kit import crypto
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.kit.process import ProcessWide
from maillage.vault.errors import KeyConfigurationError, KeyUnavailable

log = get_logger("maillage.vault")

KEK_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEY_FILE_PATTERN = re.compile(r"^kek-([A-Za-z0-9_-]{1,64})\.key$")
ACTIVE_FILE = "ACTIVE"
RETIRED_DIR = "retired"
ENV_VARIABLE = "MAILLAGE_VAULT_KEYS"


@dataclass(frozen=True, repr=False)
class Kek:
    id: str
    key: bytes

    def __repr__(self) -> str:  # never print key material
        return f"Kek(id={self.id!r})"


def new_kek_id() -> str:
    """A readable, sortable, unique id: creation time (UTC) and 6 random hex digits."""
    return f"{now():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, *, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigurationError(f"La clé {where} n'est pas du base64 valide.") from None
    if len(key) != crypto.KEY_BYTES:
        raise KeyConfigurationError(f"La clé {where} fait {len(key)} octets au lieu de {crypto.KEY_BYTES} (AES-256).")
    return key


class KeyRing(ABC):
    """The KEKs a process can use: one active (wraps new data keys), the others unwrap only."""

    source: str

    @abstractmethod
    def active(self) -> Kek: ...

    @abstractmethod
    def ids(self) -> list[str]: ...

    @abstractmethod
    def _lookup(self, kek_id: str) -> bytes | None: ...

    @abstractmethod
    def add_active(self) -> Kek:
        """Create a new KEK and make it the active one (rotation)."""

    @abstractmethod
    def retire(self, kek_id: str) -> None:
        """Take a KEK out of the ring; the caller has checked that no data key refers to it."""

    def get(self, kek_id: str) -> bytes:
        key = self._lookup(kek_id)
        if key is None:
            raise KeyUnavailable(
                f"La clé de chiffrement « {kek_id} » n'est pas dans le trousseau ({self.source}) : "
                "les données qu'elle protège ne peuvent pas être lues."
            )
        return key

    def has(self, kek_id: str) -> bool:
        return self._lookup(kek_id) is not None


class StaticKeyRing(KeyRing):
    """Keys given as values (``MAILLAGE_VAULT_KEYS`` or tests); the first one is active."""

    def __init__(self, keys: list[Kek], *, source: str = f"variable {ENV_VARIABLE}"):
        if not keys:
            raise KeyConfigurationError(f"Aucune clé de chiffrement dans {ENV_VARIABLE}.")
        seen: set[str] = set()
        for kek in keys:
            if not KEK_ID_PATTERN.match(kek.id):
                raise KeyConfigurationError(
                    f"Identifiant de clé invalide « {kek.id[:70]} » : lettres, chiffres, - et _ (64 au plus)."
                )
            if kek.id in seen:
                raise KeyConfigurationError(f"La clé « {kek.id} » apparaît deux fois.")
            if len(kek.key) != crypto.KEY_BYTES:
                raise KeyConfigurationError(f"La clé « {kek.id} » ne fait pas {crypto.KEY_BYTES} octets.")
            seen.add(kek.id)
        self._keys = {kek.id: kek.key for kek in keys}
        self._active_id = keys[0].id
        self.source = source

    @classmethod
    def from_env_value(cls, value: str) -> StaticKeyRing:
        keys: list[Kek] = []
        for position, item in enumerate(value.split(","), start=1):
            item = item.strip()
            if not item:
                continue
            kek_id, sep, encoded = item.partition(":")
            if not sep:
                raise KeyConfigurationError(
                    f"{ENV_VARIABLE} : l'élément n° {position} doit avoir la forme identifiant:clé_en_base64."
                )
            kek_id = kek_id.strip()
            keys.append(Kek(kek_id, decode_key(encoded, where=f"« {kek_id[:70]} » de {ENV_VARIABLE}")))
        return cls(keys)

    def active(self) -> Kek:
        return Kek(self._active_id, self._keys[self._active_id])

    def ids(self) -> list[str]:
        return list(self._keys)

    def _lookup(self, kek_id: str) -> bytes | None:
        return self._keys.get(kek_id)

    def add_active(self) -> Kek:
        raise KeyConfigurationError(
            f"Les clés viennent de {ENV_VARIABLE} : générez une clé avec « maillage keys generate », "
            "placez-la en tête de la variable, redémarrez les processus, puis lancez "
            "« maillage keys rotate --rewrap-only »."
        )

    def retire(self, kek_id: str) -> None:
        if kek_id == self._active_id:
            raise KeyConfigurationError(f"La clé « {kek_id} » est la clé active : elle ne peut pas être retirée.")
        self._keys.pop(kek_id, None)


def _mode_text(mode: int) -> str:
    return oct(stat.S_IMODE(mode))[2:].zfill(4)


class DirectoryKeyRing(KeyRing):
    """Keys in files ``kek-<id>.key`` (0600) of a directory (0700), the active one named by ``ACTIVE``."""

    def __init__(self, key_dir: Path, *, create_if_empty: bool = False, allow_empty: bool = False):
        self.key_dir = Path(key_dir)
        self.source = f"dossier {self.key_dir}"
        self._create_if_empty = create_if_empty
        self._allow_empty = allow_empty
        self._lock = threading.RLock()
        self._keys: dict[str, bytes] = {}
        self._active_id: str | None = None
        self._active_stamp: tuple[int, int, int] | None = None
        with self._lock:
            self._load()

    @classmethod
    def create(cls, key_dir: Path) -> DirectoryKeyRing:
        """A key directory with its first key (tests, first installation)."""
        ring = cls(key_dir, allow_empty=True)
        if not ring.ids():
            ring.add_active()
        return ring

    # -- loading ----------------------------------------------------------------------------------
    def _ensure_dir(self) -> bool:
        """Return True when the directory exists (creating it 0700 when allowed), refuse loose permissions."""
        if not self.key_dir.exists():
            if not (self._create_if_empty or self._allow_empty):
                raise KeyConfigurationError(self._missing_message())
            self.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.key_dir.is_dir():
            raise KeyConfigurationError(f"{self.key_dir} n'est pas un dossier : les clés ne peuvent pas y être lues.")
        mode = self.key_dir.stat().st_mode
        if mode & 0o077:
            raise KeyConfigurationError(
                f"Le dossier des clés {self.key_dir} est accessible au groupe ou aux autres utilisateurs "
                f"(droits {_mode_text(mode)}) : appliquez « chmod 700 {self.key_dir} »."
            )
        return True

    def _missing_message(self) -> str:
        return (
            f"Aucune clé de chiffrement : ni {ENV_VARIABLE} ni fichier kek-<id>.key dans {self.key_dir}. "
            "Créez la première clé avec « maillage keys rotate » (ou renseignez la variable) avant de démarrer."
        )

    def _read_key_file(self, path: Path) -> bytes:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise KeyConfigurationError(f"Le fichier de clé {path} n'est pas un fichier ordinaire.")
        if info.st_mode & 0o077:
            raise KeyConfigurationError(
                f"Le fichier de clé {path} est lisible par le groupe ou par d'autres utilisateurs "
                f"(droits {_mode_text(info.st_mode)}) : il est refusé. Appliquez « chmod 600 {path} »."
            )
        return decode_key(path.read_text(encoding="ascii", errors="replace"), where=f"du fichier {path}")

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            info = (self.key_dir / ACTIVE_FILE).stat()
        except FileNotFoundError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _load(self) -> None:
        self._ensure_dir()
        keys: dict[str, bytes] = {}
        for path in sorted(self.key_dir.iterdir()):
            match = KEY_FILE_PATTERN.match(path.name)
            if match:
                keys[match.group(1)] = self._read_key_file(path)
        stamp = self._stamp()
        active_id: str | None = None
        if stamp is not None:
            active_id = (self.key_dir / ACTIVE_FILE).read_text(encoding="ascii", errors="replace").strip()
            if active_id not in keys:
                raise KeyConfigurationError(
                    f"Le fichier {self.key_dir / ACTIVE_FILE} désigne la clé « {active_id[:70]} », "
                    f"absente de {self.key_dir}."
                )
        elif len(keys) == 1:
            active_id = next(iter(keys))
        elif len(keys) > 1:
            raise KeyConfigurationError(
                f"Plusieurs clés dans {self.key_dir} mais pas de fichier {ACTIVE_FILE} désignant la clé active."
            )
        self._keys, self._active_id, self._active_stamp = keys, active_id, stamp
        if not keys:
            if self._create_if_empty:
                kek = self.add_active()
                log.warning("vault.kek_created_for_development", kek_id=kek.id)
            elif not self._allow_empty:
                raise KeyConfigurationError(self._missing_message())

    def _refresh_if_rotated(self) -> None:
        if self._stamp() != self._active_stamp:
            with self._lock:
                if self._stamp() != self._active_stamp:
                    self._load()

    # -- use --------------------------------------------------------------------------------------
    def active(self) -> Kek:
        self._refresh_if_rotated()
        with self._lock:
            if self._active_id is None:
                raise KeyConfigurationError(self._missing_message())
            return Kek(self._active_id, self._keys[self._active_id])

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._keys)

    def _lookup(self, kek_id: str) -> bytes | None:
        with self._lock:
            key = self._keys.get(kek_id)
            if key is None and KEK_ID_PATTERN.match(kek_id):
                self._load()  # written by another process since we loaded
                key = self._keys.get(kek_id)
            return key

    # -- changes ----------------------------------------------------------------------------------
    def add_active(self) -> Kek:
        with self._lock:
            self._ensure_dir()
            kek = Kek(new_kek_id(), crypto.generate_key())
            _write_private(self.key_dir / f"kek-{kek.id}.key", (encode_key(kek.key) + "\n").encode("ascii"))
            _write_private(self.key_dir / ACTIVE_FILE, (kek.id + "\n").encode("ascii"))
            _fsync_dir(self.key_dir)
            self._keys[kek.id] = kek.key
            self._active_id = kek.id
            self._active_stamp = self._stamp()
            log.info("vault.kek_created", kek_id=kek.id)
            return kek

    def retire(self, kek_id: str) -> None:
        with self._lock:
            if kek_id == self._active_id:
                raise KeyConfigurationError(f"La clé « {kek_id} » est la clé active : elle ne peut pas être retirée.")
            if kek_id not in self._keys:
                raise KeyUnavailable(f"La clé « {kek_id} » n'est pas dans {self.key_dir}.")
            retired = self.key_dir / RETIRED_DIR
            retired.mkdir(mode=0o700, exist_ok=True)
            target = retired / f"kek-{kek_id}.key"
            if target.exists():
                target = retired / f"kek-{kek_id}.{now():%Y%m%d%H%M%S%f}.key"
            os.replace(self.key_dir / f"kek-{kek_id}.key", target)
            _fsync_dir(retired)
            _fsync_dir(self.key_dir)
            del self._keys[kek_id]
            log.info("vault.kek_retired", kek_id=kek_id)


def _write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically, readable by the owner only (0600)."""
    tmp = path.with_name(f".tmp-{path.name}-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_keyring(settings: Settings, *, allow_empty: bool = False) -> KeyRing:
    """The key ring the settings describe (environment variable first, then the key directory)."""
    value = settings.vault_keys.get_secret_value().strip()
    if value:
        return StaticKeyRing.from_env_value(value)
    return DirectoryKeyRing(
        settings.key_dir,
        create_if_empty=settings.environment == "development",
        allow_empty=allow_empty,
    )


_keyring: ProcessWide[KeyRing] = ProcessWide(lambda: load_keyring(get_settings()))


def get_keyring() -> KeyRing:
    """The process's key ring, loaded once from ``get_settings()`` unless a test put one in place."""
    return _keyring.get()


def reset_keyring() -> None:
    """Forget the cached key ring (after a change of settings)."""
    _keyring.reset()


def use_keyring(keyring: KeyRing) -> AbstractContextManager[KeyRing]:
    """Make ``keyring`` the process's key ring inside the block (tests, CLI commands)."""
    return _keyring.use(keyring)


def check_keys_ready(settings: Settings | None = None) -> KeyRing:
    """Load the key ring now, so that a process outside development refuses to start without a usable key."""
    keyring = load_keyring(settings or get_settings())
    keyring.active()
    return keyring
