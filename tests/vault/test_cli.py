"""``maillage keys``: status, rotate, retire, generate, on a SQLite file database under tmp_path."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from maillage import config
from maillage.cli import app
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.vault import service
from maillage.vault.keys import DirectoryKeyRing


@pytest.fixture
def env(tmp_path, monkeypatch) -> Iterator[config.Settings]:
    monkeypatch.setenv("MAILLAGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MAILLAGE_ENVIRONMENT", "test")
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MAILLAGE_VAULT_KEYS", raising=False)
    config.get_settings.cache_clear()
    settings = config.get_settings()
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    yield settings
    config.get_settings.cache_clear()


def invoke(*args: str):
    return CliRunner().invoke(app, ["keys", *args], terminal_width=200)


def seal_two(settings: config.Settings) -> None:
    engine = make_engine(settings.effective_database_url)
    ring = DirectoryKeyRing(settings.key_dir)
    with make_sessionmaker(engine)() as s:
        service.seal(s, object_type="message", object_id="m1", plaintext=b"a", keyring=ring)
        service.seal(s, object_type="message", object_id="m2", plaintext=b"b", keyring=ring)
        s.commit()
    engine.dispose()


def unseal(settings: config.Settings, object_id: str) -> bytes:
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as s:
            return service.unseal(
                s, object_type="message", object_id=object_id, keyring=DirectoryKeyRing(settings.key_dir)
            )
    finally:
        engine.dispose()


class TestStatus:
    def test_without_any_key_outside_development_it_fails_in_french(self, env):
        result = invoke("status")
        assert result.exit_code == 1
        assert "Aucune clé de chiffrement" in result.stderr

    def test_it_shows_the_active_key_and_the_data_keys_per_key(self, env):
        invoke("rotate")
        seal_two(env)
        active = DirectoryKeyRing(env.key_dir).active().id
        result = invoke("status")
        assert result.exit_code == 0, result.output
        assert f"Clé active : {active}" in result.stdout
        assert f"{active} : 2 clés de données (active)" in result.stdout


class TestRotate:
    def test_the_first_rotation_creates_the_first_key(self, env):
        result = invoke("rotate")
        assert result.exit_code == 0, result.output
        ring = DirectoryKeyRing(env.key_dir)
        assert f"Nouvelle clé active : {ring.active().id}" in result.stdout
        assert "0 clé de données ré-emballée." in result.stdout

    def test_a_rotation_rewraps_everything_and_commits(self, env):
        invoke("rotate")
        old = DirectoryKeyRing(env.key_dir).active().id
        seal_two(env)
        result = invoke("rotate", "--batch-size", "1")
        assert result.exit_code == 0, result.output
        new = DirectoryKeyRing(env.key_dir).active().id
        assert new != old
        assert f"Nouvelle clé active : {new}" in result.stdout
        assert "2 clés de données ré-emballées." in result.stdout
        assert f"depuis {old} : 2" in result.stdout
        assert "0 clé de données" in invoke("rotate", "--rewrap-only").stdout  # committed: nothing left to do
        assert unseal(env, "m1") == b"a"

    def test_with_keys_from_the_environment_a_new_key_cannot_be_created(self, env, monkeypatch):
        key = base64.b64encode(b"k" * 32).decode()
        monkeypatch.setenv("MAILLAGE_VAULT_KEYS", f"env1:{key}")
        config.get_settings.cache_clear()
        result = invoke("rotate")
        assert result.exit_code == 1
        assert "maillage keys generate" in result.stderr
        result = invoke("rotate", "--rewrap-only")
        assert result.exit_code == 0, result.output
        assert "Clé active : env1" in result.stdout


class TestRetire:
    def test_a_key_still_in_use_is_refused_then_retired_after_rotation(self, env):
        invoke("rotate")
        old = DirectoryKeyRing(env.key_dir).active().id
        seal_two(env)
        DirectoryKeyRing(env.key_dir).add_active()  # a new key, data keys not yet re-wrapped
        refused = invoke("retire", old)
        assert refused.exit_code == 1
        assert "protège encore 2 clés de données" in refused.stderr
        assert "Aucune clé à retirer" in invoke("retire").stdout
        invoke("rotate", "--rewrap-only")
        result = invoke("retire")
        assert result.exit_code == 0, result.output
        assert f"1 clé retirée : {old}" in result.stdout
        assert (env.key_dir / "retired" / f"kek-{old}.key").exists()
        assert unseal(env, "m2") == b"b"

    def test_the_active_key_is_refused(self, env):
        invoke("rotate")
        active = DirectoryKeyRing(env.key_dir).active().id
        result = invoke("retire", active)
        assert result.exit_code == 1
        assert "clé active" in result.stderr


class TestGenerate:
    def test_it_prints_a_new_key_for_the_environment_variable(self, env):
        result = invoke("generate")
        assert result.exit_code == 0
        kek_id, _, encoded = result.stdout.strip().partition(":")
        assert kek_id and len(base64.b64decode(encoded)) == 32
        assert "MAILLAGE_VAULT_KEYS" in result.stderr
