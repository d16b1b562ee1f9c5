"""Service: computing, storing and reading back results; the gated publication; exports."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from maillage.analytics import audit, service
from maillage.analytics.gate import GateConfig
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import NotFound, ValidationFailed


@pytest.fixture
def copy(warehouse, tmp_path) -> Warehouse:
    shutil.copytree(warehouse.root, tmp_path / "w", ignore=shutil.ignore_patterns("results", "audit"))
    return Warehouse(tmp_path / "w")


class TestRunIndicator:
    def test_stores_the_result_with_its_provenance(self, copy, duckdb_engine):
        result = service.run_indicator("telemedecine", {"annee": 2025}, copy, duckdb_engine)
        stored = service.latest_result(copy, "telemedecine", {"annee": 2025})
        assert stored is not None and stored.provenance.run_id == result.provenance.run_id
        assert stored.frame.equals(result.frame)
        assert result.provenance.data_vintage["synthetic"] is True
        assert result.provenance.parameters == {"annee": 2025, "source": "snds"}

    def test_a_warehouse_without_the_tables_is_a_clear_error(self, fresh_warehouse, duckdb_engine):
        with pytest.raises(NotFound, match="tables nécessaires"):
            service.run_indicator("apl-mg", {}, fresh_warehouse, duckdb_engine)


class TestResultFor:
    def test_reuses_a_stored_result_with_the_same_parameters(self, copy, duckdb_engine):
        first = service.result_for(copy, "consultations-mg", {}, duckdb_engine)
        again = service.result_for(copy, "consultations-mg", {}, duckdb_engine)
        other = service.result_for(copy, "consultations-mg", {"tranches_age": "0,60"}, duckdb_engine)
        assert again.provenance.run_id == first.provenance.run_id != other.provenance.run_id


class TestPublished:
    def test_records_the_suppression_in_the_provenance(self, copy, duckdb_engine):
        gated, provenance = service.published("consultations-mg", {}, copy, duckdb_engine)
        assert provenance.suppression["seuil"] == 11 and provenance.suppression["masquees_primaires"] > 0
        assert "secret" in gated.frame.columns


class TestGatedResult:
    """The gate's output is computed once per stored result and gate settings, then read back as it was."""

    def test_the_second_reading_is_the_kept_table_without_gating_again(self, copy, duckdb_engine, monkeypatch):
        first, _ = service.published("consultations-mg", {}, copy, duckdb_engine)
        monkeypatch.setattr(service, "publish", lambda *a, **k: pytest.fail("gated again"))
        again, provenance = service.published("consultations-mg", {}, copy, duckdb_engine)
        pd.testing.assert_frame_equal(again.frame, first.frame)
        assert again.report == first.report and provenance.suppression == first.report

    def test_other_gate_settings_are_gated_anew(self, copy, duckdb_engine):
        strict, _ = service.published("consultations-mg", {}, copy, duckdb_engine, GateConfig(threshold=11))
        loose, _ = service.published("consultations-mg", {}, copy, duckdb_engine, GateConfig(threshold=5))
        assert loose.report["seuil"] == 5 and strict.report["seuil"] == 11
        assert loose.report["masquees_primaires"] < strict.report["masquees_primaires"]

    def test_kept_tables_are_not_taken_for_stored_results(self, copy, duckdb_engine):
        service.published("consultations-mg", {}, copy, duckdb_engine)
        assert service.latest_result(copy, "consultations-mg", {}) is not None
        assert len(list((copy.results_dir / "consultations-mg").glob("*.json"))) == 1


class TestExport:
    def test_is_audited_and_refuses_unknown_formats(self, copy, duckdb_engine):
        done = service.export("apl-mg", {}, copy, duckdb_engine, fmt="csv", actor="u-9")
        assert done.content.startswith("\ufeff".encode()) and done.filename == "apl-mg-2025.csv"
        assert audit.entries(copy)[-1]["actor"] == "u-9"
        with pytest.raises(ValidationFailed):
            service.export("apl-mg", {}, copy, duckdb_engine, fmt="xlsx", actor="u-9")
