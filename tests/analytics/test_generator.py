"""The synthetic SNDS generator: exact sizes, valid keys between tables, rule cases present, marked as fake."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from maillage.analytics import snds
from maillage.analytics.warehouse import Warehouse
from maillage.demo.claims import MAX_ROWS, generate_claims, synthetic_ids
from maillage.exceptions import ValidationFailed


def sql(wh: Warehouse, query: str) -> list[tuple]:
    con = duckdb.connect()
    for name in wh.table_names():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{wh.parquet_glob(name)}')")
    return con.execute(query).fetchall()


KEY = ", ".join(snds.DCIR_JOIN_KEY)


class TestSyntheticIds:
    def test_distinct_inputs_give_distinct_seventeen_character_pseudonyms(self):
        ids = synthetic_ids("SYN", np.arange(200_000, dtype=np.uint64)).to_pylist()
        assert len(set(ids)) == 200_000
        assert all(len(i) == 17 and i.startswith("SYN") for i in ids[:1000])


class TestGenerateClaims:
    def test_writes_exactly_the_requested_number_of_claim_lines(self, warehouse):
        assert warehouse.row_count("ER_PRS_F") == 60_000
        assert warehouse.manifest()["tables"]["ER_PRS_F"] == 60_000

    def test_the_nine_column_key_is_unique_and_every_detail_row_joins_on_it(self, warehouse):
        assert sql(warehouse, f"SELECT COUNT(*) - COUNT(DISTINCT ({KEY})) FROM ER_PRS_F")[0][0] == 0
        for detail in ("ER_PHA_F", "ER_ETE_F"):
            orphans = sql(warehouse, f"SELECT COUNT(*) FROM {detail} d ANTI JOIN ER_PRS_F p USING ({KEY})")
            assert orphans[0][0] == 0, detail
        assert sql(warehouse, "SELECT COUNT(*) FROM ER_PHA_F")[0][0] > 0

    def test_every_claim_belongs_to_a_beneficiary_living_in_a_commune_of_the_territory(self, warehouse):
        assert sql(warehouse, "SELECT COUNT(*) FROM ER_PRS_F p ANTI JOIN IR_BEN_R b USING (BEN_NIR_PSA, BEN_RNG_GEM)"
                   )[0][0] == 0
        outside = sql(warehouse, """
            SELECT COUNT(*) FROM IR_BEN_R b ANTI JOIN COMMUNES c
            ON c.code_insee = substr(b.BEN_RES_DPT, 2, 2) || b.BEN_RES_COM""")
        assert outside[0][0] == 0

    def test_hospital_stays_chain_to_beneficiaries_except_the_placeholder_patients(self, warehouse):
        rows = sql(warehouse, """
            SELECT COUNT(*) FROM T_MCOC c ANTI JOIN IR_BEN_R b ON b.BEN_NIR_PSA = c.NIR_ANO_17
            WHERE c.NIR_ANO_17 <> 'xxxxxxxxxxxxxxxxx'""")
        assert rows[0][0] == 0
        assert sql(warehouse, "SELECT COUNT(*) FROM T_MCOB b ANTI JOIN T_MCOC c USING (ETA_NUM, RSA_NUM)")[0][0] == 0
        assert sql(warehouse, "SELECT COUNT(*) FROM T_MCOD d ANTI JOIN T_MCOB b USING (ETA_NUM, RSA_NUM)")[0][0] == 0

    def test_the_cases_the_query_rules_exist_for_are_all_present(self, warehouse):
        [(info, complement, negative, late, t2a, tele, expertise)] = sql(warehouse, """
            SELECT SUM((DPN_QLF = 71)::INT), SUM((CPL_MAJ_TOP >= 2)::INT), SUM((PRS_ACT_QTE < 0)::INT),
                   SUM((FLX_DIS_DTD >= DATE '2026-07-01')::INT),
                   (SELECT SUM((ETE_IND_TAA = 1)::INT) FROM ER_ETE_F),
                   SUM((PRS_NAT_REF IN (1191, 1192))::INT), SUM((PRS_NAT_REF = 1194)::INT)
            FROM ER_PRS_F""")
        assert min(info, complement, negative, late, t2a, tele, expertise) > 0

    def test_every_file_and_the_manifest_say_the_data_is_synthetic(self, warehouse):
        assert warehouse.manifest()["synthetic"] is True
        assert "SYNTHÉTIQUES" in warehouse.manifest()["notice"]
        for path in warehouse.table_dir("ER_PRS_F").glob("*.parquet"):
            assert pq.read_schema(path).metadata[b"maillage.synthetic"] == b"true"

    def test_the_same_seed_gives_the_same_data(self, tmp_path, territory):
        first, second = Warehouse(tmp_path / "a"), Warehouse(tmp_path / "b")
        for wh in (first, second):
            generate_claims(wh, territory, rows=3_000, seed=5, year=2025, chunk_rows=1_000)
        assert first.read_table("ER_PRS_F").equals(second.read_table("ER_PRS_F"))

    def test_progress_is_reported_chunk_by_chunk(self, fresh_warehouse, territory):
        seen: list[int] = []
        generate_claims(fresh_warehouse, territory, rows=2_500, seed=1, year=2025, chunk_rows=1_000,
                        progress=seen.append)
        assert seen == [1_000, 1_000, 500]

    @pytest.mark.parametrize("rows", [999, MAX_ROWS + 1])
    def test_sizes_outside_the_supported_range_are_refused_before_anything_is_written(
            self, fresh_warehouse, territory, rows):
        with pytest.raises(ValidationFailed, match="lignes"):
            generate_claims(fresh_warehouse, territory, rows=rows, seed=1, year=2025)
        assert fresh_warehouse.table_names() == []
