"""Break-the-glass: the professional's emergency access form, and the administrator's review."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from maillage.authz import service
from maillage.exceptions import MaillageError
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute)
GlassActor = Annotated[Actor, Depends(require(Permission.BREAK_GLASS))]
AuditActor = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]


class BreakGlassCreate(BaseModel):
    patient_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=2000)


class BreakGlassRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    expires_at: str


@router.post("/api/authz/break-glass", response_model=BreakGlassRead, status_code=201, tags=["autorisations"],
             summary="Ouvrir un accès d'urgence (bris de glace)",
             responses={401: {"description": "Non authentifié"}, 403: {"description": "Rôle non autorisé"},
                        404: {"description": "Patient introuvable"}, 422: {"description": "Motif insuffisant"}})
def break_glass_api(body: BreakGlassCreate, request: Request, db: DbSession, actor: GlassActor) -> BreakGlassRead:
    access = service.break_glass(db, actor, body.patient_id, body.reason, context=audit_context(request),
                                 settings=request.app.state.settings)
    return BreakGlassRead(id=access.id, patient_id=access.patient_id, expires_at=access.expires_at.isoformat())


@router.get("/acces-urgence", response_class=HTMLResponse, include_in_schema=False)
def break_glass_form(request: Request, actor: GlassActor, patient: uuid.UUID) -> Response:
    return templates().TemplateResponse(request, "authz/break_glass.html", {"patient_id": patient, "error": None})


@router.post("/acces-urgence", response_class=HTMLResponse, include_in_schema=False)
def break_glass_submit(
    request: Request, db: DbSession, actor: GlassActor, patient_id: Annotated[uuid.UUID, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "", suite: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    try:
        service.break_glass(db, actor, patient_id, reason, context=audit_context(request),
                            settings=request.app.state.settings)
    except MaillageError as exc:
        if exc.status_code == 404:
            raise  # no such patient: the same answer as everywhere else, nothing recorded
        details = exc.details if isinstance(exc.details, list) else []
        message = " ".join(d["message"] for d in details) or exc.message
        return templates().TemplateResponse(request, "authz/break_glass.html",
                                            {"patient_id": patient_id, "error": message}, status_code=exc.status_code)
    target = suite if suite.startswith("/") and not suite.startswith("//") else "/"
    return RedirectResponse(target, status_code=303)


@router.post("/admin/bris-de-glace/{access_id}/revue", include_in_schema=False)
def review(request: Request, access_id: uuid.UUID, db: DbSession, actor: AuditActor,
           comment: Annotated[str, Form(max_length=2000)] = "") -> Response:
    service.review_break_glass(db, actor, access_id, comment, context=audit_context(request))
    return RedirectResponse("/admin/audit", status_code=303)
