"""Coverage per modality (``analytics.coverage``): exact values from activity built with the ORM, the communes
served and the APL deserts reached, DuckDB = Spark, and the linear-programming attacker recovers no small cell."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from maillage.analytics import activity, coverage, service
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import publish
from maillage.analytics.indicators import TOTAL
from maillage.analytics.warehouse import Warehouse
from maillage.demo.steering import activity_history
from tests.analytics.lp_attack import small_cells, unprotected
from tests.analytics.test_activity import extracted  # noqa: F401 - a fixture
from tests.analytics.test_clinical import YEAR, operational, settings  # noqa: F401 - fixtures

COMMUNES = pa.table({"code_insee": ["87085", "87001", "87002", "19001"], "nom": ["Limoges", "A", "B", "C"],
                     "departement": ["87", "87", "87", "19"], "population": [130000, 900, 800, 700],
                     "latitude": [45.8, 45.9, 46.0, 45.3], "longitude": [1.2, 1.3, 1.4, 1.8]})
PARENTS = {"87085": "87", "87001": "87", "87002": "87", "19001": "19"}


def run(warehouse: Warehouse, code: str, engine: Any) -> pd.DataFrame:
    indicator = get_indicator(code)
    return service.compute(indicator, indicator.resolve_params({"annee": YEAR}), warehouse, engine).frame


@pytest.fixture
def with_communes(extracted: Warehouse) -> Warehouse:  # noqa: F811
    extracted.write_table("COMMUNES", COMMUNES, synthetic=True)
    return extracted


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    warehouse = Warehouse(tmp_path_factory.mktemp("couverture"))
    warehouse.write_table("COMMUNES", COMMUNES, synthetic=True)
    sites = [("CH", "support_hospital"), ("EHPAD", "ehpad"), ("Cabinet", "city_practice")]
    communes = ["87085"] * 20 + ["87001"] * 3 + ["87002"] + ["19001"] * 2
    warehouse.write_table(activity.ACTIVITY_TABLE, activity_history(sites, communes, dt.date(YEAR, 12, 31), 900),
                          synthetic=True)
    return warehouse


class TestCoverage:
    def test_each_modality_of_the_one_commune_has_the_patients_and_acts_of_the_activity(self, with_communes,
                                                                                        duckdb_engine):
        # Every patient of the ORM-built activity lives in 87085: its cells are the activity's totals.
        cover = run(with_communes, "couverture-modalites", duckdb_engine)
        acts = run(with_communes, "activite-partenaires", duckdb_engine)
        totals = acts[(acts.type_partenaire == TOTAL) & (acts.niveau_periode == "annee")].set_index("modalite")
        assert set(totals.index) == {"te", "ts", TOTAL}  # no teleconsultation held in the ORM-built activity
        assert "tc" not in set(cover.modalite)  # so no commune is served by it
        for modality in totals.index:
            for level, code in (("commune", "87085"), ("departement", "87"), ("territoire", TOTAL)):
                row = cover[(cover.niveau_geo == level) & (cover.code_geo == code) & (cover.modalite == modality)]
                assert (int(row.patients.iloc[0]), int(row.actes.iloc[0])) == (
                    totals.loc[modality, "patients"], totals.loc[modality, "actes"]), (modality, level)
        assert set(cover.code_geo) == {"87085", "87", TOTAL}
        territory = cover[cover.code_geo == TOTAL].set_index("modalite")
        assert (territory.loc["te", "actes"], territory.loc["ts", "patients"], territory.loc[TOTAL, "patients"]) == \
            (15, 12, 15)

    def test_the_communes_served_and_the_deserts_reached(self):
        frame = pd.DataFrame({"niveau_geo": ["commune"] * 5 + ["departement"],
                              "code_geo": ["87085", "87001", "87085", "19001", "87002", "87"],
                              "modalite": ["te", "te", "ts", TOTAL, "te", "te"],
                              "patients": [12, None, 30, 15, 0, 40]})  # 87002: a row of zeros, not served
        rows = {r.modality: r for r in coverage.coverage_rows(frame, deserts={"87001", "87002"})}
        # 87001 is masked (zero or not, it cannot be told); 87002 a published zero.
        assert rows["Téléexpertise"] == coverage.CoverageRow("Téléexpertise", 1, 1, 0, 1, 1)
        assert rows["Télésurveillance"] == coverage.CoverageRow("Télésurveillance", 1, 0, 0, 2, 0)
        assert rows["Téléconsultation"].served == 0 and rows["Toutes modalités"].served == 1
        only_19 = {r.modality: r for r in coverage.coverage_rows(frame, {"87001"}, communes={"19001"})}
        assert only_19["Toutes modalités"] == coverage.CoverageRow("Toutes modalités", 1, 0, 0, 0, 0)

    def test_no_small_count_is_narrowed_below_its_protection_interval(self, generated, duckdb_engine):
        indicator = get_indicator("couverture-modalites")
        raw = run(generated, indicator.code, duckdb_engine)
        gated = publish(indicator, raw, geo_parent=PARENTS)
        assert small_cells(indicator, raw, gated.frame, 11)
        assert unprotected(indicator, raw, gated.frame, PARENTS, 11) == {}

    def test_duckdb_and_spark_agree_exactly(self, generated, duckdb_engine, spark_engine, tmp_path: Path):
        pd.testing.assert_frame_equal(run(generated, "couverture-modalites", duckdb_engine),
                                      run(generated, "couverture-modalites", spark_engine),
                                      check_exact=True, check_dtype=False)


class TestInTheReport:
    def test_the_pdf_and_the_csv_state_the_coverage_of_the_stored_result(self, with_communes, duckdb_engine):
        import io
        import re
        import zipfile

        from pypdf import PdfReader

        from maillage.analytics.gate import GateConfig
        from maillage.programme import report
        from maillage.programme.service import Programme

        service.run_indicator("couverture-modalites", {"annee": YEAR}, with_communes, duckdb_engine)
        rows, shown = report.coverage_table(with_communes, GateConfig(), YEAR + 1)  # looks back to the stored year
        assert shown == YEAR
        # All patients live in 87085: the département's total is that commune's, so the gate masks it and its two
        # neighbours' zeros; no commune is counted as served. No APL stored: no desert known.
        assert rows == [["Téléexpertise", "0", "3", "0", "0", "0"], ["Téléconsultation", "0", "0", "0", "0", "0"],
                        ["Télésurveillance", "0", "3", "0", "0", "0"], ["Toutes modalités", "0", "3", "0", "0", "0"]]
        plan = Programme(axes=[], projects=[])
        archive = zipfile.ZipFile(io.BytesIO(report.csv_bundle(plan, YEAR, with_communes, GateConfig())))
        text = archive.read(f"couverture-modalites_{YEAR}.csv").decode("utf-8-sig")
        assert text.splitlines()[1:] == [";".join(r) for r in rows]
        pdf = re.sub(r"\s+", " ", "".join(p.extract_text() for p in PdfReader(io.BytesIO(
            report.pdf(plan, YEAR, with_communes, GateConfig()))).pages))
        assert f"Couverture territoriale par modalité ({YEAR})" in pdf
        for row in rows:
            assert " ".join(row) in pdf, row
