"""The demo's risk models, trained at demo time (fixed seed, a few seconds each).

Model 1 on a small synthetic cohort, activated with the approval of the team's physician, then the heart-failure
patients of the demo nurse scored, so her worklist shows a risk band and its factors next to each alert. Model 2 on a
synthetic population placed on the demo territory's communes, so the analysts' page shows its evaluation and its
gated aggregates."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.analytics.predict import service as predict
from maillage.kit.clock import frozen
from maillage.models.auth import UserAccount
from maillage.models.prediction import PredictionModel

PHYSICIAN = "dr.martin"
DEMO_PATIENTS = 300
DEMO_GRID: dict[str, list[Any]] = {"num_leaves": [7, 15], "learning_rate": [0.1], "n_estimators": [100]}
POPULATION_PERSONS = 8_000
POPULATION_GRID: dict[str, list[Any]] = {"num_leaves": [7], "learning_rate": [0.05], "n_estimators": [80]}


def seed_demo_prediction(session: Session, id_for: Callable[[str], uuid.UUID], seed: int, day: dt.datetime) -> int:
    """Train, activate and score (the caller commits). Returns how many enrolments were scored."""
    with frozen(day - dt.timedelta(hours=2)):
        model = predict.train_synthetic(session, patients=DEMO_PATIENTS, seed=seed, every=7, rounds=50,
                                        grid=DEMO_GRID, model_id=id_for("predict/model"))
        physician = session.scalars(select(UserAccount.id).where(UserAccount.username == PHYSICIAN)).one()
        predict.activate(session, model.id, physician)
    with frozen(day):
        return predict.score_due(session)


def seed_demo_population(session: Session, communes: Any, seed: int) -> PredictionModel:
    """Model 2 trained on a synthetic population of ``communes`` (the warehouse's table), its aggregates gated (the
    caller commits)."""
    return predict.train_population(session, communes, persons=POPULATION_PERSONS, seed=seed, rounds=20,
                                    grid=POPULATION_GRID)
