"""The demo's risk model: trained at demo time on a small synthetic cohort (fixed seed, a few seconds), activated
with the approval of the team's physician, then the heart-failure patients of the demo nurse scored, so her
worklist shows a risk band and its factors next to each alert."""

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

PHYSICIAN = "dr.martin"
DEMO_PATIENTS = 300
DEMO_GRID: dict[str, list[Any]] = {"num_leaves": [7, 15], "learning_rate": [0.1], "n_estimators": [100]}


def seed_demo_prediction(session: Session, id_for: Callable[[str], uuid.UUID], seed: int, day: dt.datetime) -> int:
    """Train, activate and score (the caller commits). Returns how many enrolments were scored."""
    with frozen(day - dt.timedelta(hours=2)):
        model = predict.train_synthetic(session, patients=DEMO_PATIENTS, seed=seed, every=7, rounds=50,
                                        grid=DEMO_GRID, model_id=id_for("predict/model"))
        physician = session.scalars(select(UserAccount.id).where(UserAccount.username == PHYSICIAN)).one()
        predict.activate(session, model.id, physician)
    with frozen(day):
        return predict.score_due(session)
