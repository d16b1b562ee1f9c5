"""Where the chain's signed checkpoints are kept: a port, outside the database, and its adapters.

A checkpoint (``rules.Checkpoint``) says "the chain ran to entry ``seq`` whose hash was ``hash``", signed with a
key the database does not hold. Kept where the database administrator has no write access, it lets
``maillage audit verify`` detect a chain rewritten from any point before it and entries deleted from its tail
(docs/adr/0004-audit-hash-chain.md). The store only keeps records in order; signing and checking are the
service's (``rules.check_checkpoints``).

- ``FileCheckpointStore``: the real adapter, one append-only JSON Lines file (``checkpoints.jsonl``, 0600, in a
  0700 directory; default ``var/audit-checkpoints/``, ``MAILLAGE_AUDIT_CHECKPOINT_DIR``). Each record is one
  ``write`` in ``O_APPEND`` mode followed by ``fsync``, under an exclusive ``flock`` so that the worker and the
  console never number two checkpoints alike. Point the directory at storage the database's administrators
  cannot write (another host's mount, a WORM bucket's sync, ``chattr +a``).
- ``MemoryCheckpointStore``: the fake, for tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from maillage.config import get_settings
from maillage.exceptions import Conflict, ServiceUnavailable
from maillage.kit.process import ProcessWide

FILE_NAME = "checkpoints.jsonl"
Record = Mapping[str, Any]


class CheckpointStoreError(ServiceUnavailable):
    code = "audit_checkpoint_store"
    default_message = "Le registre des points de contrôle de l'audit n'est pas disponible."


class CheckpointRace(Conflict):
    """Another process appended a checkpoint between our read and our append: read again and retry."""

    code = "audit_checkpoint_race"
    default_message = "Un autre point de contrôle vient d'être écrit : relancez la commande."


class CheckpointStore(Protocol):
    """An append-only log of checkpoint records, outside the database."""

    @property
    def location(self) -> str: ...

    def read(self) -> list[Record]:
        """Every record, oldest first; an unreadable line comes back as ``{"unreadable": <text>}``."""

    def append(self, record: Record, *, expected_count: int) -> None:
        """Append ``record`` if the log holds exactly ``expected_count`` records, else raise ``CheckpointRace``."""


def _parse(line: bytes) -> Record:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return {"unreadable": line[:200].decode("utf-8", errors="replace")}
    return value if isinstance(value, dict) else {"unreadable": str(value)[:200]}


def _encode(record: Record) -> bytes:
    return json.dumps(dict(record), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


class FileCheckpointStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME

    @property
    def location(self) -> str:
        return str(self.path)

    def _ensure_dir(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointStoreError(f"Le dossier des points de contrôle {self.directory} ne peut pas être créé "
                                       f"({exc.strerror}).") from exc

    def _lines(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as handle:
                return [line for line in handle.read().split(b"\n") if line.strip()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointStoreError(f"Le registre des points de contrôle {self.path} ne peut pas être lu "
                                       f"({exc.strerror}).") from exc

    def read(self) -> list[Record]:
        return [_parse(line) for line in self._lines()]

    def append(self, record: Record, *, expected_count: int) -> None:
        self._ensure_dir()
        created = not self.path.exists()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CheckpointStoreError(f"Le registre des points de contrôle {self.path} ne peut pas être ouvert en "
                                       f"écriture ({exc.strerror}).") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            count = len(self._lines())
            if count != expected_count:
                raise CheckpointRace()
            data = _encode(record)
            if os.write(fd, data) != len(data):
                raise CheckpointStoreError(f"Écriture incomplète dans {self.path}.")
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock
        if created:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


class MemoryCheckpointStore:
    """The fake: records in a list (tests can tamper with ``records`` as an attacker of the store would)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return "mémoire"

    def read(self) -> list[Record]:
        with self._lock:
            return [dict(r) for r in self.records]

    def append(self, record: Record, *, expected_count: int) -> None:
        with self._lock:
            if len(self.records) != expected_count:
                raise CheckpointRace()
            self.records.append(dict(record))


# Built at each use: cheap, and it follows the settings (the folder) at once.
_store: ProcessWide[CheckpointStore] = ProcessWide(
    lambda: FileCheckpointStore(get_settings().effective_audit_checkpoint_dir), cached=False)


def get_checkpoint_store() -> CheckpointStore:
    """The store the settings name (``MAILLAGE_AUDIT_CHECKPOINT_DIR``, default ``var/audit-checkpoints``)."""
    return _store.get()


def use_checkpoint_store(store: CheckpointStore) -> AbstractContextManager[CheckpointStore]:
    """Make ``store`` the process's register inside the block (tests)."""
    return _store.use(store)
