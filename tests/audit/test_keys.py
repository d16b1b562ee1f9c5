"""The audit key: from the environment or a private directory, created in development only, never printed."""

from __future__ import annotations

import base64
import os

import pytest

from maillage.audit import keys
from maillage.audit.keys import AuditKeyError
from maillage.config import Settings


def settings(tmp_path, environment="production", **kw):
    return Settings(environment=environment, var_dir=tmp_path, secret_key="s" * 40, database_url="sqlite://",
                    password_hash_profile="rfc9106_low_memory", **kw)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class TestFromTheEnvironment:
    def test_the_first_key_seals_and_every_key_verifies(self, tmp_path):
        loaded = keys.load_audit_keys(settings(tmp_path, audit_keys=f"new:{b64(b'n' * 32)}, old:{b64(b'o' * 32)}"))
        assert loaded.active.id == "new" and set(loaded.chain_keys) == {"new", "old"}
        assert loaded.chain_keys["new"] != loaded.checkpoint_keys["new"], "one key per use, derived"
        assert "n" * 8 not in repr(loaded.active)

    @pytest.mark.parametrize("value, message", [
        ("nokey", "identifiant:clé_en_base64"),
        ("k:not-base64!", "base64"),
        (f"k:{b64(b'short')}", "32 octets"),
        (f"k:{b64(b'a' * 32)},k:{b64(b'b' * 32)}", "deux fois"),
        (f"bad id:{b64(b'a' * 32)}", "Identifiant"),
    ])
    def test_a_malformed_value_is_refused_with_a_french_message(self, tmp_path, value, message):
        with pytest.raises(AuditKeyError, match=message):
            keys.load_audit_keys(settings(tmp_path, audit_keys=value))


class TestFromTheDirectory:
    def test_development_creates_a_private_key_on_first_use_and_reads_it_back(self, tmp_path):
        first = keys.load_audit_keys(settings(tmp_path, environment="development"))
        key_dir = tmp_path / "audit-keys"
        files = list(key_dir.iterdir())
        assert len(files) == 1 and files[0].name == f"audit-{first.active.id}.key"
        assert oct(key_dir.stat().st_mode & 0o777) == "0o700" and oct(files[0].stat().st_mode & 0o777) == "0o600"
        again = keys.load_audit_keys(settings(tmp_path, environment="development"))
        assert again.active.id == first.active.id and again.chain_keys == first.chain_keys

    @pytest.mark.parametrize("environment", ["test", "production"])
    def test_outside_development_a_missing_key_stops_the_process(self, tmp_path, environment):
        with pytest.raises(AuditKeyError, match="maillage audit keygen"):
            keys.check_audit_keys_ready(settings(tmp_path, environment=environment))
        assert not (tmp_path / "audit-keys").exists()

    def test_the_newest_key_seals_after_keygen_and_the_old_one_still_verifies(self, tmp_path):
        key_dir = tmp_path / "audit-keys"
        old = keys.create_key_file(key_dir)
        new = keys.create_key_file(key_dir)
        loaded = keys.load_audit_keys(settings(tmp_path))
        assert max(old, new) == loaded.active.id and set(loaded.ids()) == {old, new}

    def test_a_key_readable_by_others_is_refused(self, tmp_path):
        key_dir = tmp_path / "audit-keys"
        key_id = keys.create_key_file(key_dir)
        os.chmod(key_dir / f"audit-{key_id}.key", 0o644)
        with pytest.raises(AuditKeyError, match="chmod 600"):
            keys.load_audit_keys(settings(tmp_path))

    def test_a_directory_open_to_others_is_refused(self, tmp_path):
        key_dir = tmp_path / "audit-keys"
        keys.create_key_file(key_dir)
        os.chmod(key_dir, 0o755)
        with pytest.raises(AuditKeyError, match="chmod 700"):
            keys.load_audit_keys(settings(tmp_path))

    def test_the_directory_is_configurable(self, tmp_path):
        elsewhere = tmp_path / "secrets" / "audit"
        keys.create_key_file(elsewhere)
        assert keys.load_audit_keys(settings(tmp_path, audit_key_dir=elsewhere)).active.id
