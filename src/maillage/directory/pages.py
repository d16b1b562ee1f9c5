"""Pages of the directory: search, establishment, professional, specialty lines, the administrator's import page,
and the public offer catalogue (``/offre``, no login)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from maillage.directory import import_service, imports, pickers, rules, service
from maillage.directory.specialties import SPECIALTIES, Audience, Modality
from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit.http import DbSession, UnitOfWorkRoute, is_htmx
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Reader = Annotated[Actor, Depends(require(Permission.DIRECTORY_READ))]
Admin = Annotated[Actor, Depends(require(Permission.DIRECTORY_ADMIN))]
SEARCH_TYPES = {"lignes": "Lignes de spécialité", "etablissements": "Établissements",
                "professionnels": "Professionnels"}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates().TemplateResponse(request, name, context, status_code=status_code)


def _common() -> dict[str, Any]:
    return {
        "kinds": [(k.value, k.label) for k in rules.EstablishmentKind],
        "kind_labels": {k.value: k.label for k in rules.EstablishmentKind},
        "specialties": sorted(SPECIALTIES.values(), key=lambda s: s.label),
        "audiences": [(a.value, a.label) for a in Audience], "search_types": SEARCH_TYPES,
    }


@router.get("/annuaire", response_class=HTMLResponse)
def directory_search(request: Request, db: DbSession, actor: Reader, q: str = "", type: str = "lignes",
                     kind: str = "", specialite: str = "", pour: str = "") -> Response:
    """One search box over lines, establishments and professionals; HTMX refreshes the results as one types."""
    search_type = type if type in SEARCH_TYPES else "lignes"
    q = q[:100]
    context: dict[str, Any] = {**_common(), "q": q, "type": search_type, "kind": kind, "specialite": specialite,
                               "pour": pour, "error": None, "results": [], "mine": []}
    try:
        if search_type == "lignes":
            context["results"] = service.search_lines(db, query=q, specialty_code=specialite or None,
                                                      audience=pour or None)
        elif search_type == "etablissements":
            context["results"] = service.search_establishments(db, query=q, kind=kind or None)
        else:
            context["results"] = [service.get_professional(db, p.id) for p in service.search_professionals(
                db, query=q, specialty_code=specialite or None, limit=50)]
    except MaillageError as exc:
        context["error"] = exc.message
    me = service.professional_of_user(db, actor.user_id)
    if me is not None and not is_htmx(request):
        context["mine"] = service.search_lines(db, professional_id=me.id)
    template = "directory/_results.html" if is_htmx(request) else "directory/search.html"
    return render(request, template, context, status_code=422 if context["error"] else 200)


def _picker_from(request: Request, search_url: str, choices: Callable[[str], list[tuple[str, str]]],
                 name: Callable[[str], str | None]) -> Response:
    """The choices fragment of a picker for ``champ``: what was typed is ``<champ>_q``, the chosen code ``<champ>``
    (kept checked, named, when it is known)."""
    champ = request.query_params.get("champ", "")
    if not pickers.FIELD.match(champ):
        raise ValidationFailed("Champ inconnu.", details=[{"field": "champ", "message": "Nom de champ invalide."}])
    query = request.query_params.get(f"{champ}_q", "")[:100]
    code = request.query_params.get(champ, "")[:20]
    label = name(code) if code else None
    picker = pickers.Picker(champ, "", "", search_url, query=query, selected=code if label else "",
                            selected_label=label or "", choices=choices(query), searched=bool(query.strip()))
    return render(request, "web/_picker_choices.html", {"picker": picker})


@router.get("/communes/choix", response_class=HTMLResponse)
def commune_picker(request: Request) -> Response:
    """Communes whose name matches what was typed, as a picker's choices. Public: the communes are open data."""
    return _picker_from(request, "/communes/choix", pickers.commune_choices, pickers.commune_name)


@router.get("/annuaire/choix/medecins", response_class=HTMLResponse)
def physician_picker(request: Request, db: DbSession, actor: Reader) -> Response:
    """Physicians of the directory whose name matches, as a picker's choices (the value is the RPPS number)."""
    return _picker_from(request, "/annuaire/choix/medecins", lambda q: pickers.professional_choices(db, q),
                        lambda code: pickers.professional_name(db, code))


@router.get("/annuaire/lignes", response_class=HTMLResponse)
def lines_page(request: Request, db: DbSession, actor: Reader, pour: str = "", specialite: str = "",
               modalite: str = "") -> Response:
    me = service.professional_of_user(db, actor.user_id)
    error = None
    try:
        lines = service.search_lines(db, audience=pour or None, specialty_code=specialite or None,
                                     modality=modalite or None)
    except MaillageError as exc:
        lines, error = [], exc.message
    mine = service.search_lines(db, professional_id=me.id) if me else []
    return render(request, "directory/lines.html", {
        **_common(), "lines": lines, "mine": mine, "pour": pour, "specialite": specialite, "modalite": modalite,
        "error": error,
    }, status_code=422 if error else 200)


@router.get("/annuaire/lignes/{line_id}", response_class=HTMLResponse)
def line_page(request: Request, line_id: uuid.UUID, db: DbSession, actor: Reader) -> Response:
    return render(request, "directory/line.html", {"view": service.get_line(db, line_id)})


@router.get("/annuaire/etablissements/{establishment_id}", response_class=HTMLResponse)
def establishment_page(request: Request, establishment_id: uuid.UUID, db: DbSession, actor: Reader) -> Response:
    view = service.get_establishment(db, establishment_id)
    return render(request, "directory/establishment.html", {"view": view, "display_name": service.display_name})


@router.get("/annuaire/professionnels/{professional_id}", response_class=HTMLResponse)
def professional_page(request: Request, professional_id: uuid.UUID, db: DbSession, actor: Reader) -> Response:
    return render(request, "directory/professional.html", {"view": service.get_professional(db, professional_id)})


# --- Import (administrators) ---------------------------------------------------------------------------------


@router.get("/admin/annuaire/import", response_class=HTMLResponse)
def import_page(request: Request, actor: Admin) -> Response:
    return render(request, "directory/import.html", {"outcome": None, "error": None, "details": [],
                                                     "threshold": 1.0, "kind": "rpps"})


@router.post("/admin/annuaire/import", response_class=HTMLResponse)
def import_submit(request: Request, db: DbSession, actor: Admin,
                  fichier: Annotated[UploadFile, File()], kind: Annotated[str, Form(max_length=10)] = "rpps",
                  seuil: Annotated[float, Form(ge=0, le=100)] = 1.0) -> Response:
    """Import an uploaded extract; a refused file shows its lines in error and writes nothing."""
    try:
        outcome = import_service.run_import(db, kind, fichier.file, threshold=seuil / 100, actor=actor,
                                     context=audit_context(request))
    except MaillageError as exc:
        details = exc.details if isinstance(exc.details, list) else []
        return render(request, "directory/import.html", {
            "outcome": None, "error": exc.message, "details": details[:200], "more": max(0, len(details) - 200),
            "threshold": seuil, "kind": kind}, status_code=exc.status_code)
    return render(request, "directory/import.html", {"outcome": outcome, "error": None, "details": [],
                                                     "threshold": seuil, "kind": kind,
                                                     "max_issues": imports.DEFAULT_MAX_KEPT_ISSUES})


# --- Public offer catalogue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferItem:
    title: str
    summary: str
    facts: list[tuple[str, str]]  # (what, in French) shown under the item


@dataclass(frozen=True)
class OfferSection:
    """A part of the public offer that another capability adds (telesurveillance's programmes)."""

    title: str
    lead: str
    items: list[OfferItem]


# Sections of the public offer added by capabilities above the directory (which cannot import them), wired by the
# application at start. A section function returns None when its capability offers nothing in the territory yet.
OFFER_SECTIONS: list[Callable[[Session], OfferSection | None]] = []


@router.get("/offre", response_class=HTMLResponse)
def offer_page(request: Request, db: DbSession, pour: str = "") -> Response:
    """The GHT's telemedicine offer, readable by anyone, on a phone: what each tele-expertise line answers, for
    whom, how fast, how to send a request, then what the other capabilities offer (telesurveillance programmes).
    Only what Maillage runs is named."""
    error = None
    try:
        lines = service.search_lines(db, audience=pour or None, modality=Modality.TELEEXPERTISE.value,
                                     published_only=True, limit=200)
    except MaillageError as exc:
        lines, error = [], exc.message
    sections = [s for s in (section(db) for section in OFFER_SECTIONS) if s is not None]
    return render(request, "directory/offer.html", {
        "lines": lines, "ghts": service.ghts(db), "pour": pour, "error": error, "sections": sections,
        "audiences": [(a.value, a.label) for a in Audience],
    }, status_code=422 if error else 200)


@router.get("/offre/{line_id}", response_class=HTMLResponse)
def offer_line_page(request: Request, line_id: uuid.UUID, db: DbSession) -> Response:
    return render(request, "directory/offer_line.html", {"view": service.get_line(db, line_id, published_only=True)})
