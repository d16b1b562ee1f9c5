"""A tampered backup's manifest cannot make the restore read or write outside the backup's folder (the checksums
prove nothing against whoever rewrote the manifest): every name it gives must be one plain file name."""

from __future__ import annotations

from pathlib import Path

import pytest

from maillage.operations import backup


@pytest.mark.parametrize("name", ["../keys/ACTIVE", "../../etc/passwd", "/etc/passwd", "sub/dir", ".hidden", "",
                                  "..", "a\\..\\b", None, 3])
def test_a_name_outside_the_folder_is_refused(name: object) -> None:
    with pytest.raises(backup.BackupError, match="hors du dossier"):
        backup._plain_name(name, "le registre")


@pytest.mark.parametrize("name", ["checkpoints-2026-12-07.jsonl", "database.dump", "database.sqlite3"])
def test_a_plain_name_is_kept(name: str) -> None:
    assert backup._plain_name(name, "le registre") == name


def test_the_folder_check_refuses_a_manifest_naming_a_key_file(tmp_path: Path) -> None:
    (tmp_path / "database.dump").write_bytes(b"x")
    manifest = {"database": {"file": "database.dump", "sha256": backup.sha256_file(tmp_path / "database.dump")},
                "blobs": {}, "audit_checkpoints": {"../keys/ACTIVE": "0" * 64}}
    with pytest.raises(backup.BackupError, match="hors du dossier"):
        backup.check_folder(tmp_path, manifest)
    manifest["database"]["file"] = "/etc/passwd"
    with pytest.raises(backup.BackupError, match="hors du dossier"):
        backup.check_folder(tmp_path, manifest)
