"""Risk models against a migrated database: activation refused to a model that loses to the weight rule, the
worker's batched scoring of the enrolments with new readings, and the worklist showing (and auditing) the scores."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from maillage.analytics.predict import pipeline, service, synthetic
from maillage.exceptions import Conflict
from maillage.models.prediction import PredictionModel, PredictionScore
from maillage.monitoring import ingest
from maillage.monitoring import service as monitoring
from tests.monitoring.conftest import weights
from tests.monitoring.test_service import listed_by

WINNING = {"roc_auc": 0.72, "pr_auc": 0.12, "rule": {"roc_auc": 0.51, "pr_auc": 0.05},
           "intervals": {"roc_auc_gain": [0.15, 0.25]},
           "decision_curve": [{"threshold": 0.05, "model": 0.01, "rule": 0.0005}]}
LOSING = {**WINNING, "roc_auc": 0.50, "intervals": {"roc_auc_gain": [-0.05, 0.02]}}


@pytest.fixture(scope="module")
def artefact() -> dict[str, Any]:
    cohort = synthetic.generate(150, seed=5)
    train_rows, _ = pipeline.temporal_split(pipeline.synthetic_dataset(cohort, every=7), 240)
    model = pipeline.train(train_rows, seed=5, grid={"num_leaves": [7], "learning_rate": [0.1], "n_estimators": [40]})
    return model.to_dict()


def stored(db: Any, artefact: dict[str, Any], metrics: dict[str, Any], version: int = 1) -> PredictionModel:
    model = PredictionModel(name=service.MODEL_NAME, version=version, status="trained", data_window={},
                            code_version=service.code_version(), metrics=metrics, artefact=artefact)
    db.add(model)
    db.flush()
    return model


class TestActivate:
    def test_a_model_that_loses_to_the_rule_is_refused_and_recorded_as_refused(self, db, artefact):
        model = stored(db, artefact, LOSING)
        with pytest.raises(Conflict):
            service.activate(db, model.id, None)
        assert model.status == "refused" and model.refusal
        assert service.score_due(db) == 0  # nothing active, nothing scored

    def test_a_model_that_beats_the_rule_replaces_the_active_one(self, db, artefact, world):
        first = service.activate(db, stored(db, artefact, WINNING).id, world.users["physician"].id)
        second = service.activate(db, stored(db, artefact, WINNING, version=2).id, world.users["physician"].id)
        assert (first.status, second.status) == ("retired", "active")
        assert second.approved_by == world.users["physician"].id and second.approved_at is not None


class TestScoreDue:
    def test_new_readings_are_scored_once_in_a_batch_and_shown_audited_in_the_worklist(self, db, artefact, world):
        service.activate(db, stored(db, artefact, WINNING).id, None)
        ingest.ingest(db, world.device, weights((6, 78.0), (5, 78.2), (3, 78.4), (2, 79.5), (1, 80.4), (0, 81.2)))
        assert service.score_due(db) == 1
        assert service.score_due(db) == 0  # idempotent: nothing new
        score = db.scalars(select(PredictionScore)).one()
        assert score.band == pipeline.band(score.probability)
        assert 0 < len(score.factors) <= 3 and all(f["text"] for f in score.factors)

        work = monitoring.worklist(db, world.nurse, by_risk=True)
        assert work.scores[world.enrolment.id].probability == score.probability
        assert listed_by(db, world.nurse, "prediction_score") == [str(world.patient_id)]

    def test_an_enrolment_of_another_programme_is_not_scored(self, db, artefact, world):
        service.activate(db, stored(db, artefact, WINNING).id, None)
        world.enrolment.programme = "diabetes"
        db.flush()
        assert service.score_due(db) == 0

    def test_an_unknown_model_is_not_found(self, db):
        from maillage.exceptions import NotFound

        with pytest.raises(NotFound):
            service.activate(db, uuid.uuid4(), None)
