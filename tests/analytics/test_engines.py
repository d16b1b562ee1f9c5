"""Engine configuration."""

from __future__ import annotations

import pytest

from maillage.analytics import engines
from maillage.exceptions import ValidationFailed


class TestEngineConfig:
    def test_an_unknown_engine_is_refused_in_french(self):
        with pytest.raises(ValidationFailed, match="Moteur inconnu"):
            engines.EngineConfig(name="oracle")

    def test_the_settings_choose_the_engine(self, monkeypatch):
        from maillage.config import get_settings

        monkeypatch.setenv("MAILLAGE_ANALYTICS_ENGINE", "spark")
        monkeypatch.setenv("MAILLAGE_SPARK_MASTER", "spark://127.0.0.1:7077")
        get_settings.cache_clear()
        try:
            config = engines.config_from_settings()
        finally:
            get_settings.cache_clear()
        assert (config.name, config.spark_master) == ("spark", "spark://127.0.0.1:7077")


class TestRegisterTables:
    def test_exposes_every_warehouse_table_to_duckdb(self, warehouse):
        tables = engines.register_tables(engines.connect(engines.EngineConfig()), warehouse)
        assert set(tables) == set(warehouse.table_names())
        assert int(tables["ER_PRS_F"].count().execute()) == 60_000
