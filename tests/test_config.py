"""Settings: embedded defaults, environment prefix, refusal of placeholder secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from maillage.config import PLACEHOLDER_SECRET, Settings


class TestSettings:
    def test_development_defaults_to_sqlite_in_var(self, tmp_path):
        s = Settings(var_dir=tmp_path)
        assert s.effective_database_url == f"sqlite:///{tmp_path.resolve()}/maillage.sqlite3"
        assert s.blob_dir == tmp_path / "blobs"

    def test_values_come_from_the_maillage_prefix(self, monkeypatch):
        monkeypatch.setenv("MAILLAGE_DATABASE_URL", "postgresql://u@h/db")
        monkeypatch.setenv("MAILLAGE_PORT", "9000")
        s = Settings()
        assert s.effective_database_url == "postgresql://u@h/db" and s.port == 9000

    def test_production_refuses_the_placeholder_secret(self):
        with pytest.raises(ValidationError, match="MAILLAGE_SECRET_KEY"):
            Settings(environment="production", secret_key=PLACEHOLDER_SECRET, database_url="postgresql://x/y")

    def test_production_refuses_a_short_secret(self):
        with pytest.raises(ValidationError, match="32"):
            Settings(environment="production", secret_key="short", database_url="postgresql://x/y")

    def test_production_requires_a_database_url(self):
        with pytest.raises(ValidationError, match="MAILLAGE_DATABASE_URL"):
            Settings(environment="production", secret_key="k" * 40)

    def test_production_accepts_real_values(self):
        s = Settings(environment="production", secret_key="k" * 40, database_url="postgresql://x/y",
                     password_hash_profile="rfc9106_low_memory")
        assert s.environment == "production"


class TestPasswordHashProfile:
    def test_the_default_is_rfc_9106_low_memory(self, monkeypatch):
        monkeypatch.delenv("MAILLAGE_PASSWORD_HASH_PROFILE", raising=False)
        assert Settings().password_hash_profile == "rfc9106_low_memory"

    def test_production_refuses_the_cheapest_profile(self):
        with pytest.raises(ValidationError, match="cheapest"):
            Settings(environment="production", secret_key="k" * 40, database_url="postgresql://x/y",
                     password_hash_profile="cheapest")

    def test_the_default_profile_hashes_with_argon2id_64_mib_3_passes(self, monkeypatch):
        from maillage.auth.service import _Hasher
        from maillage.config import get_settings

        monkeypatch.delenv("MAILLAGE_PASSWORD_HASH_PROFILE", raising=False)
        get_settings.cache_clear()
        try:
            hashed = _Hasher().hash("Correct-Horse-Battery-9")
        finally:
            get_settings.cache_clear()
        assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
