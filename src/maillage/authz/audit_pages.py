"""The administrator's audit page: the access traces, filtered, newest first, and the emergency accesses to review.

It lives in ``authz``, above ``audit`` in the layers, because it joins the trail to authz's break-the-glass review."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from maillage.audit import rules, service
from maillage.authz import service as authz
from maillage.exceptions import ValidationFailed
from maillage.kit.http import DbSession, UnitOfWorkRoute, client_address, request_id
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.deps import require
from maillage.security.policy import Permission
from maillage.security.roles import Role

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
AuditReader = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]


def role_label(role: str | None) -> str:
    if not role:
        return "—"
    try:
        return Role(role).label
    except ValueError:
        return rules.PSEUDO_ROLE_LABELS.get(role, role)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    db: DbSession,
    actor: AuditReader,
    patient: str = "",
    acteur: str = "",
    du: str = "",
    au: str = "",
    urgence: str = "",
    page: str = "1",
    taille: str = "",
) -> HTMLResponse:
    raw = {"patient": patient, "acteur": acteur, "du": du, "au": au, "urgence": urgence, "taille": taille}
    context = {"raw": raw, "role_label": role_label, "action_label": rules.action_label,
               "object_type_label": rules.object_type_label, "outcome_label": rules.outcome_label,
               "purpose_label": rules.purpose_label, "max_page_size": rules.MAX_PAGE_SIZE,
               "default_page_size": rules.DEFAULT_PAGE_SIZE}
    try:
        filters = rules.parse_filters(patient=patient, actor=acteur, since=du, until=au, break_glass=urgence,
                                      page=page, size=taille)
    except ValidationFailed as exc:
        return templates().TemplateResponse(request, "authz/audit_trail.html", {**context, "error": exc.message,
                                            "result": None}, status_code=exc.status_code)
    result = service.search_trail(db, filters, actor=actor,
                                  context=AuditContext(request_id=request_id(request),
                                                               address=client_address(request)))
    kept = {key: value for key, value in raw.items() if value.strip()}
    previous_url = f"?{urlencode({**kept, 'page': filters.page - 1})}" if filters.page > 1 else None
    next_url = f"?{urlencode({**kept, 'page': filters.page + 1})}" if result.has_next else None
    first_url = f"?{urlencode(kept)}" if kept else "/admin/audit"
    unreviewed = authz.break_glass_to_review(db, actor)
    names = {**result.actor_names, **service.account_names(db, [str(a.user_id) for a in unreviewed])}
    return templates().TemplateResponse(request, "authz/audit_trail.html", {
        **context, "error": None, "result": result, "previous_url": previous_url, "next_url": next_url,
        "first_url": first_url, "unreviewed": unreviewed, "names": names,
    })
