"""Shared analytics fixtures: a small synthetic territory and warehouse, and one SparkSession per test session."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from maillage.analytics import engines, extract
from maillage.analytics.warehouse import Warehouse
from maillage.demo.claims import generate_claims
from maillage.demo.communes import synthetic_communes

YEAR = 2025


@pytest.fixture(scope="session")
def territory() -> pd.DataFrame:
    return synthetic_communes(40, seed=3, departements=2)


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory, territory: pd.DataFrame) -> Warehouse:
    """60,000 synthetic claim lines over 40 communes (read-only for the tests that share it)."""
    wh = Warehouse(tmp_path_factory.mktemp("warehouse"))
    generate_claims(wh, territory, rows=60_000, seed=11, year=YEAR, chunk_rows=20_000)
    return wh


@pytest.fixture
def fresh_warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "entrepot")


@pytest.fixture(scope="session")
def duckdb_engine() -> engines.EngineConfig:
    return engines.EngineConfig(name="duckdb")


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[engines.EngineConfig]:
    """Spark local[2] (the maillage[spark] extra, installed by `make test`); skipped only if it is absent."""
    if importlib.util.find_spec("pyspark") is None:
        if os.environ.get("CI"):
            pytest.fail("pyspark absent : `make test` installe l'extension maillage[spark]")
        pytest.skip("pyspark absent : installez l'extension maillage[spark]")
    config = engines.EngineConfig(name="spark", spark_master="local[2]", spark_driver_memory="1g")
    yield config
    engines.stop_spark()


def pytest_configure(config: pytest.Config) -> None:
    # Third-party deprecations between pinned versions (ibis 12 on duckdb 2 and pandas 3): not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore:fetch_arrow_table:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:The 'future.infer_string' option")
    config.addinivalue_line("filterwarnings", "ignore:The copy keyword is deprecated")


def fake_telemedicine_acts(territory: pd.DataFrame, n: int = 4_000, seed: int = 2) -> pa.Table:
    """What a teleconsultation capability's extractor will hand over: raw operational ids, before protection."""
    rng = np.random.default_rng(seed)
    codes = territory["code_insee"].to_numpy()
    patients = rng.integers(0, 600, n)
    return pa.table({
        "patient_id": pa.array([f"P{p:04d}" for p in patients]),
        "commune_residence": pa.array(codes[patients % codes.size]),
        "date_acte": pa.array(np.datetime64("2025-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")),
        "nature": pa.array(np.where(rng.random(n) < 0.8, "tc", "te")),
        "etablissement": pa.array(np.where(rng.random(n) < 0.5, "019000001", "029000002")),
        "specialite": pa.array(np.where(rng.random(n) < 0.5, "cardiologie", "dermatologie")),
    })


def fake_extractor(territory: pd.DataFrame, name: str = "fake-telemedecine") -> extract.Extractor:
    return extract.Extractor(
        name=name,
        table=extract.OP_TELEMEDICINE_TABLE,
        schema=extract.OP_TELEMEDICINE_SCHEMA,
        fetch=lambda context: fake_telemedicine_acts(territory),
        patient_column="patient_id",
        description="Faux extracteur de test",
    )


@pytest.fixture(scope="session")
def warehouse_with_extract(warehouse: Warehouse, territory: pd.DataFrame,
                           tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The synthetic warehouse plus an operational telemedicine table written by the extraction mechanism."""
    keyring = extract.KeyRing(tmp_path_factory.mktemp("keys") / "pseudonym.keys")
    context = extract.ExtractionContext(session=None, objections=frozenset({"P0001"}), communes=territory)
    extract.run_extraction(context, warehouse, keyring, extractors=[fake_extractor(territory)], objection_sources=())
    return warehouse
