"""The territory's multi-year digital programme (``maillage.programme``): axes, projects, yearly budget lines,
milestones, indicators with yearly targets, and the journal of every change.

Amounts are integer cents (never floating point). An indicator is bound either to an indicator of the analytics
catalogue (its code and the measure read) or entered by hand with its source (equipment bought, staff trained),
with its yearly values. No table here holds patient data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id


class ProgrammeAxis(Base):
    __tablename__ = "programme_axis"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class ProgrammeProject(Base):
    __tablename__ = "programme_project"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="dates_ordered"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    axis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programme_axis.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    # Establishments of the directory concerned (ids as strings), in the order chosen.
    sites: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class ProgrammeBudgetLine(Base):
    __tablename__ = "programme_budget_line"
    __table_args__ = (
        UniqueConstraint("project_id", "year"),
        CheckConstraint("planned_cents >= 0 and committed_cents >= 0 and paid_cents >= 0",
                        name="amounts_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programme_project.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    planned_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    committed_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class ProgrammeMilestone(Base):
    __tablename__ = "programme_milestone"
    __table_args__ = (
        CheckConstraint("status in ('planned', 'in_progress', 'done', 'late', 'cancelled')", name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programme_project.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="planned")


class ProgrammeIndicator(Base):
    __tablename__ = "programme_indicator"
    __table_args__ = (
        CheckConstraint("(catalogue_code is not null and measure is not null) or source is not null",
                        name="bound_or_sourced"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programme_project.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(60), default="")
    catalogue_code: Mapped[str | None] = mapped_column(String(60), default=None)
    measure: Mapped[str | None] = mapped_column(String(60), default=None)
    source: Mapped[str | None] = mapped_column(String(300), default=None)


class ProgrammeIndicatorYear(Base):
    """One year of an indicator: its target and, for an indicator entered by hand, the value reached."""

    __tablename__ = "programme_indicator_year"
    __table_args__ = (UniqueConstraint("indicator_id", "year"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    indicator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programme_indicator.id", ondelete="CASCADE"),
                                                    index=True)
    year: Mapped[int] = mapped_column(Integer)
    target: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    manual_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 3), default=None)


class ProgrammeChange(Base):
    """Who changed what, when, and the values before and after (the programme's own history, kept forever)."""

    __tablename__ = "programme_change"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor_name: Mapped[str] = mapped_column(String(200))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON, default=None)
