"""Hospital stays for the evaluation (``analytics.pmsi``): exact values of the 30-day heart-failure readmissions
and of the stays before / after enrolment in telesurveillance, from stays built row by row; DuckDB = Spark; and the
linear-programming attacker recovers no small cell of the gated tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from maillage.analytics import pmsi, service
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import publish
from maillage.analytics.indicators import TOTAL
from maillage.analytics.warehouse import Warehouse
from maillage.demo.hospital_stays import Stay, synthetic_cohort, write
from tests.analytics.lp_attack import small_cells, unprotected

D = dt.date
YEAR = 2026
THRESHOLD = 11
COMMUNES = pa.table({"code_insee": ["01001", "01002", "02001"], "nom": ["A", "B", "C"],
                     "departement": ["01", "01", "02"], "population": [1000, 1000, 1000],
                     "latitude": [46.0, 46.1, 46.2], "longitude": [5.0, 5.1, 5.2]})
PARENTS = {"01001": "01", "01002": "01", "02001": "02"}

READMISSION_STAYS = [
    # P1: heart failure, back 15 days after discharge for another cause → readmitted.
    Stay("P1", D(2026, 3, 1), D(2026, 3, 5), "I500", "01001"),
    Stay("P1", D(2026, 3, 20), D(2026, 3, 22), "J441", "01001"),
    # P2: a same-day entry is a transfer; the next entry, 31 days after the discharge, is too late.
    Stay("P2", D(2026, 4, 1), D(2026, 4, 3), "I501", "01001"),
    Stay("P2", D(2026, 4, 3), D(2026, 4, 6), "K358", "01001"),
    Stay("P2", D(2026, 5, 4), D(2026, 5, 5), "J441", "01001"),
    # P3: back on day 30 for heart failure again: two index stays, the first readmitted.
    Stay("P3", D(2026, 6, 1), D(2026, 6, 10), "I509", "01002"),
    Stay("P3", D(2026, 7, 10), D(2026, 7, 12), "I500", "01002"),
    # P4: entered in 2025, discharged in 2026 (the discharge year counts), back 3 days later.
    Stay("P4", D(2025, 12, 20), D(2026, 1, 2), "I500", "02001"),
    Stay("P4", D(2026, 1, 5), D(2026, 1, 6), "E119", "02001"),
    # P5: discharged in 2025: not an index stay of 2026 (its readmission in 2026 is not one either).
    Stay("P5", D(2025, 12, 1), D(2025, 12, 30), "I500", "01001"),
    Stay("P5", D(2026, 1, 10), D(2026, 1, 12), "J441", "01001"),
    # Not counted: an unchainable stay, a patient living outside the territory, a duplicate geographic FINESS.
    Stay("P6", D(2026, 2, 1), D(2026, 2, 3), "I500", "01001", chainable=False),
    Stay("P7", D(2026, 2, 1), D(2026, 2, 3), "I500", "99999"),
    Stay("P8", D(2026, 2, 1), D(2026, 2, 3), "I500", "01002", eta="750100018"),
]
COHORT_STAYS = [
    # A, enrolled 2026-02-01: two stays in the 365 days before (one older is out), two from the day itself (the
    # one 365 days later is out, an unchainable one is dropped).
    Stay("A", D(2025, 1, 15), D(2025, 1, 16), "J441", "01001"),
    Stay("A", D(2025, 3, 1), D(2025, 3, 2), "J441", "01001"),
    Stay("A", D(2026, 1, 15), D(2026, 1, 16), "J441", "01001"),
    Stay("A", D(2026, 2, 1), D(2026, 2, 2), "J441", "01001"),
    Stay("A", D(2026, 7, 1), D(2026, 7, 2), "J441", "01001", chainable=False),
    Stay("A", D(2026, 12, 1), D(2026, 12, 2), "J441", "01001"),
    Stay("A", D(2027, 2, 1), D(2027, 2, 2), "J441", "01001"),
    # C, enrolled 2026-05-01: one stay before.
    Stay("C", D(2026, 4, 1), D(2026, 4, 2), "J441", "01001"),
    # D, enrolled 2026-12-31: the PMSI ends 2027-06-30, before the end of D's year after: not counted.
    Stay("D", D(2026, 10, 1), D(2026, 10, 2), "J441", "01001"),
    # The latest discharge of the PMSI.
    Stay("Z", D(2027, 6, 25), D(2027, 6, 30), "K358", "01001"),
]
MATCHING = [
    ("A", D(2026, 2, 1), "heart_failure"),
    ("A", D(2026, 6, 1), "diabetes"),  # a second enrolment: the first one is kept
    ("B", D(2026, 3, 10), "diabetes"),
    ("C", D(2026, 5, 1), "heart_failure"),
    ("D", D(2026, 12, 31), "heart_failure"),
    ("E", D(2025, 11, 1), "heart_failure"),  # enrolled another year
]


@pytest.fixture
def stays(tmp_path: Path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "entrepot")
    warehouse.write_table("COMMUNES", COMMUNES, synthetic=True)
    write(warehouse, READMISSION_STAYS + COHORT_STAYS, MATCHING)
    return warehouse


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    warehouse = Warehouse(tmp_path_factory.mktemp("cohorte"))
    warehouse.write_table("COMMUNES", COMMUNES, synthetic=True)
    # Communes drawn 10 : 10 : 1 and 120 patients (a tenth in the renal programme): small cells on each side.
    generated, matching = synthetic_cohort(["01001"] * 10 + ["01002"] * 10 + ["02001"], YEAR, 120, seed=5)
    write(warehouse, generated, matching)
    return warehouse


def run(warehouse: Warehouse, code: str, engine: Any) -> pd.DataFrame:
    indicator = get_indicator(code)
    return service.compute(indicator, indicator.resolve_params({"annee": YEAR}), warehouse, engine).frame


def row(frame: pd.DataFrame, **where: str) -> dict[str, Any]:
    chosen = frame
    for column, value in where.items():
        chosen = chosen[chosen[column] == value]
    assert len(chosen) == 1, where
    return dict(chosen.iloc[0])


class TestReadmissions:
    MEASURES = ("patients", "sejours_index", "sejours_suivis_de_rehospitalisation", "taux_rehospitalisation")

    @pytest.mark.parametrize(("level", "code", "expected"), [
        ("territoire", TOTAL, (4, 5, 3, 0.6)),
        ("departement", "01", (3, 4, 2, 0.5)),
        ("departement", "02", (1, 1, 1, 1.0)),
        ("commune", "01001", (2, 2, 1, 0.5)),
        ("commune", "01002", (1, 2, 1, 0.5)),
    ])
    def test_exact_values(self, stays, duckdb_engine, level, code, expected):
        found = row(run(stays, "rehospitalisations-ic", duckdb_engine), niveau_geo=level, code_geo=code)
        assert tuple(found[m] for m in self.MEASURES) == expected

    def test_the_window_is_one_to_thirty_days_after_discharge(self):
        assert pmsi.READMISSION_DAYS == 30 and pmsi.HEART_FAILURE == "I50"


class TestBeforeAfter:
    MEASURES = ("patients", "patients_hospitalises_avant", "patients_hospitalises_apres", "sejours_avant",
                "sejours_apres", "sejours_par_patient_avant", "sejours_par_patient_apres")

    @pytest.mark.parametrize(("programme", "expected"), [
        (TOTAL, (3, 2, 1, 3, 2, 1.0, 0.666667)),
        ("heart_failure", (2, 2, 1, 3, 2, 1.5, 1.0)),
        ("diabetes", (1, 0, 0, 0, 0, 0.0, 0.0)),
    ])
    def test_exact_values(self, stays, duckdb_engine, programme, expected):
        found = row(run(stays, "hospitalisations-telesurveillance", duckdb_engine), programme=programme)
        assert tuple(found[m] for m in self.MEASURES) == expected

    def test_without_the_matching_table_it_says_the_extraction_is_missing(self, tmp_path, duckdb_engine):
        warehouse = Warehouse(tmp_path / "w")
        write(warehouse, COHORT_STAYS, [])
        (warehouse.table_dir(pmsi.MATCHING_TABLE) / "part-00000.parquet").unlink()
        with pytest.raises(Exception, match="tables nécessaires"):
            run(warehouse, "hospitalisations-telesurveillance", duckdb_engine)


class TestGeneratedCohort:
    def test_the_planted_fall_in_stays_after_enrolment_is_found(self, cohort, duckdb_engine):
        total = row(run(cohort, "hospitalisations-telesurveillance", duckdb_engine), programme=TOTAL)
        assert total["patients"] == 120
        assert total["sejours_par_patient_avant"] > total["sejours_par_patient_apres"]

    @pytest.mark.parametrize("code", [i.code for i in pmsi.INDICATORS])
    def test_no_small_count_is_narrowed_below_its_protection_interval(self, cohort, duckdb_engine, code):
        indicator = get_indicator(code)
        raw = run(cohort, code, duckdb_engine)
        parents = PARENTS if "geo" in indicator.dimensions else {}
        gated = publish(indicator, raw, geo_parent=parents)
        assert small_cells(indicator, raw, gated.frame, THRESHOLD)
        assert unprotected(indicator, raw, gated.frame, parents, THRESHOLD) == {}

    @pytest.mark.parametrize("code", [i.code for i in pmsi.INDICATORS])
    def test_duckdb_and_spark_agree_exactly(self, stays, cohort, duckdb_engine, spark_engine, code):
        for warehouse in (stays, cohort):
            pd.testing.assert_frame_equal(run(warehouse, code, duckdb_engine), run(warehouse, code, spark_engine),
                                          check_exact=True, check_dtype=False)


class TestDefaultYear:
    @pytest.mark.parametrize(("end", "expected"), [
        (D(2025, 12, 31), 2024), (D(2026, 12, 29), 2024), (D(2026, 12, 30), 2025), (D(2026, 1, 10), 2024)])
    def test_before_after_the_newest_year_whose_year_after_is_covered(self, end, expected):
        assert pmsi.default_year(pmsi.BEFORE_AFTER, end) == expected

    @pytest.mark.parametrize(("end", "expected"), [(D(2026, 1, 10), 2025), (D(2026, 1, 31), 2026)])
    def test_readmissions_the_year_of_the_last_discharge_followed_thirty_days(self, end, expected):
        assert pmsi.default_year(pmsi.READMISSIONS, end) == expected

    def test_the_stored_defaults_follow_the_data(self, stays, duckdb_engine):
        done = service.refresh_results(stays, duckdb_engine, codes=[i.code for i in pmsi.INDICATORS])
        assert set(done) == {"rehospitalisations-ic", "hospitalisations-telesurveillance"}
        # The PMSI ends 2027-06-30: readmissions of 2027, enrolments of 2025 (2026's year after is not covered).
        assert service.default_year(stays, "rehospitalisations-ic") == 2027
        assert service.default_year(stays, "hospitalisations-telesurveillance") == 2025
