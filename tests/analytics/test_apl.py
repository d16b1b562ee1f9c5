"""APL: the one set-based 2SFCA query against PySAL access, the travel-time approximation, the parameters."""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from maillage.analytics import apl, service
from maillage.analytics.catalogue import get_indicator
from maillage.demo.communes import synthetic_communes
from maillage.exceptions import ValidationFailed


def od_frame(communes: pd.DataFrame, params: apl.AplParameters = apl.DEFAULT_PARAMETERS) -> pd.DataFrame:
    expr = apl.approximate_travel_times(ibis.memtable(communes), params)
    return expr.to_pandas().sort_values(["origine", "destination"]).reset_index(drop=True)


def brute_force_od(communes: pd.DataFrame, params: apl.AplParameters) -> pd.DataFrame:
    lat = np.radians(communes.latitude.to_numpy())
    lon = np.radians(communes.longitude.to_numpy())
    dphi = lat[None, :] - lat[:, None]
    dlmb = lon[None, :] - lon[:, None]
    h = np.sin(dphi / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlmb / 2) ** 2
    minutes = 2 * apl.EARTH_RADIUS_KM * np.arcsin(np.sqrt(h)) * params.detour_factor / params.speed_kmh * 60
    np.fill_diagonal(minutes, 0.0)
    i, j = np.nonzero(minutes <= params.catchment_minutes)
    codes = communes.code_insee.to_numpy()
    return pd.DataFrame({"origine": codes[i], "destination": codes[j], "minutes": minutes[i, j]}).sort_values(
        ["origine", "destination"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    communes = synthetic_communes(400, seed=8)
    rng = np.random.default_rng(4)
    demand = pd.DataFrame({"code": communes.code_insee, "demande": communes.population * rng.uniform(0.7, 1.3, 400)})
    offering = communes.sample(60, random_state=1)
    supply = pd.DataFrame({"code": offering.code_insee, "offre": rng.uniform(0.2, 3.0, 60) * 5400})
    return demand, supply, od_frame(communes)


class TestTwoStepFca:
    def test_matches_pysal_access_on_the_same_inputs_within_1e_9(self, inputs):
        demand, supply, od = inputs
        ours = apl.two_step_fca(ibis.memtable(demand), ibis.memtable(supply), ibis.memtable(od),
                                apl.DEFAULT_PARAMETERS).to_pandas().set_index("code")["apl"]
        reference = apl.reference_apl(demand, supply, od)
        assert (ours > 0).sum() > 100
        diff = (ours.reindex(reference.index) - reference).abs().max()
        assert diff <= 1e-9

    def test_is_one_query_without_python_callbacks(self, inputs):
        demand, supply, od = inputs
        expr = apl.two_step_fca(ibis.memtable(demand), ibis.memtable(supply), ibis.memtable(od),
                                apl.DEFAULT_PARAMETERS)
        sql = ibis.to_sql(expr, dialect="duckdb")
        assert sql.count("SELECT") >= 3 and "udf" not in sql.lower()

    def test_supply_beyond_the_catchment_gives_no_access(self):
        demand = pd.DataFrame({"code": ["a", "b"], "demande": [100.0, 100.0]})
        supply = pd.DataFrame({"code": ["a"], "offre": [5400.0]})
        od = pd.DataFrame({"origine": ["a", "b", "a", "b"], "destination": ["a", "a", "b", "b"],
                           "minutes": [0.0, 25.0, 25.0, 0.0]})
        out = apl.two_step_fca(ibis.memtable(demand), ibis.memtable(supply), ibis.memtable(od),
                               apl.DEFAULT_PARAMETERS).to_pandas().set_index("code")["apl"]
        assert out.to_dict() == {"a": 54.0, "b": 0.0}

    def test_the_decay_weights_apply_in_both_steps(self):
        """12 minutes away: weight 0.66 on the demand seen by the GP and on the ratio reaching the commune."""
        demand = pd.DataFrame({"code": ["a", "b"], "demande": [100.0, 50.0]})
        supply = pd.DataFrame({"code": ["a"], "offre": [1000.0]})
        od = pd.DataFrame({"origine": ["a", "b", "a", "b"], "destination": ["a", "a", "b", "b"],
                           "minutes": [0.0, 12.0, 12.0, 0.0]})
        out = apl.two_step_fca(ibis.memtable(demand), ibis.memtable(supply), ibis.memtable(od),
                               apl.DEFAULT_PARAMETERS).to_pandas().set_index("code")["apl"]
        ratio = 1000.0 / (100.0 + 0.66 * 50.0)
        assert out["a"] == pytest.approx(ratio) and out["b"] == pytest.approx(0.66 * ratio)


class TestApproximateTravelTimes:
    def test_finds_every_pair_within_the_catchment_with_exact_great_circle_times(self):
        communes = synthetic_communes(300, seed=2)
        params = apl.DEFAULT_PARAMETERS
        ours, expected = od_frame(communes, params), brute_force_od(communes, params)
        assert ours[["origine", "destination"]].equals(expected[["origine", "destination"]])
        assert np.abs(ours.minutes.to_numpy() - expected.minutes.to_numpy()).max() < 1e-9

    def test_twenty_minutes_reach_about_fifteen_kilometres_as_the_crow_flies(self):
        assert apl.DEFAULT_PARAMETERS.reach_km == pytest.approx(20 / 60 * 60 / 1.3)

    def test_a_commune_is_zero_minutes_from_itself(self):
        communes = synthetic_communes(20, seed=1)
        od = od_frame(communes)
        assert (od[od.origine == od.destination].minutes == 0).all()
        assert (od.origine == od.destination).sum() == 20


class TestParameters:
    def test_the_unverified_values_are_flagged_to_verify(self):
        assert set(apl.AplParameters.UNVERIFIED) == {"decay", "min_activity", "fte_cap"}
        flagged = {p.name for p in get_indicator("apl-mg").parameters if not p.verified}
        assert flagged == {"paliers", "activite_minimale"}

    def test_the_desert_threshold_is_two_and_a_half_consultations(self):
        """"inférieure à 2,5 consultations par an et par habitant" (DREES, Dossiers n° 17)."""
        assert apl.DEFAULT_PARAMETERS.desert_threshold == 2.5

    def test_decay_steps_are_parsed_and_checked(self):
        assert apl.parse_decay("10:1;15:0.66;20:0.33") == apl.DEFAULT_PARAMETERS.decay
        with pytest.raises(ValidationFailed):
            apl.parse_decay("dix:1")
        with pytest.raises(ValidationFailed):
            apl.AplParameters(decay=((15.0, 1.0), (10.0, 0.5)))
        with pytest.raises(ValidationFailed):
            apl.AplParameters(decay=((30.0, 1.0),))


class TestAplIndicator:
    def test_flags_communes_under_the_threshold_as_deserts(self, warehouse, duckdb_engine):
        frame = service.compute(get_indicator("apl-mg"), get_indicator("apl-mg").resolve_params({}), warehouse,
                                duckdb_engine).frame
        assert ((frame.apl < 2.5) == (frame.desert == 1)).all()
        assert frame.population_standardisee.sum() == pytest.approx(frame.population.sum(), rel=1e-9)
        assert (frame.medecins_etp > 0).any() and (frame.apl > 0).any()

    def test_a_supplied_travel_time_matrix_replaces_the_approximation(self, warehouse, tmp_path, duckdb_engine):
        from maillage.analytics.warehouse import Warehouse

        copy = Warehouse(tmp_path / "copie")
        for name in warehouse.table_names():
            copy.write_table(name, warehouse.read_table(name), synthetic=True)
        codes = copy.read_table("COMMUNES").column("code_insee").to_pylist()
        # A matrix where every commune is alone: each commune only reaches its own GPs.
        copy.write_table("TEMPS_TRAJET", pa.table({"origine": codes, "destination": codes,
                                                   "minutes": [0.0] * len(codes)}), synthetic=False)
        indicator = get_indicator("apl-mg")
        frame = service.compute(indicator, indicator.resolve_params({}), copy, duckdb_engine).frame
        without_gp = frame[frame.medecins_etp == 0]
        assert len(without_gp) and (without_gp.apl == 0).all()
        assert not math.isnan(frame.apl.sum())
