"""Pages of the shell: home and login."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from maillage.kit.http import UnitOfWorkRoute
from maillage.kit.templating import templates

FAVICON = Path(__file__).resolve().parent / "static" / "favicon.svg"

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return templates().TemplateResponse(request, "web/home.html", {})



@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page links: the same mark as the pages' icon, cached a day."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
