"""``maillage keys export`` / ``import``: every key outside the database, in one passphrase-protected file.

A backup never holds a key (:mod:`maillage.operations.backup`); without the keys a restored database is unreadable
(sealed columns, documents) and its audit chain unverifiable. The export gathers the vault's key-encryption keys,
the audit keys and the analytics pseudonym key, from their files or from their environment variables, into a JSON
document encrypted with AES-256-GCM under a key derived from the passphrase by scrypt (RFC 7914; n=2^17, r=8,
p=1: 128 MiB and about a second per attempt). The file's header (format, KDF parameters, salt) is the GCM
associated data: changing any of it makes the file unreadable rather than weaker. Import writes the keys as files
(0600 in 0700 folders) where the settings expect them and refuses to replace a different existing key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from maillage.config import Settings
from maillage.exceptions import MaillageError

FORMAT = "maillage-keys/1"
PASSPHRASE_VARIABLE = "MAILLAGE_KEYS_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
MIN_PASSPHRASE_CHARS = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
SALT_BYTES, NONCE_BYTES = 16, 12
VAULT, AUDIT, PSEUDONYM = "vault", "audit", "pseudonym"


class KeyFileError(MaillageError):
    """A key file that cannot be written, read or imported."""


@dataclass(frozen=True)
class ImportReport:
    written: list[str]
    unchanged: list[str]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"Fichier de clés illisible : {what} n'est pas du base64.") from None


def _pseudonym_file(settings: Settings) -> Path:
    return settings.pseudonym_key_file or settings.key_dir / "analytics-pseudonym.keys"


def _dir_files(folder: Path) -> dict[str, str]:
    """The regular files of a key folder and of its ``retired/`` sub-folder, by relative name (base64)."""
    files: dict[str, str] = {}
    if not folder.is_dir():
        return files
    for path in sorted([*folder.iterdir(), *((folder / "retired").iterdir() if (folder / "retired").is_dir()
                                               else [])]):
        if path.is_file() and not path.name.startswith("."):
            files[str(path.relative_to(folder))] = _b64(path.read_bytes())
    return files


def collect(settings: Settings) -> dict[str, Any]:
    """Every key the settings point at: environment values as given, otherwise the files of the key folders."""
    vault_env = settings.vault_keys.get_secret_value().strip()
    audit_env = settings.audit_keys.get_secret_value().strip()
    bundle: dict[str, Any] = {
        VAULT: {"env": vault_env} if vault_env else {"files": _dir_files(settings.key_dir)},
        AUDIT: {"env": audit_env} if audit_env else {"files": _dir_files(settings.effective_audit_key_dir)},
    }
    pseudonym = _pseudonym_file(settings)
    if pseudonym.is_file() and pseudonym.parent != settings.key_dir:
        bundle[PSEUDONYM] = {"file": _b64(pseudonym.read_bytes())}
    if not vault_env and not bundle[VAULT]["files"]:
        raise KeyFileError(f"Aucune clé de chiffrement à exporter : ni MAILLAGE_VAULT_KEYS ni fichier dans "
                           f"{settings.key_dir}.")
    return bundle


def check_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise KeyFileError(f"Phrase de passe trop courte : {MIN_PASSPHRASE_CHARS} caractères au moins.")
    return passphrase


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _header_aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encrypt(bundle: dict[str, Any], passphrase: str, *, n: int = SCRYPT_N) -> bytes:
    check_passphrase(passphrase)
    salt, nonce = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(NONCE_BYTES)
    header = {"format": FORMAT, "kdf": "scrypt", "n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt),
              "aead": "AES-256-GCM"}
    key = _derive(passphrase, salt, n, SCRYPT_R, SCRYPT_P)
    ciphertext = AESGCM(key).encrypt(nonce, json.dumps(bundle).encode("utf-8"), _header_aad(header))
    document = {"header": header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}
    return (json.dumps(document, indent=1) + "\n").encode("ascii")


def decrypt(content: bytes, passphrase: str) -> dict[str, Any]:
    try:
        document = json.loads(content)
        header = document["header"]
        if header["format"] != FORMAT or header["kdf"] != "scrypt" or header["aead"] != "AES-256-GCM":
            raise KeyFileError(f"Ce fichier n'est pas un export de clés au format {FORMAT}.")
        n, r, p = int(header["n"]), int(header["r"]), int(header["p"])
        # scrypt takes 128 × n × r bytes: a crafted header asking for gigabytes is refused before any derivation.
        if not (2**14 <= n <= 2**22 and 1 <= r <= 32 and 1 <= p <= 16 and n * r <= 2**21):
            raise KeyFileError("Paramètres de dérivation hors des bornes admises : fichier refusé.")
        salt, nonce = _unb64(header["salt"], "le sel"), _unb64(document["nonce"], "le nonce")
        ciphertext = _unb64(document["ciphertext"], "le contenu chiffré")
    except (ValueError, KeyError, TypeError):
        raise KeyFileError("Ce fichier n'est pas un export de clés Maillage lisible.") from None
    key = _derive(passphrase, salt, n, r, p)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, _header_aad(header))
    except InvalidTag:
        raise KeyFileError("Phrase de passe incorrecte, ou fichier de clés altéré : rien n'a été importé.") from None
    bundle: dict[str, Any] = json.loads(plaintext)
    return bundle


def write_export(path: Path, content: bytes) -> None:
    path = Path(path)
    if path.exists():
        raise KeyFileError(f"Le fichier {path} existe déjà : choisissez un autre nom (un export n'en écrase "
                           "jamais un autre).")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _env_to_files(value: str, prefix: str, *, active_file: bool) -> dict[str, str]:
    files: dict[str, str] = {}
    first: str | None = None
    for item in value.split(","):
        key_id, sep, encoded = item.strip().partition(":")
        if not sep:
            continue
        files[f"{prefix}{key_id.strip()}.key"] = _b64(encoded.strip().encode("ascii") + b"\n")
        first = first or key_id.strip()
    if active_file and first:
        files["ACTIVE"] = _b64(first.encode("ascii") + b"\n")
    return files


def _safe_name(name: str) -> str:
    parts = Path(name).parts
    if not parts or len(parts) > 2 or any(part in ("", ".", "..") for part in parts) or Path(name).is_absolute():
        raise KeyFileError(f"Nom de fichier refusé dans l'export de clés : « {name[:80]} ».")
    return name


def _place(folder: Path, files: dict[str, str], report: ImportReport) -> None:
    planned: list[tuple[Path, bytes]] = []
    for name, encoded in files.items():
        target = folder / _safe_name(name)
        data = _unb64(encoded, name)
        if target.exists():
            if target.read_bytes() != data:
                raise KeyFileError(f"{target} existe déjà avec une autre clé : rien n'a été importé. Importez dans "
                                   "un dossier de clés neuf.")
            report.unchanged.append(str(target))
            continue
        planned.append((target, data))
    for target, data in planned:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(target.parent, 0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        report.written.append(str(target))


def install(settings: Settings, bundle: dict[str, Any]) -> ImportReport:
    """Write the bundle's keys as files where ``settings`` looks for them; refuse to replace a different key."""
    report = ImportReport([], [])
    try:
        vault, audit = bundle[VAULT], bundle[AUDIT]
        vault_files = (_env_to_files(vault["env"], "kek-", active_file=True) if "env" in vault else vault["files"])
        audit_files = (_env_to_files(audit["env"], "audit-", active_file=False) if "env" in audit
                       else audit["files"])
    except (KeyError, TypeError):
        raise KeyFileError("L'export de clés est incomplet : rien n'a été importé.") from None
    # Check every target before writing any: an import either places all keys or none.
    targets = [(settings.key_dir, vault_files), (settings.effective_audit_key_dir, audit_files)]
    if PSEUDONYM in bundle:
        pseudonym_file = _pseudonym_file(settings)
        targets.append((pseudonym_file.parent, {pseudonym_file.name: bundle[PSEUDONYM]["file"]}))
    for folder, files in targets:
        for name, encoded in files.items():
            target = folder / _safe_name(name)
            if target.exists() and target.read_bytes() != _unb64(encoded, name):
                raise KeyFileError(f"{target} existe déjà avec une autre clé : rien n'a été importé. Importez dans "
                                   "un dossier de clés neuf.")
    _place(settings.key_dir, vault_files, report)
    _place(settings.effective_audit_key_dir, audit_files, report)
    if PSEUDONYM in bundle:
        pseudonym = _pseudonym_file(settings)
        _place(pseudonym.parent, {pseudonym.name: bundle[PSEUDONYM]["file"]}, report)
    return report
