"""SNDS query rules, run on DuckDB through Ibis on hand-made lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pyarrow as pa
import pytest

from maillage.analytics import rules, snds
from tests.fixtures.snds import prs_line


def table_of(definition: snds.TableDef, rows: list[dict[str, Any]]) -> Any:
    return ibis.memtable(pa.Table.from_pylist(rows, schema=definition.schema))


def count(expr: Any) -> int:
    return int(expr.count().execute())


class TestFluxMonths:
    def test_a_calendar_year_is_read_from_eighteen_monthly_loads(self):
        """"la requête doit être répétée 18 fois (année entière plus les 6 mois suivants)"."""
        months = rules.flux_months(2025)
        assert len(months) == 18
        assert months[0] == dt.date(2025, 1, 1) and months[-1] == dt.date(2026, 6, 1)

    def test_the_window_is_half_open_on_the_month_after_the_last_load(self):
        assert rules.flux_window(2025) == (dt.date(2025, 1, 1), dt.date(2026, 7, 1))

    def test_a_negative_lag_is_refused(self):
        with pytest.raises(ValueError):
            rules.flux_months(2025, lag_months=-1)

    def test_adding_months_crosses_years(self):
        assert rules.add_months(dt.date(2025, 11, 1), 3) == dt.date(2026, 2, 1)


class TestCareInPeriod:
    def test_lines_loaded_after_the_window_or_for_care_outside_the_period_are_left_out(self):
        prs = table_of(snds.ER_PRS_F, [
            prs_line(1),  # kept
            prs_line(2, FLX_DIS_DTD=dt.date(2026, 6, 1)),  # last load of the window: kept
            prs_line(3, FLX_DIS_DTD=dt.date(2026, 7, 1)),  # 19th load: too late
            prs_line(4, EXE_SOI_DTD=dt.date(2024, 12, 31)),  # care of the previous year
            prs_line(5, FLX_DIS_DTD=dt.date(2024, 12, 1), EXE_SOI_DTD=dt.date(2025, 1, 2)),  # impossible load
        ])
        kept = rules.care_in_period(prs, dt.date(2025, 1, 1), dt.date(2026, 1, 1))
        assert sorted(kept.DCT_ORD_NUM.to_pyarrow().to_pylist()) == [1, 2]

    def test_a_shorter_period_reads_six_months_after_its_own_end(self):
        prs = table_of(snds.ER_PRS_F, [
            prs_line(1, EXE_SOI_DTD=dt.date(2025, 3, 15), FLX_DIS_DTD=dt.date(2025, 9, 1)),
            prs_line(2, EXE_SOI_DTD=dt.date(2025, 3, 15), FLX_DIS_DTD=dt.date(2025, 10, 1)),
        ])
        kept = rules.care_in_period(prs, dt.date(2025, 3, 1), dt.date(2025, 4, 1))
        assert kept.DCT_ORD_NUM.to_pyarrow().to_pylist() == [1]


class TestQualityFilters:
    def test_information_only_lines_and_complements_are_dropped(self):
        """DPN_QLF <> 71 and CPL_MAJ_TOP < 2 (fiches/sas_prestation_dcir.md)."""
        prs = table_of(snds.ER_PRS_F, [
            prs_line(1), prs_line(2, DPN_QLF=71), prs_line(3, CPL_MAJ_TOP=2), prs_line(4, CPL_MAJ_TOP=1),
            prs_line(5, DPN_QLF=None),
        ])
        kept = rules.quality_filters(prs)
        assert sorted(kept.DCT_ORD_NUM.to_pyarrow().to_pylist()) == [1, 4, 5]


class TestWithoutPublicT2a:
    def test_lines_of_public_hospitals_billing_in_t2a_are_dropped_on_the_nine_keys(self):
        """ETE_IND_TAA <> 1 OR ETE_IND_TAA IS MISSING, ER_ETE_F joined on the 9 keys."""
        lines = [prs_line(1), prs_line(2), prs_line(3)]
        prs = table_of(snds.ER_PRS_F, lines)

        def ete_row(line: dict[str, Any], taa: int | None) -> dict[str, Any]:
            return {**{k: line[k] for k in snds.DCIR_JOIN_KEY}, "ETB_EXE_FIN": "019000001", "ETE_IND_TAA": taa,
                    "PRS_PPU_SEC": 1, "ETE_CAT_COD": 101}

        # Same décompte number as line 3 but another prestation number: must not drop line 3.
        other = {**lines[2], "PRS_ORD_NUM": 2}
        ete = table_of(snds.ER_ETE_F, [ete_row(lines[0], 1), ete_row(lines[1], 0), ete_row(other, 1)])
        kept = rules.without_public_t2a(prs, ete)
        assert sorted(kept.DCT_ORD_NUM.to_pyarrow().to_pylist()) == [2, 3]


class TestNetQuantityBy:
    def test_regularisation_lines_are_summed_with_the_line_they_correct(self):
        """Regularisations carry negative quantities and must be summed."""
        prs = table_of(snds.ER_PRS_F, [
            prs_line(1), prs_line(2, PRS_ACT_QTE=-1, FLX_DIS_DTD=dt.date(2025, 4, 1)),  # cancelled act
            prs_line(3, BEN_NIR_PSA="SYNBBBBBBBBBBBBBB"),
            prs_line(4, BEN_NIR_PSA="SYNBBBBBBBBBBBBBB", PRS_ACT_QTE=-1), prs_line(5, BEN_NIR_PSA="SYNBBBBBBBBBBBBBB"),
        ])
        net = rules.net_quantity_by(prs, ["BEN_NIR_PSA"]).to_pyarrow().to_pylist()
        assert net == [{"BEN_NIR_PSA": "SYNBBBBBBBBBBBBBB", "net_acts": 1}]


class TestResidenceInsee:
    def test_the_insee_code_is_rebuilt_in_the_engine_as_in_python(self):
        prs = table_of(snds.ER_PRS_F, [
            prs_line(1), prs_line(2, BEN_RES_DPT="02A", BEN_RES_COM="004"),
            prs_line(3, BEN_RES_DPT="971", BEN_RES_COM="101"),
        ])
        codes = prs.select(code=rules.residence_insee(prs), n=prs.DCT_ORD_NUM).order_by("n").code
        assert codes.to_pyarrow().to_pylist() == ["01001", "2A004", "97101"]


class TestCleanMcoStays:
    def test_duplicates_error_ghms_and_unchainable_patients_are_dropped(self):
        stays = [
            {"ETA_NUM": "019000001", "RSA_NUM": n, "DGN_PAL": "I500", "DGN_REL": "", "GRG_GHM": ghm,
             "BDI_COD": "01001", "AGE_ANN": 70, "COD_SEX": 1, "SEJ_NBJ": 3}
            for n, ghm in [(1, "05M091"), (2, "90Z00Z"), (3, "05M091"), (4, "05M091")]
        ]
        stays.append({**stays[0], "ETA_NUM": "750100042", "RSA_NUM": 5})  # AP-HP geographic duplicate
        chain = [
            {"ETA_NUM": s["ETA_NUM"], "RSA_NUM": s["RSA_NUM"], "NIR_ANO_17": "SYNAAAAAAAAAAAAAA",
             "EXE_SOI_DTD": dt.date(2025, 1, 1), "EXE_SOI_DTF": dt.date(2025, 1, 4),
             **dict.fromkeys(snds.PMSI_RET_COLUMNS, "0")}
            for s in stays
        ]
        chain[2]["NIR_ANO_17"] = "xxxxxxxxxxxxxxxxx"  # placeholder patient
        chain[3]["SEX_RET"] = "1"  # failed chaining check
        b = table_of(snds.T_MCOB, stays)
        c = table_of(snds.T_MCOC, chain)
        kept = rules.clean_mco_stays(b, c)
        assert kept.RSA_NUM.to_pyarrow().to_pylist() == [1]
