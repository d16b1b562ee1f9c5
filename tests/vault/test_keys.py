"""The key ring: key files with strict permissions, the environment variable, the cached accessor."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from maillage.config import Settings
from maillage.kit import crypto
from maillage.vault import keys
from maillage.vault.errors import KeyConfigurationError, KeyUnavailable
from maillage.vault.keys import DirectoryKeyRing, Kek, StaticKeyRing


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def production(tmp_path, **kw) -> Settings:
    return Settings(
        environment="production", secret_key="k" * 40, database_url="postgresql://x/y", var_dir=tmp_path / "var",
        password_hash_profile="rfc9106_low_memory", **kw
    )


class TestDirectoryKeyRingCreate:
    def test_the_first_key_is_written_owner_only_and_made_active(self, key_dir):
        ring = DirectoryKeyRing.create(key_dir)
        kek = ring.active()
        path = key_dir / f"kek-{kek.id}.key"
        assert mode(key_dir) == 0o700
        assert mode(path) == 0o600
        assert (key_dir / "ACTIVE").read_text().strip() == kek.id
        assert base64.b64decode(path.read_text()) == kek.key and len(kek.key) == 32

    def test_another_process_loads_the_same_active_key(self, key_dir):
        kek = DirectoryKeyRing.create(key_dir).active()
        again = DirectoryKeyRing(key_dir)
        assert again.active().id == kek.id and again.get(kek.id) == kek.key


class TestDirectoryKeyRingPermissions:
    @pytest.mark.parametrize("loose", [0o640, 0o604, 0o644, 0o660])
    def test_a_key_file_readable_by_group_or_others_is_refused(self, key_dir, loose):
        kek = DirectoryKeyRing.create(key_dir).active()
        path = key_dir / f"kek-{kek.id}.key"
        os.chmod(path, loose)
        with pytest.raises(KeyConfigurationError, match="lisible par le groupe ou par d'autres") as caught:
            DirectoryKeyRing(key_dir)
        assert "chmod 600" in caught.value.message
        assert b64(kek.key) not in caught.value.message

    def test_a_key_directory_open_to_group_or_others_is_refused(self, key_dir):
        DirectoryKeyRing.create(key_dir)
        os.chmod(key_dir, 0o750)
        with pytest.raises(KeyConfigurationError, match="chmod 700"):
            DirectoryKeyRing(key_dir)

    def test_a_key_file_that_is_not_a_256_bit_base64_key_is_refused(self, key_dir):
        DirectoryKeyRing.create(key_dir)
        bad = key_dir / "kek-bad.key"
        fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b64(b"x" * 16).encode())
        os.close(fd)
        with pytest.raises(KeyConfigurationError, match="16 octets au lieu de 32"):
            DirectoryKeyRing(key_dir)
        bad.write_text("not base64 at all!")
        with pytest.raises(KeyConfigurationError, match="base64"):
            DirectoryKeyRing(key_dir)


class TestDirectoryKeyRingLoad:
    def test_a_missing_key_directory_is_refused_outside_development(self, key_dir):
        with pytest.raises(KeyConfigurationError, match="Aucune clé de chiffrement"):
            DirectoryKeyRing(key_dir)
        assert not key_dir.exists()

    def test_an_empty_key_directory_is_refused_outside_development(self, key_dir):
        key_dir.mkdir(parents=True, mode=0o700)
        with pytest.raises(KeyConfigurationError, match="Aucune clé de chiffrement"):
            DirectoryKeyRing(key_dir)

    def test_several_keys_without_an_active_pointer_are_refused(self, key_dir):
        ring = DirectoryKeyRing.create(key_dir)
        ring.add_active()
        (key_dir / "ACTIVE").unlink()
        with pytest.raises(KeyConfigurationError, match="ACTIVE"):
            DirectoryKeyRing(key_dir)

    def test_an_active_pointer_to_a_missing_key_is_refused(self, key_dir):
        DirectoryKeyRing.create(key_dir)
        (key_dir / "ACTIVE").write_text("nope\n")
        with pytest.raises(KeyConfigurationError, match="« nope », absente"):
            DirectoryKeyRing(key_dir)

    def test_a_rotation_by_another_process_is_noticed(self, key_dir):
        server = DirectoryKeyRing.create(key_dir)
        old = server.active()
        new = DirectoryKeyRing(key_dir).add_active()  # e.g. `maillage keys rotate`
        assert server.active().id == new.id != old.id
        assert server.get(new.id) == new.key
        assert server.get(old.id) == old.key

    def test_an_unknown_key_id_is_unavailable(self, key_dir):
        ring = DirectoryKeyRing.create(key_dir)
        with pytest.raises(KeyUnavailable, match="« ghost »"):
            ring.get("ghost")


class TestDirectoryKeyRingRetire:
    def test_a_retired_key_file_is_moved_away_and_no_longer_loaded(self, key_dir):
        ring = DirectoryKeyRing.create(key_dir)
        old = ring.active()
        ring.add_active()
        ring.retire(old.id)
        assert not (key_dir / f"kek-{old.id}.key").exists()
        assert (key_dir / "retired" / f"kek-{old.id}.key").exists()
        assert mode(key_dir / "retired") == 0o700
        assert not ring.has(old.id)
        assert old.id not in DirectoryKeyRing(key_dir).ids()

    def test_the_active_key_cannot_be_retired(self, key_dir):
        ring = DirectoryKeyRing.create(key_dir)
        with pytest.raises(KeyConfigurationError, match="clé active"):
            ring.retire(ring.active().id)


class TestStaticKeyRing:
    def test_the_first_key_of_the_variable_is_active_and_the_others_unwrap(self):
        k1, k2 = crypto.generate_key(), crypto.generate_key()
        ring = StaticKeyRing.from_env_value(f" new:{b64(k1)} , old:{b64(k2)} ")
        assert ring.active() == Kek("new", k1)
        assert ring.get("old") == k2
        assert ring.ids() == ["new", "old"]

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("nocolon", "identifiant:clé_en_base64"),
            ("a:!!!", "base64"),
            (f"a:{b64(b'k' * 16)}", "16 octets"),
            (f"a:{b64(b'k' * 32)},a:{b64(b'j' * 32)}", "deux fois"),
            (f"bad id:{b64(b'k' * 32)}", "Identifiant de clé invalide"),
            ("", "Aucune clé"),
        ],
    )
    def test_a_malformed_variable_is_refused_without_echoing_keys(self, value, message):
        with pytest.raises(KeyConfigurationError, match=message) as caught:
            StaticKeyRing.from_env_value(value)
        assert b64(b"k" * 32) not in caught.value.message

    def test_a_new_key_cannot_be_created_in_an_environment_variable(self):
        ring = StaticKeyRing([Kek("a", crypto.generate_key())])
        with pytest.raises(KeyConfigurationError, match="maillage keys generate"):
            ring.add_active()

    def test_retiring_takes_the_key_out_of_the_ring_but_never_the_active_one(self):
        ring = StaticKeyRing([Kek("a", crypto.generate_key()), Kek("b", crypto.generate_key())])
        ring.retire("b")
        assert ring.ids() == ["a"]
        with pytest.raises(KeyConfigurationError):
            ring.retire("a")


class TestKek:
    def test_the_representation_never_shows_the_key(self):
        key = crypto.generate_key()
        assert repr(Kek("a", key)) == "Kek(id='a')"
        assert str(key) not in repr(Kek("a", key))


class TestLoadKeyring:
    def test_development_creates_the_first_key_on_first_use(self, tmp_path):
        settings = Settings(environment="development", var_dir=tmp_path / "var")
        ring = keys.load_keyring(settings)
        assert isinstance(ring, DirectoryKeyRing)
        assert (settings.key_dir / f"kek-{ring.active().id}.key").exists()
        assert mode(settings.key_dir) == 0o700

    def test_outside_development_no_key_means_no_start(self, tmp_path):
        with pytest.raises(KeyConfigurationError, match="Aucune clé de chiffrement"):
            keys.check_keys_ready(production(tmp_path))
        with pytest.raises(KeyConfigurationError):
            keys.load_keyring(Settings(environment="test", var_dir=tmp_path / "var"))
        assert not (tmp_path / "var" / "keys").exists()

    def test_the_environment_variable_wins_over_the_key_directory(self, tmp_path):
        key = crypto.generate_key()
        ring = keys.check_keys_ready(production(tmp_path, vault_keys=f"env1:{b64(key)}"))
        assert isinstance(ring, StaticKeyRing) and ring.active() == Kek("env1", key)

    def test_the_variable_is_read_from_maillage_vault_keys_and_kept_secret(self, tmp_path, monkeypatch):
        key = crypto.generate_key()
        monkeypatch.setenv("MAILLAGE_VAULT_KEYS", f"env1:{b64(key)}")
        settings = Settings(var_dir=tmp_path)
        assert b64(key) not in repr(settings)
        assert keys.load_keyring(settings).active().id == "env1"


class TestGetKeyring:
    def test_the_ring_is_loaded_once_from_the_settings(self, tmp_path, monkeypatch):
        settings = Settings(environment="development", var_dir=tmp_path / "var")
        monkeypatch.setattr(keys, "get_settings", lambda: settings)
        keys.reset_keyring()
        try:
            first = keys.get_keyring()
            assert keys.get_keyring() is first
            assert first.active().id in DirectoryKeyRing(settings.key_dir).ids()
        finally:
            keys.reset_keyring()

    def test_use_keyring_puts_a_ring_in_place_then_restores_the_previous_one(self):
        outer = StaticKeyRing([Kek("outer", crypto.generate_key())])
        inner = StaticKeyRing([Kek("inner", crypto.generate_key())])
        with keys.use_keyring(outer):
            with keys.use_keyring(inner):
                assert keys.get_keyring() is inner
            assert keys.get_keyring() is outer
