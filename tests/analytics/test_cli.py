"""`maillage analytics …`: generate-claims, run, export, catalogue, extract."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from maillage.analytics import audit
from maillage.analytics.warehouse import Warehouse
from maillage.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Warehouse:
    root = tmp_path_factory.mktemp("cli") / "entrepot"
    result = runner.invoke(app, ["analytics", "generate-claims", "--rows", "20000", "--seed", "3", "--territoire",
                                 "synthetique", "--communes-synthetiques", "30", "--entrepot", str(root)])
    assert result.exit_code == 0, result.output
    return Warehouse(root)


class TestGenerateClaims:
    def test_writes_a_synthetic_warehouse_and_says_so(self, generated):
        assert generated.row_count("ER_PRS_F") == 20_000
        assert generated.manifest()["synthetic"] is True

    def test_a_real_departement_can_be_the_territory(self, tmp_path):
        result = runner.invoke(app, ["analytics", "generate-claims", "--rows", "1000", "--territoire", "2A",
                                     "--entrepot", str(tmp_path / "w")])
        assert result.exit_code == 0, result.output
        communes = Warehouse(tmp_path / "w").read_table("COMMUNES").column("departement").to_pylist()
        assert set(communes) == {"2A"}

    def test_without_a_territory_the_recorded_ght_s_departement_is_used(self, tmp_path, monkeypatch):
        import sqlite3

        from maillage.config import get_settings

        monkeypatch.setenv("MAILLAGE_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        try:
            assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
            with sqlite3.connect(tmp_path / "var" / "maillage.sqlite3") as con:
                con.execute("INSERT INTO ght (id, code, name, departement, created_at) VALUES "
                            "('0123456789abcdef0123456789abcdef', 'GHT-48', 'GHT Lozère', '48', '2026-01-01')")
            result = runner.invoke(app, ["analytics", "generate-claims", "--rows", "1000", "--entrepot",
                                         str(tmp_path / "w")])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert "Territoire : 48." in result.output
        communes = Warehouse(tmp_path / "w").read_table("COMMUNES").column("departement").to_pylist()
        assert set(communes) == {"48"}

    def test_too_few_rows_is_a_french_error(self, tmp_path):
        result = runner.invoke(app, ["analytics", "generate-claims", "--rows", "10", "--territoire", "synthetique",
                                     "--entrepot", str(tmp_path / "w")])
        assert result.exit_code == 1 and "Erreur" in result.output and "lignes" in result.output


class TestRun:
    def test_computes_stores_and_prints_a_gated_preview_with_provenance(self, generated):
        result = runner.invoke(app, ["analytics", "run", "telemedecine", "-p", "annee=2025", "--entrepot",
                                     str(generated.root)])
        assert result.exit_code == 0, result.output
        assert "territoire" in result.output and '"engine": "duckdb"' in result.output
        assert '"suppression"' in result.output
        assert list((generated.results_dir / "telemedecine").glob("*.json"))
        assert audit.entries(generated)[-1]["action"] == "calcul"

    def test_an_unknown_indicator_is_a_french_error(self, generated):
        result = runner.invoke(app, ["analytics", "run", "inconnu", "--entrepot", str(generated.root)])
        assert result.exit_code == 1 and "Indicateur inconnu" in result.output

    def test_a_malformed_parameter_is_a_french_error(self, generated):
        result = runner.invoke(app, ["analytics", "run", "telemedecine", "-p", "annee", "--entrepot",
                                     str(generated.root)])
        assert result.exit_code == 1 and "mal formé" in result.output


class TestExport:
    def test_writes_a_gated_csv_and_its_provenance(self, generated, tmp_path):
        target = tmp_path / "export" / "apl.csv"
        result = runner.invoke(app, ["analytics", "export", "consultations-mg", "--sortie", str(target),
                                     "--entrepot", str(generated.root)])
        assert result.exit_code == 0, result.output
        frame = pd.read_csv(target, sep=";", decimal=",", encoding="utf-8-sig")
        assert "secret" in frame.columns and frame.patients.isna().any()
        provenance = json.loads((tmp_path / "export" / "apl.csv.provenance.json").read_text())
        assert provenance["suppression"]["seuil"] == 11
        assert audit.entries(generated)[-1]["action"] == "export"


class TestCatalogue:
    def test_lists_the_indicators_and_flags_parameters_to_verify(self):
        result = runner.invoke(app, ["analytics", "catalogue"], env={"COLUMNS": "250"})
        assert result.exit_code == 0
        assert "apl-mg" in result.output and "à vérifier" in result.output


class TestExtract:
    def test_extracts_the_communes_into_the_warehouse(self, tmp_path, monkeypatch):
        from maillage.config import get_settings

        monkeypatch.setenv("MAILLAGE_VAR_DIR", str(tmp_path / "var"))
        get_settings.cache_clear()
        try:
            result = runner.invoke(app, ["analytics", "extract", "--seulement", "communes", "--entrepot",
                                         str(tmp_path / "w")])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert "COMMUNES" in result.output and "version 1" in result.output
