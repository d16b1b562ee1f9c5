"""Durable background jobs: one row per job, run by ``maillage worker``."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime

# BIGINT on PostgreSQL, INTEGER (the rowid alias that autoincrements) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint("status in ('queued', 'done', 'failed')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_job_due", "status", "run_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
