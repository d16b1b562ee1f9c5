"""Pages of the programme, in French: the programme (axes, projects, budget, indicators against their targets, for
a year), a project (budget lines, milestones, indicators and targets, its history), the journal of changes, and the
evaluation report (PDF, CSV bundle). The programme manager edits; the GHT direction and the ARS analyst read."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from maillage.analytics.pages import gate_of, warehouse_of
from maillage.directory import service as directory
from maillage.exceptions import ValidationFailed
from maillage.kit.clock import today_paris
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.templating import templates
from maillage.programme import progress, report, rules, service
from maillage.security.actor import Actor
from maillage.security.deps import require
from maillage.security.policy import Permission, role_allows

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Reader = Annotated[Actor, Depends(require(Permission.PROGRAMME_READ))]
Manager = Annotated[Actor, Depends(require(Permission.PROGRAMME_EDIT))]
BASE = "/programme"
DONE = {"axe": "L'axe a été enregistré.", "projet": "Le projet a été enregistré.",
        "budget": "La ligne budgétaire a été enregistrée.", "jalon": "Le jalon a été enregistré.",
        "indicateur": "L'indicateur a été ajouté.", "cible": "La cible a été enregistrée.",
        "demarre": "Les quatre axes du plan ont été créés."}


def _year(request: Request) -> int:
    text = request.query_params.get("annee", "")
    if text.isdigit() and int(text) in rules.PROGRAMME_YEARS:
        return int(text)
    current = today_paris().year
    return current if current in rules.PROGRAMME_YEARS else rules.PROGRAMME_YEARS[0]


def _sites(db: Session) -> dict[str, str]:
    return {str(e.id): e.name for e in directory.search_establishments(db, limit=200)}


def render(request: Request, actor: Actor, name: str, context: dict[str, Any], status_code: int = 200
           ) -> HTMLResponse:
    base = {"can_edit": role_allows(actor.role, Permission.PROGRAMME_EDIT), "euros": rules.format_euros,
            "years": list(rules.PROGRAMME_YEARS), "statuses": rules.MilestoneStatus,
            "object_labels": service.OBJECT_LABELS, "action_labels": service.ACTION_LABELS,
            "field_labels": service.FIELD_LABELS,
            "done": DONE.get(request.query_params.get("fait", ""), "")}
    return templates().TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _home(request: Request, db: Session, actor: Actor, error: str = "", status_code: int = 200) -> HTMLResponse:
    year = _year(request)
    programme = service.programme(db, actor)
    board = report.indicator_rows(programme, year, warehouse_of(request), gate_of(request))
    return render(request, actor, "programme/home.html", {"programme": programme, "year": year, "board": board,
                                                   "chart": report.progress_svg(board, year), "error": error},
                  status_code)


@router.get(BASE, response_class=HTMLResponse)
def home(request: Request, db: DbSession, actor: Reader) -> HTMLResponse:
    return _home(request, db, actor)


@router.post(BASE + "/demarrer")
def start(request: Request, db: DbSession, actor: Manager) -> Response:
    try:
        service.start_programme(db, actor)
    except ValidationFailed as exc:
        return _home(request, db, actor, exc.message, 422)
    return RedirectResponse(f"{BASE}?fait=demarre", status_code=303)


@router.post(BASE + "/axes")
def save_axis(request: Request, db: DbSession, actor: Manager, axis_id: Annotated[str, Form()] = "",
              title: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "") -> Response:
    try:
        service.save_axis(db, actor, _id(axis_id) if axis_id else None, title=title, description=description)
    except ValidationFailed as exc:
        return _home(request, db, actor, exc.message, 422)
    return RedirectResponse(f"{BASE}?fait=axe", status_code=303)


def _id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValidationFailed("Élément introuvable.") from None


# --- Projects ------------------------------------------------------------------------------------------------------


def _project_form(request: Request, db: Session, actor: Actor, form: dict[str, Any], error: str = "",
                  status_code: int = 200) -> HTMLResponse:
    return render(request, actor, "programme/project_form.html", {
        "form": form, "error": error, "axes": service.programme(db, actor).axes, "sites": _sites(db)}, status_code)


@router.get(BASE + "/projets/nouveau", response_class=HTMLResponse)
def new_project(request: Request, db: DbSession, actor: Manager) -> HTMLResponse:
    return _project_form(request, db, actor, {"axis_id": request.query_params.get("axe", ""), "sites": []})


@router.get(BASE + "/projets/{project_id}/modifier", response_class=HTMLResponse)
def edit_project(request: Request, project_id: uuid.UUID, db: DbSession, actor: Manager) -> HTMLResponse:
    p = service.project(db, actor, project_id).project
    return _project_form(request, db, actor, {
        "id": str(p.id), "axis_id": str(p.axis_id), "title": p.title, "owner": p.owner, "sites": p.sites,
        "starts_on": p.starts_on.isoformat(), "ends_on": p.ends_on.isoformat()})


@router.post(BASE + "/projets")
def save_project(request: Request, db: DbSession, actor: Manager, project_id: Annotated[str, Form()] = "",
                 axis_id: Annotated[str, Form()] = "", title: Annotated[str, Form()] = "",
                 owner: Annotated[str, Form()] = "", sites: Annotated[list[str] | None, Form()] = None,
                 starts_on: Annotated[str, Form()] = "", ends_on: Annotated[str, Form()] = "") -> Response:
    chosen = [s for s in (sites or [])[:50] if s in _sites(db)]
    form = {"id": project_id[:40], "axis_id": axis_id[:40], "title": title[:200], "owner": owner[:200],
            "sites": chosen, "starts_on": starts_on[:10], "ends_on": ends_on[:10]}
    try:
        if not axis_id:
            raise ValidationFailed("Axe : choisissez l'axe du plan auquel le projet contribue.")
        row = service.save_project(db, actor, _id(project_id) if project_id else None, axis_id=_id(axis_id),
                                   title=title, owner=owner, sites=chosen,
                                   starts_on=rules.parse_date(starts_on, "Début"),
                                   ends_on=rules.parse_date(ends_on, "Fin"))
    except ValidationFailed as exc:
        return _project_form(request, db, actor, form, exc.message, 422)
    return RedirectResponse(f"{BASE}/projets/{row.id}?fait=projet", status_code=303)


def _project_page(request: Request, db: Session, actor: Actor, project_id: uuid.UUID, error: str = "",
                  status_code: int = 200) -> HTMLResponse:
    view = service.project(db, actor, project_id)
    ids = [view.project.id, *(b.id for b in view.budget), *(m.id for m in view.milestones),
           *(i.indicator.id for i in view.indicators), *(y.id for i in view.indicators for y in i.years)]
    axis = next((a for a in service.programme(db, actor).axes if a.id == view.project.axis_id), None)
    return render(request, actor, "programme/project.html", {
        "view": view, "axis": axis, "sites": _sites(db), "error": error, "choices": progress.choices(),
        "history": service.history(db, actor, ids, limit=100)}, status_code)


@router.get(BASE + "/projets/{project_id}", response_class=HTMLResponse)
def project_page(request: Request, project_id: uuid.UUID, db: DbSession, actor: Reader) -> HTMLResponse:
    return _project_page(request, db, actor, project_id)


def _done(project_id: uuid.UUID, what: str) -> RedirectResponse:
    return RedirectResponse(f"{BASE}/projets/{project_id}?{urlencode({'fait': what})}", status_code=303)


@router.post(BASE + "/projets/{project_id}/budget")
def set_budget(request: Request, project_id: uuid.UUID, db: DbSession, actor: Manager,
               year: Annotated[str, Form()] = "", planned: Annotated[str, Form()] = "",
               committed: Annotated[str, Form()] = "", paid: Annotated[str, Form()] = "") -> Response:
    try:
        service.set_budget(db, actor, project_id, year=rules.parse_year(year),
                           planned_cents=rules.parse_euros(planned, "Prévu"),
                           committed_cents=rules.parse_euros(committed, "Engagé"),
                           paid_cents=rules.parse_euros(paid, "Payé"))
    except ValidationFailed as exc:
        return _project_page(request, db, actor, project_id, exc.message, 422)
    return _done(project_id, "budget")


@router.post(BASE + "/projets/{project_id}/jalons")
def add_milestone(request: Request, project_id: uuid.UUID, db: DbSession, actor: Manager,
                  title: Annotated[str, Form()] = "", due_on: Annotated[str, Form()] = "") -> Response:
    try:
        service.add_milestone(db, actor, project_id, title=title, due_on=rules.parse_date(due_on, "Échéance"))
    except ValidationFailed as exc:
        return _project_page(request, db, actor, project_id, exc.message, 422)
    return _done(project_id, "jalon")


@router.post(BASE + "/jalons/{milestone_id}/statut")
def milestone_status(request: Request, milestone_id: uuid.UUID, db: DbSession, actor: Manager,
                     status: Annotated[str, Form()] = "") -> Response:
    row = service.set_milestone_status(db, actor, milestone_id, status)
    return _done(row.project_id, "jalon")


@router.post(BASE + "/projets/{project_id}/indicateurs")
def add_indicator(request: Request, project_id: uuid.UUID, db: DbSession, actor: Manager,
                  label: Annotated[str, Form()] = "", unit: Annotated[str, Form()] = "",
                  binding: Annotated[str, Form()] = "", source: Annotated[str, Form()] = "",
                  year: Annotated[str, Form()] = "", target: Annotated[str, Form()] = "") -> Response:
    code, _, measure = binding.partition(":")
    try:
        target_value = rules.parse_decimal(target, "Cible") if target.strip() else None
        target_year = rules.parse_year(year) if target_value is not None else 0
        row = service.add_indicator(db, actor, project_id, label=label, unit=unit, catalogue_code=code,
                                    measure=measure, source=source)
        if target_value is not None:
            service.set_target(db, actor, row.id, year=target_year, target=target_value)
    except ValidationFailed as exc:
        return _project_page(request, db, actor, project_id, exc.message, 422)
    return _done(project_id, "indicateur")


@router.post(BASE + "/indicateurs/{indicator_id}/cibles")
def set_target(request: Request, indicator_id: uuid.UUID, db: DbSession, actor: Manager,
               project_id: Annotated[str, Form()] = "", year: Annotated[str, Form()] = "",
               target: Annotated[str, Form()] = "", value: Annotated[str, Form()] = "") -> Response:
    pid = _id(project_id)
    try:
        manual: Decimal | None = rules.parse_decimal(value, "Valeur atteinte") if value.strip() else None
        row = service.set_target(db, actor, indicator_id, year=rules.parse_year(year),
                                 target=rules.parse_decimal(target, "Cible"), manual_value=manual)
    except ValidationFailed as exc:
        return _project_page(request, db, actor, pid, exc.message, 422)
    del row
    return _done(pid, "cible")


@router.get(BASE + "/historique", response_class=HTMLResponse)
def history_page(request: Request, db: DbSession, actor: Reader) -> HTMLResponse:
    return render(request, actor, "programme/history.html", {"history": service.history(db, actor, limit=300)})


# --- Evaluation report ---------------------------------------------------------------------------------------------


def _report(request: Request, db: Session, actor: Actor, kind: str) -> Response:
    year = _year(request)
    programme = service.programme(db, actor)
    write, media_type = (report.pdf, "application/pdf") if kind == "pdf" else (report.csv_bundle, "application/zip")
    return Response(write(programme, year, warehouse_of(request), gate_of(request)), media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="evaluation-programme-{year}.{kind}"'})


@router.get(BASE + "/rapport.pdf")
def report_pdf(request: Request, db: DbSession, actor: Reader) -> Response:
    return _report(request, db, actor, "pdf")


@router.get(BASE + "/rapport.zip")
def report_zip(request: Request, db: DbSession, actor: Reader) -> Response:
    return _report(request, db, actor, "zip")
