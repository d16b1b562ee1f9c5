"""Risk models and the scores they give: versioned models (data window, code version, metrics, the artefact as
text) and the latest score of each telesurveillance enrolment, written by the worker, read by the worklist.

A score's factors are feature codes and numbers, never free text (nothing to seal). A model is activated only
when its evaluation beats the programme's rule (``analytics.predict.service.activate``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id

MODEL_STATUSES_SQL = "'trained', 'active', 'refused', 'retired'"


class PredictionModel(Base):
    __tablename__ = "prediction_model"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint(f"status in ({MODEL_STATUSES_SQL})", name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="trained")
    data_window: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    code_version: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    artefact: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    trained_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    refusal: Mapped[str | None] = mapped_column(String(300), default=None)


class PredictionScore(Base):
    """The latest score of an enrolment (one row, rewritten by each scoring batch)."""

    __tablename__ = "prediction_score"
    __table_args__ = (Index("ix_prediction_score_patient", "patient_id"),)

    enrolment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("monitoring_enrolment.id", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"))
    model_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("prediction_model.id", ondelete="CASCADE"))
    probability: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16))
    factors: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    readings_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
