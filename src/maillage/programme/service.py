"""Use cases of the programme: read it (direction, ARS analyst, programme manager), edit it (programme manager),
every change journalled with who, when, before and after. Services flush, the boundary commits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.db import Base
from maillage.models.programme import (
    ProgrammeAxis,
    ProgrammeBudgetLine,
    ProgrammeChange,
    ProgrammeIndicator,
    ProgrammeIndicatorYear,
    ProgrammeMilestone,
    ProgrammeProject,
)
from maillage.programme import repository as repo
from maillage.programme import rules
from maillage.security.actor import Actor
from maillage.security.policy import Permission, role_allows

M = TypeVar("M", bound=Base)
OBJECT_LABELS = {"axis": "Axe", "project": "Projet", "budget": "Ligne budgétaire", "milestone": "Jalon",
                 "indicator": "Indicateur", "target": "Cible annuelle"}
ACTION_LABELS = {"create": "création", "update": "modification"}
FIELD_LABELS = {"title": "Intitulé", "description": "Description", "position": "Rang", "owner": "Responsable",
                "sites": "Sites", "starts_on": "Début", "ends_on": "Fin", "year": "Année",
                "planned_cents": "Prévu (centimes)", "committed_cents": "Engagé (centimes)",
                "paid_cents": "Payé (centimes)", "due_on": "Échéance", "status": "Statut", "label": "Intitulé",
                "unit": "Unité", "catalogue_code": "Indicateur du catalogue", "measure": "Mesure",
                "source": "Source", "target": "Cible", "manual_value": "Valeur saisie"}


def _can_read(actor: Actor) -> None:
    if not role_allows(actor.role, Permission.PROGRAMME_READ):
        raise PermissionDenied()


def _can_edit(actor: Actor) -> None:
    if not role_allows(actor.role, Permission.PROGRAMME_EDIT):
        raise PermissionDenied("Seul le chef de programme modifie le programme.")


def snapshot(row: Base) -> dict[str, Any]:
    """The values of a row as the journal keeps them (JSON: dates in ISO, decimals and ids as text)."""
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, dt.date | uuid.UUID | Decimal):
            value = value.isoformat() if isinstance(value, dt.date) else str(value)
        out[column.key] = value
    return out


def _journal(session: Session, actor: Actor, kind: str, row: Base, before: dict[str, Any] | None) -> None:
    session.flush()
    after = snapshot(row)
    if before == after:
        return
    session.add(ProgrammeChange(at=now(), actor_id=actor.user_id, actor_name=actor.display_name, object_type=kind,
                                object_id=uuid.UUID(str(after["id"])), action="create" if before is None else "update",
                                before=before, after=after))


def _get(session: Session, model: type[M], object_id: uuid.UUID, missing: str) -> M:
    row = session.get(model, object_id)
    if row is None:
        raise NotFound(missing)
    return row


# --- Reading -------------------------------------------------------------------------------------------------------


@dataclass
class ProjectView:
    project: ProgrammeProject
    budget: list[ProgrammeBudgetLine] = field(default_factory=list)
    milestones: list[ProgrammeMilestone] = field(default_factory=list)
    indicators: list[IndicatorView] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(getattr(line, attribute) for line in self.budget)


@dataclass
class IndicatorView:
    indicator: ProgrammeIndicator
    years: list[ProgrammeIndicatorYear] = field(default_factory=list)

    def year(self, year: int) -> ProgrammeIndicatorYear | None:
        return next((y for y in self.years if y.year == year), None)


@dataclass
class Programme:
    axes: list[ProgrammeAxis]
    projects: list[ProjectView]

    def of_axis(self, axis_id: uuid.UUID) -> list[ProjectView]:
        return [p for p in self.projects if p.project.axis_id == axis_id]

    def total(self, attribute: str, year: int | None = None) -> int:
        return sum(getattr(line, attribute) for p in self.projects for line in p.budget
                   if year is None or line.year == year)

    @property
    def indicators(self) -> list[tuple[ProjectView, IndicatorView]]:
        return [(p, i) for p in self.projects for i in p.indicators]


def programme(session: Session, actor: Actor) -> Programme:
    """The whole programme, read with a fixed number of queries (axes, projects, budget, milestones, indicators,
    their years)."""
    _can_read(actor)
    return load_for_operator(session)


def load_for_operator(session: Session) -> Programme:
    """The whole programme without an actor: for the command line, whose user operates the platform (the programme
    holds no patient data; the report's figures from the warehouse are gated as on the pages)."""
    views = {p.id: ProjectView(p) for p in repo.projects(session)}
    for line in repo.budget_lines(session):
        views[line.project_id].budget.append(line)
    for milestone in repo.milestones(session):
        views[milestone.project_id].milestones.append(milestone)
    indicators = {i.id: IndicatorView(i) for i in repo.indicators(session)}
    for year in repo.indicator_years(session, list(indicators)):
        indicators[year.indicator_id].years.append(year)
    for view in indicators.values():
        views[view.indicator.project_id].indicators.append(view)
    return Programme(axes=list(repo.axes(session)), projects=list(views.values()))


def project(session: Session, actor: Actor, project_id: uuid.UUID) -> ProjectView:
    _can_read(actor)
    found = next((p for p in programme(session, actor).projects if p.project.id == project_id), None)
    if found is None:
        raise NotFound("Projet introuvable.")
    return found


def history(session: Session, actor: Actor, object_ids: Sequence[uuid.UUID] | None = None,
            limit: int = 200) -> list[ProgrammeChange]:
    _can_read(actor)
    return list(repo.changes(session, object_ids, limit))


@dataclass(frozen=True)
class Watch:
    """What the home page says of the programme: projects, milestones late, milestones due within a month."""

    projects: int
    late: int
    due_soon: int


def watch(session: Session, actor: Actor, today: dt.date) -> Watch:
    _can_read(actor)
    open_ones = [m for m in repo.milestones(session) if m.status not in ("done", "cancelled")]
    late = [m for m in open_ones if m.status == "late" or m.due_on < today]
    soon = [m for m in open_ones if m not in late and m.due_on <= today + dt.timedelta(days=30)]
    return Watch(projects=len(repo.projects(session)), late=len(late), due_soon=len(soon))


# --- Editing -------------------------------------------------------------------------------------------------------


def start_programme(session: Session, actor: Actor) -> list[ProgrammeAxis]:
    """Create the seed's four axes when the programme has none yet (they are then edited like any other)."""
    _can_edit(actor)
    if repo.axes(session):
        raise ValidationFailed("Le programme a déjà ses axes.")
    created = []
    for position, (title, description) in enumerate(rules.SEED_AXES, start=1):
        axis = ProgrammeAxis(position=position, title=title, description=description)
        session.add(axis)
        _journal(session, actor, "axis", axis, None)
        created.append(axis)
    return created


def save_axis(session: Session, actor: Actor, axis_id: uuid.UUID | None, *, title: str,
              description: str) -> ProgrammeAxis:
    _can_edit(actor)
    title = rules.check_text(title, "Intitulé de l'axe")
    description = " ".join((description or "").split())[:1000]
    if axis_id is None:
        axis = ProgrammeAxis(position=repo.next_axis_position(session), title=title, description=description)
        session.add(axis)
        before = None
    else:
        axis = _get(session, ProgrammeAxis, axis_id, "Axe introuvable.")
        before = snapshot(axis)
        axis.title, axis.description = title, description
    _journal(session, actor, "axis", axis, before)
    return axis


def save_project(session: Session, actor: Actor, project_id: uuid.UUID | None, *, axis_id: uuid.UUID, title: str,
                 owner: str, sites: Sequence[str], starts_on: dt.date, ends_on: dt.date) -> ProgrammeProject:
    _can_edit(actor)
    _get(session, ProgrammeAxis, axis_id, "Axe introuvable.")
    title = rules.check_text(title, "Intitulé du projet")
    owner = rules.check_text(owner, "Responsable")
    if ends_on < starts_on:
        raise ValidationFailed("La date de fin doit suivre la date de début.")
    clean_sites = [str(uuid.UUID(s)) for s in dict.fromkeys(sites)]
    if project_id is None:
        row = ProgrammeProject(axis_id=axis_id, title=title, owner=owner, sites=clean_sites, starts_on=starts_on,
                               ends_on=ends_on, created_at=now())
        session.add(row)
        before = None
    else:
        row = _get(session, ProgrammeProject, project_id, "Projet introuvable.")
        before = snapshot(row)
        row.axis_id, row.title, row.owner, row.sites = axis_id, title, owner, clean_sites
        row.starts_on, row.ends_on = starts_on, ends_on
    _journal(session, actor, "project", row, before)
    return row


def set_budget(session: Session, actor: Actor, project_id: uuid.UUID, *, year: int, planned_cents: int,
               committed_cents: int, paid_cents: int) -> ProgrammeBudgetLine:
    """The budget of a project for a year (one line per year, replaced when set again)."""
    _can_edit(actor)
    _get(session, ProgrammeProject, project_id, "Projet introuvable.")
    if year not in rules.PROGRAMME_YEARS:
        raise ValidationFailed("Année hors du programme.")
    for value in (planned_cents, committed_cents, paid_cents):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= rules.MAX_CENTS:
            raise ValidationFailed("Montant invalide.")
    rules.check_budget(planned_cents, committed_cents, paid_cents)
    line = repo.budget_line(session, project_id, year)
    before = snapshot(line) if line is not None else None
    if line is None:
        line = ProgrammeBudgetLine(project_id=project_id, year=year)
        session.add(line)
    line.planned_cents, line.committed_cents, line.paid_cents = planned_cents, committed_cents, paid_cents
    _journal(session, actor, "budget", line, before)
    return line


def add_milestone(session: Session, actor: Actor, project_id: uuid.UUID, *, title: str,
                  due_on: dt.date) -> ProgrammeMilestone:
    _can_edit(actor)
    _get(session, ProgrammeProject, project_id, "Projet introuvable.")
    row = ProgrammeMilestone(project_id=project_id, title=rules.check_text(title, "Intitulé du jalon"),
                             due_on=due_on, status=rules.MilestoneStatus.PLANNED.value)
    session.add(row)
    _journal(session, actor, "milestone", row, None)
    return row


def set_milestone_status(session: Session, actor: Actor, milestone_id: uuid.UUID, status: str) -> ProgrammeMilestone:
    _can_edit(actor)
    try:
        value = rules.MilestoneStatus(status).value
    except ValueError:
        raise ValidationFailed("Statut de jalon inconnu.") from None
    row = _get(session, ProgrammeMilestone, milestone_id, "Jalon introuvable.")
    before = snapshot(row)
    row.status = value
    _journal(session, actor, "milestone", row, before)
    return row


def add_indicator(session: Session, actor: Actor, project_id: uuid.UUID, *, label: str, unit: str,
                  catalogue_code: str = "", measure: str = "", source: str = "") -> ProgrammeIndicator:
    """An indicator bound to a measure of the analytics catalogue, or entered by hand with its source."""
    from maillage.programme import progress

    _can_edit(actor)
    _get(session, ProgrammeProject, project_id, "Projet introuvable.")
    label = rules.check_text(label, "Intitulé de l'indicateur")
    if catalogue_code:
        progress.check_binding(catalogue_code, measure)
        row = ProgrammeIndicator(project_id=project_id, label=label, unit=(unit or "").strip()[:60],
                                 catalogue_code=catalogue_code, measure=measure, source=None)
    else:
        row = ProgrammeIndicator(project_id=project_id, label=label, unit=(unit or "").strip()[:60],
                                 source=rules.check_text(source, "Source de la donnée (saisie manuelle)", 300))
    session.add(row)
    _journal(session, actor, "indicator", row, None)
    return row


def set_target(session: Session, actor: Actor, indicator_id: uuid.UUID, *, year: int, target: Decimal,
               manual_value: Decimal | None = None) -> ProgrammeIndicatorYear:
    """The target of an indicator for a year and, for an indicator entered by hand, the value reached."""
    _can_edit(actor)
    indicator = _get(session, ProgrammeIndicator, indicator_id, "Indicateur introuvable.")
    if year not in rules.PROGRAMME_YEARS:
        raise ValidationFailed("Année hors du programme.")
    if manual_value is not None and indicator.catalogue_code:
        raise ValidationFailed("La valeur d'un indicateur calculé vient de l'entrepôt : seule la cible se saisit.")
    row = repo.indicator_year(session, indicator_id, year)
    before = snapshot(row) if row is not None else None
    if row is None:
        row = ProgrammeIndicatorYear(indicator_id=indicator_id, year=year)
        session.add(row)
    row.target, row.manual_value = target, manual_value
    _journal(session, actor, "target", row, before)
    return row
