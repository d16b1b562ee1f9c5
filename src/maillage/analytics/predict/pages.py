"""The model card, one click from the worklist: page and PDF. No patient data: the figures of an evaluation.

And Model 2's steering page: its evaluation and its aggregates, stored already through the small-cell gate."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from maillage.analytics.predict import card, population, service
from maillage.audit import service as platform_audit
from maillage.kit.http import DbSession, UnitOfWorkRoute, client_address, request_id
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.deps import require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Triage = Annotated[Actor, Depends(require(Permission.MONITORING_TRIAGE))]
Analyst = Annotated[Actor, Depends(require(Permission.ANALYTICS_READ))]
LEVELS = {"territoire": "Territoire", "departement": "Département", "commune": "Commune"}


@router.get("/telesurveillance/modeles/{model_id}", response_class=HTMLResponse)
def card_page(request: Request, model_id: uuid.UUID, db: DbSession, actor: Triage) -> Response:
    found = card.card_of(db, service.get_model(db, model_id))
    bins = found.metrics.get("reliability", [])
    return templates().TemplateResponse(request, "predict/card.html", {
        "card": found, "m": found.model, "metrics": found.metrics, "intervals": found.metrics.get("intervals", {}),
        "plot": card.calibration_svg(bins) if bins else None, "status": card.STATUS, "intended": card.INTENDED,
        "not_intended": card.NOT_INTENDED, "limits": card.LIMITS})


@router.get("/telesurveillance/modeles/{model_id}/fiche.pdf")
def card_pdf(model_id: uuid.UUID, db: DbSession, actor: Triage) -> Response:
    found = card.card_of(db, service.get_model(db, model_id))
    return Response(card.pdf(found), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="fiche-modele-v{found.model.version}.pdf"'})


@router.get("/pilotage/modeles/hospitalisation", response_class=HTMLResponse)
def population_page(request: Request, db: DbSession, actor: Analyst) -> Response:
    """Model 2 for analysts: the evaluation and the gated aggregates of its latest version (audited as a read of
    the indicator, like the other steering pages)."""
    from maillage.analytics.pages import warehouse_of

    model = service.latest_population(db)
    rows = model.metrics.get("aggregats", []) if model else []
    names: dict[str, str] = {}
    warehouse = warehouse_of(request)
    if warehouse.has_table("COMMUNES"):
        communes = warehouse.read_table("COMMUNES").select(["code_insee", "nom"]).to_pydict()
        names = dict(zip(communes["code_insee"], communes["nom"], strict=True))
    order = {level: i for i, level in enumerate(LEVELS)}
    rows = sorted(rows, key=lambda r: (order.get(r["niveau_geo"], 9), r["code_geo"], r["tranche_age"]))
    platform_audit.record(
        db, action="read", object_type="analytics_indicator", object_id=population.AGGREGATES.code,
        actor_id=str(actor.user_id), actor_role=actor.role.value,
        context=AuditContext(request_id=request_id(request), address=client_address(request)),
        details={"rows": len(rows), "version": model.version if model else None})
    return templates().TemplateResponse(request, "predict/population.html", {
        "m": model, "metrics": model.metrics if model else {}, "rows": rows, "names": names, "levels": LEVELS,
        "intervals": model.metrics.get("intervals", {}) if model else {}, "indicator": population.AGGREGATES,
        "card": {"intended": population.INTENDED, "not_intended": population.NOT_INTENDED,
                 "limits": population.LIMITS}})
