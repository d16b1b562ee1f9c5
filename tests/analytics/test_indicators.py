"""Indicators: exact values on hand-made claims, and the same results on DuckDB and on Spark local[2]."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from maillage.analytics import indicators as ind
from maillage.analytics import service, snds
from maillage.analytics.catalogue import all_indicators, get_indicator
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import NotFound, ValidationFailed
from tests.fixtures.snds import prs_line

A, B, C, D, E = (f"SYN{c * 14}" for c in "ABCDE")


def ben(psa: str, insee: str, born: int, died: dt.date | None = None) -> dict[str, Any]:
    dpt, com = snds.snds_residence(insee)
    return {"BEN_NIR_PSA": psa, "BEN_RNG_GEM": 1, "BEN_NIR_ANO": psa, "BEN_IDT_ANO": psa, "BEN_NAI_ANN": born,
            "BEN_NAI_MOI": 1, "BEN_SEX_COD": 1, "BEN_DCD_DTE": died or dt.date(1600, 1, 1),
            "BEN_RES_DPT": dpt, "BEN_RES_COM": com}


def line(n: int, psa: str, insee: str, **kw: Any) -> dict[str, Any]:
    dpt, com = snds.snds_residence(insee)
    return prs_line(n, BEN_NIR_PSA=psa, BEN_RES_DPT=dpt, BEN_RES_COM=com, **kw)


@pytest.fixture
def handmade(tmp_path) -> Warehouse:
    wh = Warehouse(tmp_path / "handmade")
    communes = pd.DataFrame({
        "code_insee": ["01001", "01002", "02001"], "nom": ["Un", "Deux", "Trois"], "departement": ["01", "01", "02"],
        "population": [100, 50, 80], "latitude": [46.0, 46.05, 46.1], "longitude": [5.0, 5.05, 5.3],
    })
    wh.write_table("COMMUNES", pa.Table.from_pandas(communes, schema=snds.COMMUNES.schema, preserve_index=False),
                   synthetic=False)
    bens = [ben(A, "01001", 1990), ben(B, "01001", 1950), ben(C, "01002", 2015),
            ben(D, "02001", 1990, dt.date(2024, 5, 1)), ben(E, "02001", 1980)]
    wh.write_table("IR_BEN_R", pa.Table.from_pylist(bens, schema=snds.IR_BEN_R.schema), synthetic=True)
    lines = [
        line(1, A, "01001"), line(2, A, "01001"),  # two GP consultations
        line(3, A, "01001", PSE_SPE_COD=3, PRS_NAT_REF=1112),  # specialist: not a GP consultation
        line(4, A, "01001"), line(5, A, "01001", PRS_ACT_QTE=-1, FLX_DIS_DTD=dt.date(2025, 5, 1)),  # cancelled
        line(6, A, "01001", DPN_QLF=71), line(7, A, "01001", CPL_MAJ_TOP=2),  # rule exclusions
        line(8, B, "01001", PRS_NAT_REF=1211, PSE_SPE_COD=22),  # home visit by a GP
        line(9, B, "01001"),  # public hospital in T2A (ER_ETE_F below)
        line(10, C, "01002", FLX_DIS_DTD=dt.date(2026, 8, 1)),  # loaded too late for 2025
        *[line(11 + i, E, "02001", PRS_NAT_REF=1192, EXE_SOI_DTD=dt.date(2025, 3, 2)) for i in range(3)],
        line(14, E, "02001", PRS_NAT_REF=1194, PSE_SPE_COD=3, EXE_SOI_DTD=dt.date(2025, 3, 9)),
    ]
    wh.write_table("ER_PRS_F", pa.Table.from_pylist(lines, schema=snds.ER_PRS_F.schema), synthetic=True)
    ete = [{**{k: lines[8][k] for k in snds.DCIR_JOIN_KEY}, "ETB_EXE_FIN": "019000001", "ETE_IND_TAA": 1,
            "PRS_PPU_SEC": 1, "ETE_CAT_COD": 101}]
    wh.write_table("ER_ETE_F", pa.Table.from_pylist(ete, schema=snds.ER_ETE_F.schema), synthetic=True)
    return wh


def row(frame: pd.DataFrame, **where: str) -> dict[str, Any]:
    mask = pd.Series(True, index=frame.index)
    for key, value in where.items():
        mask &= frame[key] == value
    found = frame[mask]
    assert len(found) == 1, where
    return found.iloc[0].to_dict()


def compute(wh: Warehouse, code: str, engine, **params: Any) -> pd.DataFrame:
    indicator = get_indicator(code)
    return service.compute(indicator, indicator.resolve_params(params), wh, engine).frame


class TestGpConsultations:
    def test_counts_net_gp_consultations_of_residents_after_the_snds_rules(self, handmade, duckdb_engine):
        frame = compute(handmade, "consultations-mg", duckdb_engine, annee=2025)
        one = row(frame, niveau_geo="commune", code_geo="01001", tranche_age=ind.ALL_AGES)
        assert (one["population"], one["patients"], one["consultations"]) == (2, 2, 3)
        assert one["taux"] == 1.5

    def test_the_dead_before_the_year_are_not_in_the_population(self, handmade, duckdb_engine):
        frame = compute(handmade, "consultations-mg", duckdb_engine, annee=2025)
        assert row(frame, niveau_geo="commune", code_geo="02001", tranche_age=ind.ALL_AGES)["population"] == 1

    def test_margins_are_computed_for_the_departement_and_the_territory(self, handmade, duckdb_engine):
        frame = compute(handmade, "consultations-mg", duckdb_engine, annee=2025)
        dep = row(frame, niveau_geo="departement", code_geo="01", tranche_age=ind.ALL_AGES)
        terr = row(frame, niveau_geo="territoire", code_geo=ind.TOTAL, tranche_age=ind.ALL_AGES)
        assert (dep["population"], dep["consultations"]) == (3, 3)
        assert (terr["population"], terr["patients"], terr["consultations"]) == (4, 2, 3)

    def test_the_standardised_rate_weights_band_rates_by_the_territory_population(self, handmade, duckdb_engine):
        """Direct standardisation: 4 bands of one person each, weights 1/4; 01001 has rates 2 (30-44), 1 (75+)."""
        frame = compute(handmade, "consultations-mg", duckdb_engine, annee=2025)
        assert row(frame, niveau_geo="commune", code_geo="01001", tranche_age=ind.ALL_AGES)[
            "taux_standardise"] == pytest.approx(0.75)
        terr = row(frame, niveau_geo="territoire", code_geo=ind.TOTAL, tranche_age=ind.ALL_AGES)
        assert terr["taux_standardise"] == pytest.approx(terr["taux"])
        assert pd.isna(row(frame, niveau_geo="commune", code_geo="01001", tranche_age="30-44")["taux_standardise"])

    def test_age_bands_follow_the_given_bounds(self, handmade, duckdb_engine):
        frame = compute(handmade, "consultations-mg", duckdb_engine, annee=2025, tranches_age="0,50")
        bands = set(frame.loc[frame.niveau_geo == "territoire", "tranche_age"])
        assert bands == {"0-49", "50 ans et plus", ind.ALL_AGES}

    def test_unordered_age_bounds_are_refused(self, handmade, duckdb_engine):
        with pytest.raises(ValidationFailed):
            compute(handmade, "consultations-mg", duckdb_engine, tranches_age="10,5")


class TestTelemedicine:
    def test_counts_teleconsultations_and_teleexpertises_per_commune_and_month(self, handmade, duckdb_engine):
        frame = compute(handmade, "telemedecine", duckdb_engine, annee=2025)
        march = row(frame, niveau_geo="commune", code_geo="02001", niveau_periode="mois", periode="2025-03")
        assert (march["teleconsultations"], march["teleexpertises"], march["patients"]) == (3, 1, 1)
        assert march["part_teleconsultation"] == 1.0

    def test_the_share_is_taken_over_all_consultations_after_the_rules(self, handmade, duckdb_engine):
        frame = compute(handmade, "telemedecine", duckdb_engine, annee=2025)
        feb = row(frame, niveau_geo="commune", code_geo="01001", niveau_periode="mois", periode="2025-02")
        assert (feb["consultations"], feb["teleconsultations"], feb["patients"], feb["patients_consultants"]) == (
            4, 0, 0, 2)
        year = row(frame, niveau_geo="territoire", code_geo=ind.TOTAL, niveau_periode="annee", periode="2025")
        assert year["consultations"] == 7 and year["part_teleconsultation"] == pytest.approx(3 / 7, abs=1e-6)

    def test_the_operational_source_needs_an_extract(self, handmade, duckdb_engine):
        with pytest.raises(NotFound, match="extraction"):
            compute(handmade, "telemedecine", duckdb_engine, source="operationnel")


class TestCatalogue:
    def test_every_indicator_has_french_labels_units_and_a_description(self):
        for indicator in all_indicators():
            assert indicator.label and indicator.unit and len(indicator.description) > 40
            assert all(m.label and m.unit for m in indicator.measures)

    def test_an_unknown_parameter_is_refused(self):
        with pytest.raises(ValidationFailed, match="inconnu"):
            get_indicator("telemedecine").resolve_params({"annnee": 2025})

    def test_an_unknown_indicator_is_not_found(self):
        with pytest.raises(NotFound):
            get_indicator("nope")


class TestEnginesAgree:
    """The issue's bar: every indicator, run on DuckDB and on Spark local[2], gives exactly the same result."""

    @pytest.mark.parametrize(("code", "params"), [
        ("consultations-mg", {}), ("telemedecine", {}), ("telemedecine", {"source": "operationnel"}),
        ("apl-mg", {}),
    ])
    def test_duckdb_and_spark_give_identical_results(self, warehouse_with_extract, duckdb_engine, spark_engine,
                                                     code, params):
        on_duckdb = compute(warehouse_with_extract, code, duckdb_engine, **params)
        on_spark = compute(warehouse_with_extract, code, spark_engine, **params)
        assert len(on_duckdb) > 10
        pd.testing.assert_frame_equal(on_duckdb, on_spark, check_exact=True)

    def test_the_catalogue_is_covered_by_the_agreement_test(self):
        covered = {"consultations-mg", "telemedecine", "apl-mg"}
        # The clinical indicators need operational rows: test_clinical.TestBothEngines compares them.
        covered_in_test_clinical = {"teleexpertise-reponses", "telesurveillance"}
        # The telemedicine activity per partner type and per site: test_activity.TestBothEngines compares them.
        covered_in_test_activity = {"activite-partenaires", "activite-sites"}
        # The billed activity and its value: test_billing_activity.TestBothEngines compares them.
        covered_in_test_billing_activity = {"facturation-partenaires", "facturation-sites"}
        # The hospital-stay indicators: test_pmsi.TestGeneratedCohort compares them on two warehouses.
        covered_in_test_pmsi = {"rehospitalisations-ic", "hospitalisations-telesurveillance"}
        # The coverage per modality: test_coverage compares it.
        covered_in_test_pmsi |= {"couverture-modalites"}
        assert {i.code for i in all_indicators()} == (covered | covered_in_test_clinical | covered_in_test_activity
                                                      | covered_in_test_billing_activity | covered_in_test_pmsi)
