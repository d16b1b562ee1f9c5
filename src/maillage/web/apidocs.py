"""The API documentation in production: the same pages as in development, for a known caller only.

Outside production FastAPI serves ``/api/docs`` and ``/api/openapi.json`` to anyone (``create_app``). In
production they would map every route and parameter of the platform for an anonymous visitor, so FastAPI's
own routes are switched off and these two answer only a signed-in professional (browser session) or the
holder of an API token (``Authorization: Bearer mlg_pat_…`` or ``mlg_svc_…``); anyone else gets 401, as on
any API route. ``/redoc`` is never served.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from maillage.security.deps import CurrentActor

OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"

router = APIRouter(include_in_schema=False)


@router.get(OPENAPI_URL)
def openapi_document(request: Request, _actor: CurrentActor) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get(DOCS_URL)
def api_docs(request: Request, _actor: CurrentActor) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{request.app.title} — API")
