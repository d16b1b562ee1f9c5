"""The model card, one click from the worklist: page and PDF. No patient data: the figures of an evaluation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from maillage.analytics.predict import card, service
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.deps import require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Triage = Annotated[Actor, Depends(require(Permission.MONITORING_TRIAGE))]


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
