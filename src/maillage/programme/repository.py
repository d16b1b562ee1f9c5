"""Every query of the programme. Nothing here is scoped by establishment: the programme is the territory's, and who
may read or edit it is a permission (``security.policy``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maillage.models.programme import (
    ProgrammeAxis,
    ProgrammeBudgetLine,
    ProgrammeChange,
    ProgrammeIndicator,
    ProgrammeIndicatorYear,
    ProgrammeMilestone,
    ProgrammeProject,
)


def axes(session: Session) -> Sequence[ProgrammeAxis]:
    return session.scalars(select(ProgrammeAxis).order_by(ProgrammeAxis.position)).all()


def next_axis_position(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(ProgrammeAxis.position), 0))) or 0) + 1


def projects(session: Session) -> Sequence[ProgrammeProject]:
    return session.scalars(select(ProgrammeProject).order_by(ProgrammeProject.starts_on,
                                                             ProgrammeProject.title)).all()


def budget_lines(session: Session, project_ids: Sequence[uuid.UUID] | None = None) -> Sequence[ProgrammeBudgetLine]:
    query = select(ProgrammeBudgetLine).order_by(ProgrammeBudgetLine.year)
    if project_ids is not None:
        query = query.where(ProgrammeBudgetLine.project_id.in_(project_ids))
    return session.scalars(query).all()


def budget_line(session: Session, project_id: uuid.UUID, year: int) -> ProgrammeBudgetLine | None:
    return session.scalar(select(ProgrammeBudgetLine).where(ProgrammeBudgetLine.project_id == project_id,
                                                            ProgrammeBudgetLine.year == year))


def milestones(session: Session, project_id: uuid.UUID | None = None) -> Sequence[ProgrammeMilestone]:
    query = select(ProgrammeMilestone).order_by(ProgrammeMilestone.due_on, ProgrammeMilestone.title)
    if project_id is not None:
        query = query.where(ProgrammeMilestone.project_id == project_id)
    return session.scalars(query).all()


def indicators(session: Session, project_id: uuid.UUID | None = None) -> Sequence[ProgrammeIndicator]:
    query = select(ProgrammeIndicator).order_by(ProgrammeIndicator.label)
    if project_id is not None:
        query = query.where(ProgrammeIndicator.project_id == project_id)
    return session.scalars(query).all()


def indicator_years(session: Session, indicator_ids: Sequence[uuid.UUID]) -> Sequence[ProgrammeIndicatorYear]:
    if not indicator_ids:
        return []
    return session.scalars(select(ProgrammeIndicatorYear)
                           .where(ProgrammeIndicatorYear.indicator_id.in_(indicator_ids))
                           .order_by(ProgrammeIndicatorYear.year)).all()


def indicator_year(session: Session, indicator_id: uuid.UUID, year: int) -> ProgrammeIndicatorYear | None:
    return session.scalar(select(ProgrammeIndicatorYear).where(ProgrammeIndicatorYear.indicator_id == indicator_id,
                                                               ProgrammeIndicatorYear.year == year))


def changes(session: Session, object_ids: Sequence[uuid.UUID] | None = None, limit: int = 200
            ) -> Sequence[ProgrammeChange]:
    query = select(ProgrammeChange).order_by(ProgrammeChange.at.desc(), ProgrammeChange.id).limit(limit)
    if object_ids is not None:
        query = query.where(ProgrammeChange.object_id.in_(object_ids))
    return session.scalars(query).all()
