"""Model 2, unplanned hospitalisation within 12 months at population level (issue 25): the pipeline recovers the
planted effect of the documented generator, and only gated aggregates leave, which the linear-programming attacker
(finding 3) cannot narrow below the protection interval."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from maillage.analytics.gate import FORBIDDEN_COLUMNS, MASKED, publish
from maillage.analytics.predict import pipeline, population
from maillage.demo.communes import synthetic_communes
from tests.analytics.lp_attack import small_cells, unprotected

THRESHOLD = 11
GRID = {"num_leaves": [7], "learning_rate": [0.05], "n_estimators": [150]}


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    communes = synthetic_communes(10, seed=5, departements=2)
    people = population.generate(communes, 15_000, seed=3)
    train_rows, _ = population.person_years(people, 0)
    test_rows, places = population.person_years(people, 1)
    model = pipeline.train(train_rows, seed=3, temporal=False, grid=GRID)
    metrics = pipeline.evaluate(model, test_rows, seed=3, rounds=40)
    p = model.predict(test_rows.X)
    parents = dict(zip(communes["code_insee"], communes["departement"], strict=True))
    raw = population.aggregate(places, test_rows.y, p)
    return {"metrics": metrics, "raw": raw, "gated": publish(population.AGGREGATES, raw, geo_parent=parents),
            "parents": parents, "places": places, "y": test_rows.y, "p": p}


class TestThePipelineRecoversThePlantedEffect:
    def test_discrimination_and_calibration_on_the_later_year(self, run):
        metrics = run["metrics"]
        # The planted logistic model with a latent frailty gives an AUC near 0.76 at best; 0.70 is the stated floor.
        assert metrics["roc_auc"] > 0.70 and metrics["intervals"]["model_roc_auc"][0] > 0.68
        assert 0.8 <= metrics["calibration_slope"] <= 1.25
        assert {g["attribute"] for g in metrics["subgroups"]} == {"Tranche d'âge", "Sexe"}

    def test_expected_and_observed_agree_on_the_whole_territory(self, run):
        total = run["gated"].frame.query("niveau_geo == 'territoire' and tranche_age == 'Ensemble'").iloc[0]
        assert 0.8 <= total["attendus_sur_observes"] <= 1.25


class TestOnlyGatedAggregatesLeave:
    def test_no_identifier_and_no_person_level_row(self, run):
        frame = run["gated"].frame
        assert not set(frame.columns) & FORBIDDEN_COLUMNS
        assert set(frame.columns) <= {*population.AGGREGATES.dimension_columns,
                                      *population.AGGREGATES.measure_names, "secret"}
        assert len(frame) < len(run["places"]) / 50  # aggregates, not persons

    def test_every_published_count_is_at_least_the_threshold(self, run):
        frame = run["gated"].frame
        shown = frame[frame["secret"] == ""]
        assert (shown[["personnes", "hospitalises"]] >= THRESHOLD).all(axis=None)
        masked = frame[frame["secret"] != ""]
        assert len(masked) and set(masked["secret"]) == {MASKED}
        assert masked[[m.name for m in population.AGGREGATES.measures]].isna().all(axis=None)

    def test_the_attacker_narrows_no_small_cell_below_its_protection_interval(self, run):
        indicator, raw, gated = population.AGGREGATES, run["raw"], run["gated"]
        assert small_cells(indicator, raw, gated.frame, THRESHOLD), "the territory has small cells"
        assert unprotected(indicator, raw, gated.frame, run["parents"], THRESHOLD) == {}

    def test_the_same_attacker_recovers_cells_when_only_small_cells_are_masked(self, run):
        """Control: the attacker is real. Masking small cells alone leaves them computable from the margins."""
        indicator, raw = population.AGGREGATES, run["raw"]
        small = (raw[["personnes", "hospitalises"]] < THRESHOLD).any(axis=1).to_numpy()
        weak = raw.copy()
        for m in indicator.measures:
            weak[m.name] = weak[m.name].astype("float64").where(~small)
        weak["secret"] = np.where(small, MASKED, "")
        leaks = unprotected(indicator, raw, weak, run["parents"], THRESHOLD)
        assert leaks
        for (pos, name), found in leaks.items():
            assert found.low - 1e-6 <= raw.loc[pos, name] <= found.high + 1e-6

    def test_a_subgroup_attribute_with_a_small_group_is_left_out_whole(self):
        groups = [{"attribute": "Sexe", "group": "F", "n": 500, "events": 40},
                  {"attribute": "Sexe", "group": "M", "n": 480, "events": 9},
                  {"attribute": "Tranche d'âge", "group": "0-44", "n": 600, "events": 20},
                  {"attribute": "Tranche d'âge", "group": "45-64", "n": 380, "events": 29}]
        kept = population.gated_subgroups(groups, THRESHOLD)
        assert {g["attribute"] for g in kept} == {"Tranche d'âge"}


def test_the_generator_is_reproducible_and_documented_effects_hold():
    communes = synthetic_communes(4, seed=1, departements=1)
    a, b = population.generate(communes, 3_000, seed=9), population.generate(communes, 3_000, seed=9)
    assert (a.stays == b.stays).all() and (a.commune == b.commune).all()
    rate = pd.Series(a.stays[:, 1] > 0).groupby(a.ald[:, 1]).mean()
    assert rate[1] > rate[0]  # the planted effect of a long-term condition
