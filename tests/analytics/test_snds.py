"""The SNDS subset: table definitions, join keys, residence codes."""

from __future__ import annotations

import pytest

from maillage.analytics import snds


class TestJoinKeys:
    def test_the_dcir_join_key_has_the_nine_documented_columns(self):
        """"9 clés de jointure entre la table ER_PRS_F et les tables affinées" (essentiel_snds.md)."""
        assert set(snds.DCIR_JOIN_KEY) == {
            "FLX_DIS_DTD", "FLX_TRT_DTD", "FLX_EMT_TYP", "FLX_EMT_NUM", "FLX_EMT_ORD", "ORG_CLE_NUM",
            "DCT_ORD_NUM", "PRS_ORD_NUM", "REM_TYP_AFF",
        }
        assert len(snds.DCIR_JOIN_KEY) == 9

    def test_the_decompte_key_leaves_out_the_prestation_number_and_reimbursement_type(self):
        """ER_DCT_F joins on "7 clés de jointure seulement" (fiches/tables_affinees.md)."""
        assert len(snds.DCIR_DECOMPTE_KEY) == 7
        assert "PRS_ORD_NUM" not in snds.DCIR_DECOMPTE_KEY and "REM_TYP_AFF" not in snds.DCIR_DECOMPTE_KEY

    @pytest.mark.parametrize("table", ["ER_PRS_F", "ER_PHA_F", "ER_ETE_F"])
    def test_dcir_tables_carry_the_whole_join_key(self, table):
        assert set(snds.DCIR_JOIN_KEY) <= set(snds.TABLES[table].column_names)

    def test_beneficiaries_are_keyed_by_pseudonym_and_twin_rank(self):
        """BEN_NIR_PSA alone does not separate same-sex twins: "Unicité fausse sans le rang gémellaire"."""
        assert snds.IR_BEN_R.primary_key == ("BEN_NIR_PSA", "BEN_RNG_GEM")

    def test_a_pmsi_stay_is_identified_by_establishment_and_rsa_number(self):
        assert snds.T_MCOB.primary_key == ("ETA_NUM", "RSA_NUM") == snds.T_MCOC.primary_key


class TestSchemas:
    def test_every_column_has_a_french_description(self):
        for table in snds.TABLES.values():
            for column in table.columns:
                assert column.description, f"{table.name}.{column.name}"

    def test_the_arrow_schema_lists_the_columns_in_order(self):
        assert snds.ER_PRS_F.schema.names == snds.ER_PRS_F.column_names

    def test_the_only_non_snds_column_of_the_directory_says_so(self):
        assert "hors SNDS" in next(c.description for c in snds.DA_PRA_R.columns if c.name == "PFS_EXC_COM")

    def test_the_duplicate_finess_list_has_the_46_documented_numbers(self):
        assert len(snds.DUPLICATE_FINESS) == 46
        assert all(len(f) == 9 and f.isdigit() for f in snds.DUPLICATE_FINESS)


class TestResidenceCodes:
    @pytest.mark.parametrize(("insee", "pair"), [
        ("01001", ("001", "001")), ("75056", ("075", "056")), ("2A004", ("02A", "004")), ("97101", ("971", "101")),
    ])
    def test_insee_and_snds_residence_codes_convert_both_ways(self, insee, pair):
        assert snds.snds_residence(insee) == pair
        assert snds.insee_commune(*pair) == insee


class TestNomenclatures:
    def test_telemedicine_codes_are_those_of_the_hdh_worked_query(self):
        """HDH query for teleconsultations: PRS_NAT_REF in (1096, 1157, 1164, 1191, 1192)."""
        assert {1096, 1157, 1164, 1191, 1192} == snds.TELECONSULTATION_CODES

    def test_teleexpertise_and_consultation_codes_do_not_overlap(self):
        assert not snds.TELEEXPERTISE_CODES & snds.TELECONSULTATION_CODES
        assert not snds.CONSULTATION_CODES & snds.TELECONSULTATION_CODES
