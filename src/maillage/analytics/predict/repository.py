"""Every query of the risk models: the model versions, the enrolments whose score is due, their readings."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.models.monitoring import MonitoringEnrolment, MonitoringReading
from maillage.models.prediction import PredictionModel, PredictionScore


def models(session: Session, name: str) -> list[PredictionModel]:
    return list(session.scalars(select(PredictionModel).where(PredictionModel.name == name)
                                .order_by(PredictionModel.version.desc())))


def get_model(session: Session, model_id: uuid.UUID) -> PredictionModel | None:
    return session.get(PredictionModel, model_id)


def active_model(session: Session, name: str) -> PredictionModel | None:
    return session.scalars(select(PredictionModel).where(PredictionModel.name == name,
                                                         PredictionModel.status == "active")).first()


def next_version(session: Session, name: str) -> int:
    return int(session.scalar(select(func.coalesce(func.max(PredictionModel.version), 0))
                              .where(PredictionModel.name == name)) or 0) + 1


def due_for_scoring(session: Session, programme: str, model_id: uuid.UUID,
                    limit: int) -> list[tuple[uuid.UUID, uuid.UUID, dt.datetime]]:
    """(enrolment, patient, last reading received) of active enrolments of ``programme`` with a reading received
    since their score, or no score of the active model."""
    last = (select(MonitoringReading.enrolment_id, func.max(MonitoringReading.received_at).label("last"))
            .join(MonitoringEnrolment, MonitoringEnrolment.id == MonitoringReading.enrolment_id)
            .where(MonitoringEnrolment.status == "active", MonitoringEnrolment.programme == programme)
            .group_by(MonitoringReading.enrolment_id).subquery())
    rows = session.execute(
        select(MonitoringEnrolment.id, MonitoringEnrolment.patient_id, last.c.last)
        .join(last, last.c.enrolment_id == MonitoringEnrolment.id)
        .outerjoin(PredictionScore, PredictionScore.enrolment_id == MonitoringEnrolment.id)
        .where((PredictionScore.enrolment_id.is_(None)) | (PredictionScore.model_id != model_id)
               | (PredictionScore.readings_until < last.c.last))
        .order_by(MonitoringEnrolment.id).limit(limit))
    return [(r[0], r[1], r[2]) for r in rows]


def readings(session: Session, enrolment_ids: Sequence[uuid.UUID], measures: Sequence[str],
             since: dt.date) -> list[tuple[uuid.UUID, str, dt.date, float]]:
    rows = session.execute(
        select(MonitoringReading.enrolment_id, MonitoringReading.measure, MonitoringReading.local_day,
               MonitoringReading.value)
        .where(MonitoringReading.enrolment_id.in_(list(enrolment_ids)), MonitoringReading.measure.in_(measures),
               MonitoringReading.local_day >= since)
        .order_by(MonitoringReading.taken_at))
    return [(r[0], r[1], r[2], float(r[3])) for r in rows]


def save_scores(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Replace the score of each enrolment (one row per enrolment)."""
    ids = [r["enrolment_id"] for r in rows]
    existing = {s.enrolment_id: s for s in session.scalars(
        select(PredictionScore).where(PredictionScore.enrolment_id.in_(ids)))}
    for row in rows:
        score = existing.get(row["enrolment_id"])  # type: ignore[call-overload]
        if score is None:
            session.add(PredictionScore(**row))
        else:
            for key, value in row.items():
                setattr(score, key, value)
    session.flush()


def user_by_email(session: Session, email: str) -> UserAccount | None:
    return session.scalars(select(UserAccount).where(func.lower(UserAccount.email) == email.strip().lower())).first()


def display_name(session: Session, user_id: uuid.UUID | None) -> str | None:
    user = session.get(UserAccount, user_id) if user_id else None
    return user.display_name if user else None
