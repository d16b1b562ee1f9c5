"""The worker's scoring job: every few minutes, one batch of the heart-failure enrolments that received readings
since their score (never on the ingestion path). Idempotent: a rerun finds nothing due."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maillage.analytics.predict import service
from maillage.worker.registry import job, periodic

SCORE_EVERY = dt.timedelta(minutes=5)


@job("predict.score")
def score_job(session: Session, limit: int = 500) -> int:
    return service.score_due(session, limit=limit)


periodic("predict.score", every=SCORE_EVERY)
