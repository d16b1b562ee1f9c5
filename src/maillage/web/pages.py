"""Pages of the shell: home and login."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from maillage.kit.http import UnitOfWorkRoute
from maillage.kit.templating import templates

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return templates().TemplateResponse(request, "web/home.html", {})

