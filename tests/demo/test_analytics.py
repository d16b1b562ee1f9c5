"""The demo's analytics: a year of synthetic claims for the demo's own département, with figures the gate lets out.

Lozère (48) keeps the test short: the same code fills Haute-Vienne (87) for ``maillage demo``.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.compute as pc
import pytest

from maillage.analytics import engines, service
from maillage.analytics.gate import GateConfig
from maillage.analytics.warehouse import Warehouse
from maillage.demo import territory
from maillage.demo.analytics import CARE_YEAR, claim_rows, fill_claims, gp_practice_communes
from maillage.demo.territory_plan import TerritoryPlan

DEPARTEMENT = "48"


@pytest.fixture(scope="module")
def lozere() -> TerritoryPlan:
    return territory.build_territory(DEPARTEMENT, 1)


@pytest.fixture(scope="module")
def demo_warehouse(lozere: TerritoryPlan, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    warehouse = Warehouse(tmp_path_factory.mktemp("demo-analytics") / "warehouse")
    fill_claims(warehouse, lozere)
    service.refresh_results(warehouse, engines.EngineConfig(name="duckdb"), GateConfig())
    return warehouse


def gated(warehouse: Warehouse, code: str) -> pd.DataFrame:
    result = service.latest_result(warehouse, code)
    assert result is not None, f"{code} was computed at demo time"
    return service.gated_result(warehouse, result, GateConfig()).frame


class TestDemoClaims:
    def test_the_claims_cover_the_demo_departement_only_one_beneficiary_per_inhabitant(self, demo_warehouse):
        communes = demo_warehouse.read_table("COMMUNES").to_pandas()
        assert set(communes.departement) == {DEPARTEMENT}
        beneficiaries = demo_warehouse.read_table("IR_BEN_R")
        assert set(pc.unique(beneficiaries.column("BEN_RES_DPT")).to_pylist()) == {"048"}
        assert beneficiaries.num_rows == int(communes.population.sum())
        assert demo_warehouse.row_count("ER_PRS_F") == claim_rows(int(communes.population.sum()))
        practitioners = demo_warehouse.read_table("DA_PRA_R").to_pandas()
        assert set(practitioners.PFS_EXC_COM.str[:2]) == {DEPARTEMENT}
        manifest = demo_warehouse.manifest()
        assert manifest["synthetic"] is True and manifest["territory"] == DEPARTEMENT
        assert manifest["care_year"] == CARE_YEAR

    def test_gps_work_in_groups_of_three_with_one_where_the_directory_has_a_practice(self, demo_warehouse, lozere):
        practitioners = demo_warehouse.read_table("DA_PRA_R").to_pandas()
        gps = practitioners[practitioners.PFS_PRA_SPE.isin([1, 22])]
        per_commune = gps.groupby("PFS_EXC_COM").size()
        assert per_commune.min() >= 3
        assert set(gp_practice_communes(lozere)) <= set(per_commune.index)

    def test_every_indicator_is_stored_and_gated_at_demo_time(self, demo_warehouse):
        for code in ("consultations-mg", "telemedecine", "apl-mg"):
            assert service.default_year(demo_warehouse, code) == CARE_YEAR
            assert list((demo_warehouse.results_dir / code / "gated").glob("*.parquet"))


class TestDemoFigures:
    def test_the_apl_is_published_and_not_zero_for_the_departement(self, demo_warehouse, lozere):
        apl = gated(demo_warehouse, "apl-mg")
        communes = apl[apl.niveau_geo == "commune"]
        assert communes.apl.notna().mean() > 0.9
        assert (communes.apl > 0).mean() > 0.8
        assert 1.0 < communes.apl.median() < 8.0
        practices = communes[communes.code_geo.isin(gp_practice_communes(lozere))]
        assert (practices.medecins_etp > 0).all()

    def test_most_commune_figures_pass_the_gate(self, demo_warehouse):
        consultations = gated(demo_warehouse, "consultations-mg")
        communes = consultations[consultations.niveau_geo == "commune"]
        assert communes.taux.notna().mean() > 0.8 and (communes.taux.dropna() > 0).all()
        telemedicine = gated(demo_warehouse, "telemedecine")
        assert telemedicine[telemedicine.niveau_geo == "commune"].patients.notna().mean() > 0.5

    def test_the_gate_still_masks_the_small_communes(self, demo_warehouse):
        raw = service.latest_result(demo_warehouse, "consultations-mg")
        assert raw is not None
        out = gated(demo_warehouse, "consultations-mg")
        small = (raw.frame.patients < GateConfig().threshold).to_numpy()
        assert small.any(), "Lozère has communes too small to publish"
        assert out.loc[small, "patients"].isna().all()
