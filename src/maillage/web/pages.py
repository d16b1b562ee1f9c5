"""Pages of the shell: home and login."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from maillage.analytics.pages import warehouse_of
from maillage.directory import pickers
from maillage.exceptions import NotFound
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.deps import audit_context
from maillage.security.roles import Role
from maillage.web import home as waiting

FAVICON = Path(__file__).resolve().parent / "static" / "favicon.svg"

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


# What a person with nothing waiting may do next: a sentence and a link to the page where it starts.
NEXT_STEP: dict[Role, tuple[str, str, str]] = {
    Role.PHYSICIAN: ("Aucune demande ni alerte ne vous attend. Pour solliciter l'avis d'un spécialiste :",
                     "/teleexpertise/nouvelle", "Nouvelle demande de téléexpertise"),
    Role.MIDWIFE: ("Aucune demande ne vous attend. Pour solliciter l'avis d'un spécialiste :",
                   "/teleexpertise/nouvelle", "Nouvelle demande de téléexpertise"),
    Role.NURSE: ("Aucune alerte ni question ne vous attend. Pour solliciter l'avis d'un spécialiste :",
                 "/teleexpertise/nouvelle", "Nouvelle demande de téléexpertise"),
    Role.COORDINATING_NURSE: ("Aucune alerte ni question ne vous attend. Pour suivre vos patients télésurveillés :",
                              "/telesurveillance", "Télésurveillance"),
    Role.ANALYST: ("Aucun indicateur n'est encore calculé. Le catalogue dit comment les calculer :",
                   "/pilotage", "Pilotage"),
    Role.DIRECTION: ("Aucun jalon du programme n'est en retard. Pour suivre le programme et ses cibles :",
                     "/programme", "Programme numérique"),
    Role.PROGRAMME_MANAGER: ("Aucun jalon n'est en retard ni à échéance. Pour mettre à jour le programme :",
                             "/programme", "Programme numérique"),
    Role.IDENTITY_OFFICER: ("Aucune paire d'identités n'attend votre examen. Les fusions récentes sont ici :",
                            "/identitovigilance", "Identitovigilance"),
    Role.ADMINISTRATOR: ("Aucun accès en urgence n'attend de revue. Pour gérer les comptes :",
                         "/admin/comptes", "Comptes"),
}


# What a person may do today when nothing waits, each a link (nothing announced before it exists).
TODAY: dict[Role, list[tuple[str, str, str]]] = {
    Role.BILLING_OFFICER: [
        ("/facturation", "Facturation", "le relevé du mois des actes de télémédecine de votre établissement, à "
                                        "vérifier, facturer et exporter (CSV, PDF, FHIR)"),
        ("/annuaire", "Annuaire", "retrouver un établissement, un professionnel ou une ligne de téléexpertise du "
                                  "territoire"),
        ("/offre", "Offre de télémédecine", "voir ce que chaque spécialité de l'hôpital support propose"),
        ("/compte", "Mon compte", "changer votre mot de passe et voir vos sessions ouvertes"),
    ],
    Role.PHARMACIST: [
        ("/teleexpertise/nouvelle", "Nouvelle demande de téléexpertise", "solliciter l'avis d'un spécialiste de "
                                                                         "l'hôpital support sur un patient que vous "
                                                                         "suivez"),
        ("/teleexpertise", "Téléexpertise", "suivre vos demandes et lire les avis rendus"),
        ("/patients", "Patients", "retrouver les patients que vous suivez"),
        ("/annuaire", "Annuaire", "retrouver un établissement, un professionnel ou une ligne de téléexpertise"),
    ],
}


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DbSession) -> HTMLResponse:
    """Signed out: what Maillage is. Signed in: what waits for me now, each a count and a link, or what to do."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        return templates().TemplateResponse(request, "web/home.html", {})
    items = waiting.waiting_items(db, actor, audit_context(request), warehouse_of(request).results_dir)
    return templates().TemplateResponse(request, "web/home.html", {
        "items": items, "next_step": NEXT_STEP.get(actor.role), "today": TODAY.get(actor.role)})


@router.get("/composants", response_class=HTMLResponse)
def components(request: Request, c_commune_q: str = "", c_commune: str = "") -> HTMLResponse:
    """The reference page of the shared components, in development only (elsewhere: the same 404 as missing)."""
    if request.app.state.settings.environment != "development":
        raise NotFound("Page introuvable.")
    query, label = c_commune_q[:100], pickers.commune_name(c_commune[:5]) if c_commune else None
    example = pickers.Picker("c_commune", "Commune de résidence", "Nom de la commune", "/communes/choix",
                             none_label="Non renseignée", query=query, searched=bool(query.strip()),
                             choices=pickers.commune_choices(query), selected=c_commune[:5] if label else "",
                             selected_label=label or "")
    return templates().TemplateResponse(request, "web/components.html", {"picker": example})



@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page links: the same mark as the pages' icon, cached a day."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
