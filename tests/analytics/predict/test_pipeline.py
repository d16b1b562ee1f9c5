"""The risk pipeline on the synthetic cohort (docs/predict.md): it recovers the planted effect, beats the
programme's weight rule (DOMAIN.md §3.1), refuses a model that does not; it runs end to end on WHAS500."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maillage.analytics.predict import features, pipeline, synthetic

# Stated bounds for the planted effect at this size (400 patients, one day in three): the test-period ROC AUC is
# about 0.70 (an oracle that knows the hidden fluid does not reach 0.80: decompensation stays a chance event).
AUC_FLOOR = 0.62
SLOPE_RANGE = (0.6, 1.5)


@pytest.fixture(scope="module")
def trained() -> tuple[pipeline.TrainedModel, pipeline.Dataset, dict]:
    cohort = synthetic.generate(400, seed=1)
    train_rows, test_rows = pipeline.temporal_split(pipeline.synthetic_dataset(cohort), 240)
    model = pipeline.train(train_rows, seed=1, grid={"num_leaves": [7, 15], "learning_rate": [0.1],
                                                     "n_estimators": [100]})
    return model, test_rows, pipeline.evaluate(model, test_rows, seed=1, rounds=60)


class TestSyntheticCohort:
    def test_the_label_is_a_decompensation_starting_in_the_next_fourteen_days(self):
        cohort = synthetic.generate(50, seed=3)
        label = cohort.label()
        patient, day = np.argwhere(cohort.onset)[0]
        if day >= 1:
            assert label[patient, day - 1] == 1 or np.isnan(label[patient, day - 1])
        assert np.all(np.isnan(label[:, -synthetic.HORIZON:]))

    def test_weight_gain_precedes_decompensation(self):
        """The planted effect: the hidden fluid (hence the weight) is higher in the week before an onset."""
        cohort = synthetic.generate(300, seed=4)
        patients, days = np.nonzero(cohort.onset[:, 8:])
        before = cohort.fluid[patients, days + 8 - 1].mean()
        assert before > 3 * cohort.fluid.mean()

    def test_the_same_seed_gives_the_same_cohort(self):
        a, b = synthetic.generate(30, seed=9), synthetic.generate(30, seed=9)
        assert np.array_equal(a.onset, b.onset) and np.allclose(a.weight, b.weight, equal_nan=True)


class TestRuleBaseline:
    def test_the_weight_rule_fires_above_two_kilos_over_the_three_previous_days(self):
        """DOMAIN.md §3.1: W(today) − W(3 days ago) > 2 kg → alert (the programme's ``weight_gain_3d``)."""
        weight = np.array([[70.0, 70.5, 71.0, 72.1, np.nan, 72.0], [70.0, 70.0, 70.0, 72.0, 72.0, 72.0]])
        fired = features.rule_alerts(weight)
        assert fired.tolist() == [[False, False, False, True, False, False], [False] * 6]


class TestPlantedEffectRecovered:
    def test_discrimination_above_the_stated_bound(self, trained):
        _, _, metrics = trained
        assert metrics["roc_auc"] > AUC_FLOOR
        low, high = metrics["intervals"]["model_roc_auc"]
        assert low < metrics["roc_auc"] < high

    def test_calibration_slope_in_the_stated_range(self, trained):
        _, _, metrics = trained
        assert SLOPE_RANGE[0] < metrics["calibration_slope"] < SLOPE_RANGE[1]
        assert 0 < metrics["brier"] < metrics["prevalence"]
        assert len(metrics["reliability"]) == 10

    def test_the_model_beats_the_weight_rule(self, trained):
        _, _, metrics = trained
        assert metrics["roc_auc"] > metrics["rule"]["roc_auc"]
        assert metrics["beats_baseline"] is True

    def test_weight_gain_is_among_the_top_factors_of_a_patient_gaining_weight(self, trained):
        model, test_rows, _ = trained
        gaining = test_rows.X[test_rows.X[:, features.FEATURES.index("weight_change_7d")] > 2.5][:20]
        tops = pipeline.top_factors(model, gaining)
        assert sum(any(name.startswith("weight_change") for name, _, _ in top) for top in tops) >= len(tops) * 0.8
        assert features.describe("weight_change_3d", 2.44) == "Variation de poids sur 3 jours : +2,4 kg"

    def test_subgroups_by_age_band_and_sex(self, trained):
        _, _, metrics = trained
        attributes = {row["attribute"] for row in metrics["subgroups"]}
        assert attributes == {"Tranche d'âge", "Sexe"}
        assert sum(row["n"] for row in metrics["subgroups"] if row["attribute"] == "Sexe") == metrics["n"]


class TestActivationRule:
    def test_a_model_without_signal_does_not_beat_the_rule(self, trained):
        _, test_rows, _ = trained
        cohort = synthetic.generate(200, seed=2)
        train_rows, _ = pipeline.temporal_split(pipeline.synthetic_dataset(cohort), 240)
        shuffled = pipeline.Dataset(train_rows.X, np.random.default_rng(0).permutation(train_rows.y),
                                    train_rows.day, train_rows.patient, train_rows.age_band, train_rows.sex,
                                    train_rows.rule)
        noise = pipeline.train(shuffled, seed=0, grid={"num_leaves": [7], "learning_rate": [0.1],
                                                       "n_estimators": [50]})
        metrics = pipeline.evaluate(noise, test_rows, seed=0, rounds=30)
        assert metrics["beats_baseline"] is False

    def test_no_rule_means_no_activation(self):
        assert pipeline.beats_baseline({"roc_auc": 0.9, "pr_auc": 0.5, "decision_curve": []}) is False


class TestBands:
    @pytest.mark.parametrize(("p", "name"), [(0.0, "faible"), (0.049, "faible"), (0.05, "modéré"),
                                             (0.149, "modéré"), (0.15, "élevé"), (1.0, "élevé")])
    def test_band_of_a_probability(self, p, name):
        assert pipeline.band(p) == name


class TestWhas500:
    def test_the_pipeline_runs_end_to_end_with_calibration_computed(self):
        """Figures reported in docs/predict.md, not asserted: a real public cohort nobody here generated."""
        pytest.importorskip("sksurv")
        from maillage.analytics.predict import service

        report = service.whas500_report(rounds=20)
        assert report["rows"] > 400
        assert math.isfinite(report["calibration_slope"]) and math.isfinite(report["brier"])
        assert report["reliability"]
