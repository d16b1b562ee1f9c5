"""``maillage backup`` and ``maillage restore``: a consistent copy of the database and the blob store.

A backup folder holds the database (``database.dump``, PostgreSQL's custom format, or ``database.sqlite3`` made
with SQLite's online backup), the blob store's ciphertext files (``blobs/``, the same layout as the store), the
audit checkpoints known when the backup started (``audit-checkpoints/``) and ``manifest.json``: the schema
revision, the row count of every table, the SHA-256 of the dump and of every file. Never a key: keys are exported
apart (``maillage keys export``, :mod:`maillage.operations.keyfile`).

Consistency while the platform runs. PostgreSQL: one REPEATABLE READ transaction exports its snapshot; the row
counts are read in it and ``pg_dump --snapshot`` dumps exactly that snapshot. The blob files copied are the ones
``vault_blob`` lists in the snapshot (a file is written before its row commits and never rewritten: each one is
present and checked against the ciphertext hash the row holds). SQLite: the online backup API copies a consistent
database file, whose rows then give the counts and the blob list. The audit checkpoints are copied before the
snapshot, so every checkpoint of the copy pins an entry the copy holds.

Restore goes into an EMPTY database and an EMPTY blob store only, after checking every checksum of the folder, and
checks the restored row counts and blobs against the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url

from maillage.config import Settings
from maillage.exceptions import MaillageError
from maillage.kit.clock import now
from maillage.kit.db import make_engine
from maillage.models.vault import Blob
from maillage.vault.blobstore import LocalBlobStore

FORMAT = "maillage-backup/1"
MANIFEST = "manifest.json"
PG_DUMP_FILE = "database.dump"
SQLITE_FILE = "database.sqlite3"
BLOB_DIR = "blobs"
CHECKPOINT_DIR = "audit-checkpoints"
CHUNK = 1024 * 1024


class BackupError(MaillageError):
    """A backup or a restore that cannot be done, or whose copy does not match its manifest."""


@dataclass(frozen=True)
class BackupReport:
    folder: Path
    manifest: dict[str, Any]
    seconds: float


@dataclass(frozen=True)
class RestoreReport:
    tables: int
    rows: int
    blobs: int
    seconds: float


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump / pg_restore and the environment carrying the password."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"L'outil « {name} » de PostgreSQL est introuvable : installez le client PostgreSQL "
                          "de la même version majeure que le serveur.")
    return found


def table_names(conn: Connection) -> list[str]:
    return sorted(inspect(conn).get_table_names())


def row_counts(conn: Connection) -> dict[str, int]:
    return {name: int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())
            for name in table_names(conn)}


def _revision(conn: Connection) -> list[str]:
    if "alembic_version" not in table_names(conn):
        return []
    return sorted(str(r) for r in conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _blob_rows(conn: Connection) -> list[tuple[uuid.UUID, str]]:
    if "vault_blob" not in table_names(conn):
        return []
    rows = conn.execute(select(Blob.id, Blob.ciphertext_sha256).order_by(Blob.id)).all()
    return [(row.id, row.ciphertext_sha256) for row in rows]


def _fail_if_exists(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"Le dossier de sauvegarde {dest} n'est pas vide : choisissez un dossier neuf "
                          "(une sauvegarde n'en écrase jamais une autre).")


def _copy_checkpoints(settings: Settings, dest: Path) -> dict[str, str]:
    source = settings.effective_audit_checkpoint_dir
    target = dest / CHECKPOINT_DIR
    target.mkdir(mode=0o700)
    files: dict[str, str] = {}
    if source.is_dir():
        for path in sorted(source.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                shutil.copy2(path, target / path.name)
                files[path.name] = sha256_file(target / path.name)
    return files


def _copy_blobs(blob_rows: list[tuple[uuid.UUID, str]], source: LocalBlobStore, dest: Path) -> dict[str, str]:
    """Copy the listed blob files into ``dest/blobs``, checking each against the hash its row holds."""
    (dest / BLOB_DIR).mkdir(mode=0o700, exist_ok=True)
    target = LocalBlobStore(dest / BLOB_DIR)
    files: dict[str, str] = {}
    for blob_id, expected in blob_rows:
        src = source.path_for(blob_id)
        out = target.path_for(blob_id)
        out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            shutil.copyfile(src, out)
        except FileNotFoundError:
            raise BackupError(f"Le fichier chiffré du document {blob_id} manque dans le stockage ({src}) : la "
                              "sauvegarde serait incomplète. Vérifiez le stockage des documents.") from None
        os.chmod(out, 0o600)
        digest = sha256_file(out)
        if digest != expected:
            raise BackupError(f"Le fichier chiffré du document {blob_id} ne correspond pas à son empreinte "
                              "enregistrée en base : il a été altéré. Sauvegarde interrompue.")
        files[blob_id.hex] = digest
    return files


def _postgres_backup(url: str, dest: Path) -> tuple[dict[str, int], list[str], list[tuple[uuid.UUID, str]]]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            counts = row_counts(conn)
            revision = _revision(conn)
            blob_rows = _blob_rows(conn)
            dsn, env = _libpq(url)
            result = subprocess.run(  # noqa: S603 - fixed tool, arguments from the settings
                [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                 f"--file={dest / PG_DUMP_FILE}", f"--dbname={dsn}"],
                env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise BackupError(f"pg_dump a échoué : {result.stderr.strip()[-800:]}")
            conn.rollback()
    finally:
        engine.dispose()
    return counts, revision, blob_rows


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("La base SQLite doit être un fichier pour être sauvegardée.")
    return Path(database)


def _sqlite_backup(url: str, dest: Path) -> tuple[dict[str, int], list[str], list[tuple[uuid.UUID, str]]]:
    source = sqlite3.connect(_sqlite_path(url))
    target = sqlite3.connect(dest / SQLITE_FILE)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    copy = make_engine(f"sqlite:///{dest / SQLITE_FILE}", pool=False)
    try:
        with copy.connect() as conn:
            counts, revision, blob_rows = row_counts(conn), _revision(conn), _blob_rows(conn)
    finally:
        copy.dispose()
    standalone = sqlite3.connect(dest / SQLITE_FILE, isolation_level=None)
    try:  # one file, no -wal beside it: the copy stands alone
        standalone.execute("PRAGMA journal_mode=DELETE")
    finally:
        standalone.close()
    return counts, revision, blob_rows


def backup(settings: Settings, dest: Path) -> BackupReport:
    """Write a backup of the settings' database and blob store into the new folder ``dest``."""
    started = time.monotonic()
    dest = Path(dest)
    _fail_if_exists(dest)
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    url = settings.effective_database_url
    dialect = make_url(url).get_backend_name()
    taken_at = now()
    checkpoints = _copy_checkpoints(settings, dest)
    if dialect == "postgresql":
        counts, revision, blob_rows = _postgres_backup(url, dest)
        db_file = PG_DUMP_FILE
    elif dialect == "sqlite":
        counts, revision, blob_rows = _sqlite_backup(url, dest)
        db_file = SQLITE_FILE
    else:
        raise BackupError(f"Base « {dialect} » non prise en charge par la sauvegarde (PostgreSQL ou SQLite).")
    os.chmod(dest / db_file, 0o600)
    blobs = _copy_blobs(blob_rows, LocalBlobStore(settings.blob_dir), dest)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "taken_at": taken_at.isoformat(),
        "finished_at": now().isoformat(),
        "schema_revision": revision,
        "database": {"dialect": dialect, "file": db_file, "sha256": sha256_file(dest / db_file),
                     "bytes": (dest / db_file).stat().st_size},
        "tables": counts,
        "blobs": blobs,
        "audit_checkpoints": checkpoints,
        "keys": "absentes : exportées à part (maillage keys export)",
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(dest / MANIFEST, 0o600)
    return BackupReport(dest, manifest, time.monotonic() - started)


# -- restore ------------------------------------------------------------------------------------------------------

def read_manifest(src: Path) -> dict[str, Any]:
    path = Path(src) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{src} n'est pas une sauvegarde Maillage : {MANIFEST} est absent.") from None
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"Le manifeste {path} est illisible.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"Le manifeste {path} n'est pas au format {FORMAT}.")
    return manifest


def _plain_name(name: object, what: str) -> str:
    """A file name the manifest gives, refused unless it is one plain name inside the backup's folder: a tampered
    manifest must not make the restore read or write anywhere else (``../keys/ACTIVE``, ``/etc/…``), and its
    checksums prove nothing against whoever rewrote it."""
    if not isinstance(name, str) or not name or name.startswith(".") or Path(name).name != name or "\\" in name:
        raise BackupError(f"Le manifeste nomme {what} {name!r} hors du dossier de la sauvegarde : refusé.")
    return name


def check_folder(src: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest names is present with its checksum, and is a plain name inside the backup."""
    database = manifest["database"]
    db_path = src / _plain_name(database["file"], "la copie de la base")
    if not db_path.is_file() or sha256_file(db_path) != database["sha256"]:
        raise BackupError(f"La copie de la base {db_path} est absente ou ne correspond pas au manifeste.")
    store = LocalBlobStore(src / BLOB_DIR)
    for name, digest in manifest["blobs"].items():
        path = store.path_for(uuid.UUID(hex=name))
        if not path.is_file() or sha256_file(path) != digest:
            raise BackupError(f"Le fichier chiffré {name} de la sauvegarde est absent ou altéré.")
    for name, digest in manifest["audit_checkpoints"].items():
        path = src / CHECKPOINT_DIR / _plain_name(name, "le registre")
        if not path.is_file() or sha256_file(path) != digest:
            raise BackupError(f"Le registre des points de contrôle {name} de la sauvegarde est absent ou altéré.")


def _non_empty_dir(path: Path) -> bool:
    return path.exists() and any(path.iterdir())


def _check_empty_targets(settings: Settings, engine: Engine) -> None:
    with engine.connect() as conn:
        tables = table_names(conn)
    if tables:
        raise BackupError(f"La base cible n'est pas vide ({len(tables)} tables, dont « {tables[0]} ») : la "
                          "restauration se fait dans une base neuve, jamais par-dessus des données.")
    if _non_empty_dir(settings.blob_dir):
        raise BackupError(f"Le stockage des documents {settings.blob_dir} n'est pas vide : la restauration se fait "
                          "dans un stockage neuf.")
    if _non_empty_dir(settings.effective_audit_checkpoint_dir):
        raise BackupError(f"Le dossier des points de contrôle d'audit {settings.effective_audit_checkpoint_dir} "
                          "n'est pas vide : la restauration se fait dans une installation neuve.")


def _restore_postgres(url: str, dump: Path) -> None:
    dsn, env = _libpq(url)
    result = subprocess.run(  # noqa: S603 - fixed tool, arguments from the settings
        [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
         f"--dbname={dsn}", str(dump)],
        env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"pg_restore a échoué : {result.stderr.strip()[-800:]}")


def _restore_sqlite(url: str, copy: Path) -> None:
    target_path = _sqlite_path(url)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(copy)
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _iter_blob_files(src: Path, manifest: dict[str, Any]) -> Iterator[tuple[uuid.UUID, Path]]:
    store = LocalBlobStore(src / BLOB_DIR)
    for name in manifest["blobs"]:
        blob_id = uuid.UUID(hex=name)
        yield blob_id, store.path_for(blob_id)


def restore(settings: Settings, src: Path) -> RestoreReport:
    """Restore the backup folder ``src`` into the settings' (empty) database and (empty) blob store."""
    started = time.monotonic()
    src = Path(src)
    manifest = read_manifest(src)
    check_folder(src, manifest)
    url = settings.effective_database_url
    dialect = make_url(url).get_backend_name()
    if dialect != manifest["database"]["dialect"]:
        raise BackupError(f"La sauvegarde vient d'une base {manifest['database']['dialect']} : elle ne se restaure "
                          f"pas dans une base {dialect}.")
    engine = make_engine(url, pool=False)
    try:
        _check_empty_targets(settings, engine)
        db_copy = src / manifest["database"]["file"]
        if dialect == "postgresql":
            _restore_postgres(url, db_copy)
        else:
            engine.dispose()
            _restore_sqlite(url, db_copy)
        store = LocalBlobStore(settings.blob_dir)
        for blob_id, path in _iter_blob_files(src, manifest):
            store.write(blob_id, path.read_bytes())
        checkpoints = settings.effective_audit_checkpoint_dir
        checkpoints.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in manifest["audit_checkpoints"]:
            plain = _plain_name(name, "le registre")
            shutil.copy2(src / CHECKPOINT_DIR / plain, checkpoints / plain)
        with engine.connect() as conn:
            counts = row_counts(conn)
            blob_rows = _blob_rows(conn)
    finally:
        engine.dispose()
    expected: dict[str, int] = manifest["tables"]
    if counts != expected:
        differing = sorted(name for name in set(counts) | set(expected) if counts.get(name) != expected.get(name))
        raise BackupError(f"La base restaurée ne correspond pas au manifeste (tables {', '.join(differing[:5])}).")
    for blob_id, digest in blob_rows:
        if manifest["blobs"].get(blob_id.hex) != digest or sha256_file(store.path_for(blob_id)) != digest:
            raise BackupError(f"Le document {blob_id} restauré ne correspond pas au manifeste.")
    return RestoreReport(len(counts), sum(counts.values()), len(blob_rows), time.monotonic() - started)


def manifest_summary(manifest: dict[str, Any]) -> tuple[int, int, int]:
    """(tables, rows, blobs) of a manifest."""
    tables: dict[str, int] = manifest["tables"]
    return len(tables), sum(tables.values()), len(manifest["blobs"])
