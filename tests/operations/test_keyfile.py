"""``maillage keys export`` / ``import``: the passphrase-protected key file (scrypt, RFC 7914; AES-256-GCM)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from maillage.audit.keys import create_key_file, keys_from_dir
from maillage.config import Settings
from maillage.kit import crypto
from maillage.operations import keyfile
from maillage.vault.keys import DirectoryKeyRing

PASSPHRASE = "une phrase de passe assez longue"
FAST = 2**14  # the smallest cost the reader accepts: keeps the tests quick; exports use 2**17


def settings_for(var: Path, **extra: str) -> Settings:
    return Settings(var_dir=var, **extra)  # type: ignore[arg-type]


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    settings = settings_for(tmp_path / "source")
    DirectoryKeyRing.create(settings.key_dir)
    create_key_file(settings.effective_audit_key_dir)
    return settings


def test_round_trip_places_every_key_where_the_target_reads_it(source: Settings, tmp_path: Path) -> None:
    content = keyfile.encrypt(keyfile.collect(source), PASSPHRASE, n=FAST)
    target = settings_for(tmp_path / "target")
    report = keyfile.install(target, keyfile.decrypt(content, PASSPHRASE))
    assert len(report.written) == 3  # the KEK, ACTIVE, the audit key
    ring, original = DirectoryKeyRing(target.key_dir), DirectoryKeyRing(source.key_dir)
    assert ring.active() == original.active()
    assert dict(keys_from_dir(target.effective_audit_key_dir).chain_keys) == dict(
        keys_from_dir(source.effective_audit_key_dir).chain_keys)
    for path in [*target.key_dir.iterdir(), *target.effective_audit_key_dir.iterdir()]:
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(target.key_dir).st_mode & 0o777 == 0o700
    # Importing again changes nothing.
    again = keyfile.install(target, keyfile.decrypt(content, PASSPHRASE))
    assert again.written == [] and len(again.unchanged) == 3


def test_the_file_holds_no_key_in_clear(source: Settings) -> None:
    content = keyfile.encrypt(keyfile.collect(source), PASSPHRASE, n=FAST)
    kek = DirectoryKeyRing(source.key_dir).active().key
    assert kek not in content and base64.b64encode(kek) not in content


def test_a_wrong_passphrase_or_an_altered_header_is_refused(source: Settings, tmp_path: Path) -> None:
    content = keyfile.encrypt(keyfile.collect(source), PASSPHRASE, n=FAST)
    with pytest.raises(keyfile.KeyFileError, match="Phrase de passe incorrecte"):
        keyfile.decrypt(content, PASSPHRASE + "!")
    document = json.loads(content)
    document["header"]["n"] = 2**15  # a weaker-looking header is not a way in: it is authenticated data
    with pytest.raises(keyfile.KeyFileError, match="Phrase de passe incorrecte"):
        keyfile.decrypt(json.dumps(document).encode(), PASSPHRASE)
    document["header"]["n"] = 2**10
    with pytest.raises(keyfile.KeyFileError, match="hors des bornes"):
        keyfile.decrypt(json.dumps(document).encode(), PASSPHRASE)
    with pytest.raises(keyfile.KeyFileError, match="pas un export"):
        keyfile.decrypt(b"not json", PASSPHRASE)


def test_a_short_passphrase_is_refused(source: Settings) -> None:
    with pytest.raises(keyfile.KeyFileError, match="trop courte"):
        keyfile.encrypt(keyfile.collect(source), "court")


def test_keys_from_the_environment_are_exported_and_imported_as_files(tmp_path: Path) -> None:
    vault_key = base64.b64encode(crypto.generate_key()).decode()
    audit_key = base64.b64encode(os.urandom(32)).decode()
    source = settings_for(tmp_path / "env", vault_keys=f"k2:{vault_key},k1:{vault_key}",
                          audit_keys=f"a1:{audit_key}")
    bundle = keyfile.decrypt(keyfile.encrypt(keyfile.collect(source), PASSPHRASE, n=FAST), PASSPHRASE)
    target = settings_for(tmp_path / "target")
    keyfile.install(target, bundle)
    ring = DirectoryKeyRing(target.key_dir)
    assert ring.active().id == "k2" and sorted(ring.ids()) == ["k1", "k2"]
    assert list(keys_from_dir(target.effective_audit_key_dir).ids()) == ["a1"]


def test_import_never_replaces_a_different_key_and_writes_nothing(source: Settings, tmp_path: Path) -> None:
    bundle = keyfile.decrypt(keyfile.encrypt(keyfile.collect(source), PASSPHRASE, n=FAST), PASSPHRASE)
    target = settings_for(tmp_path / "target")
    create_key_file(target.effective_audit_key_dir)
    audit_name = next(name for name in bundle["audit"]["files"])
    (target.effective_audit_key_dir / audit_name).write_text("autre\n")
    with pytest.raises(keyfile.KeyFileError, match="existe déjà avec une autre clé"):
        keyfile.install(target, bundle)
    assert not target.key_dir.exists()


def test_export_refuses_to_overwrite_a_file(tmp_path: Path) -> None:
    (tmp_path / "keys.maillage").write_text("précédent")
    with pytest.raises(keyfile.KeyFileError, match="existe déjà"):
        keyfile.write_export(tmp_path / "keys.maillage", b"{}")
    assert (tmp_path / "keys.maillage").read_text() == "précédent"


@pytest.mark.parametrize(("n", "r"), [(2**22, 32), (2**21, 8), (2**20, 4)])
def test_a_header_asking_scrypt_for_too_much_memory_is_refused_before_deriving(source: Settings, n: int,
                                                                               r: int) -> None:
    document = json.loads(keyfile.encrypt(keyfile.collect(source), PASSPHRASE, n=FAST))
    document["header"].update(n=n, r=r)
    with pytest.raises(keyfile.KeyFileError, match="bornes"):
        keyfile.decrypt(json.dumps(document).encode(), PASSPHRASE)
