"""One way to render an error: JSON for the API, a page for the web, a fragment for HTMX.

Unexpected errors become a generic 500 carrying the request id; the log line carries the error type
and the stack frames but never the exception message, which may hold SQL parameters or free text.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maillage.exceptions import MaillageError, TooManyRequests
from maillage.fhir.rules import FHIR_JSON, operation_outcome
from maillage.kit.http import is_htmx, wants_html
from maillage.kit.logging import get_logger
from maillage.kit.templating import templates

log = get_logger("maillage.errors")

HTTP_MESSAGES = {
    400: "La demande est mal formée.",
    401: "Vous devez vous connecter.",
    403: "Vous n'avez pas le droit d'effectuer cette action.",
    404: "La page ou l'objet demandé est introuvable.",
    405: "Cette méthode n'est pas permise ici.",
    413: "Le contenu envoyé est trop volumineux.",
    415: "Ce type de contenu n'est pas accepté.",
    422: "Les données envoyées ne sont pas valides.",
    429: "Trop de tentatives. Réessayez plus tard.",
    500: "Une erreur inattendue s'est produite. L'équipe technique peut la retrouver avec l'identifiant ci-dessous.",
    503: "Le service est momentanément indisponible.",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str
    details: Any | None = None


class ErrorResponse(BaseModel):
    """Every error of the API has this shape."""

    error: ErrorBody


_ERROR_CONTENT = {"model": ErrorResponse}
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    # A body the framework cannot even decode (not UTF-8, truncated multipart) is 400, as is a bare MaillageError.
    400: {**_ERROR_CONTENT, "description": "Requête mal formée (corps illisible)"},
    401: {**_ERROR_CONTENT, "description": "Non authentifié"},
    403: {**_ERROR_CONTENT, "description": "Action non permise à ce rôle, ou jeton CSRF manquant"},
    404: {**_ERROR_CONTENT, "description": "Introuvable, ou hors de votre périmètre"},
    409: {**_ERROR_CONTENT, "description": "Conflit avec l'état actuel"},
    413: {**_ERROR_CONTENT, "description": "Contenu trop volumineux"},
    422: {**_ERROR_CONTENT, "description": "Données invalides"},
    429: {**_ERROR_CONTENT, "description": "Trop de requêtes (voir Retry-After)"},
    503: {**_ERROR_CONTENT, "description": "Service momentanément indisponible (voir Retry-After)"},
}


def render_error(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    rid = str(getattr(request.state, "request_id", "") or "")
    if request.url.path == "/fhir" or request.url.path.startswith("/fhir/"):
        # A FHIR client reads errors as OperationOutcome resources (FHIR R4 §3.1.0.4), whatever raised them.
        return JSONResponse(operation_outcome(status, message, details=details), status_code=status,
                            headers=headers, media_type=FHIR_JSON)
    if wants_html(request):
        template = "web/_error.html" if is_htmx(request) else "web/error.html"
        context = {"status": status, "code": code, "message": message, "details": details, "request_id": rid}
        response = templates().TemplateResponse(request, template, context, status_code=status, headers=headers)
        return response
    body: dict[str, Any] = {"error": {"code": code, "message": message, "request_id": rid}}
    if details is not None:
        body["error"]["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


ROUTABLE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method that some route of the application answers at this request's path.

    On a method mismatch the router raises 405 with the ``Allow`` header of the *first* route whose path
    matched, so ``GET /x`` and ``POST /x`` declared as two routes answered ``Allow: GET``: the header must
    name every method of the resource (RFC 9110 §15.5.6). Mounts (static files) match any method and
    answer their own 405, so they are not asked.
    """
    router = getattr(request.scope.get("app"), "router", None)
    routes = [route for route in getattr(router, "routes", []) if not isinstance(route, Mount)]
    allowed = []
    for method in ROUTABLE_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MaillageError)
    async def _maillage_error(request: Request, exc: MaillageError) -> Response:
        headers = None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        if exc.status_code == 401 and wants_html(request) and not is_htmx(request):
            from urllib.parse import quote

            from fastapi.responses import RedirectResponse

            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
            return RedirectResponse(f"/connexion?suite={target}", status_code=303)
        return render_error(request, exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return render_error(request, 422, "validation_failed", HTTP_MESSAGES[422], _validation_details(exc))

    @app.exception_handler(OperationalError)
    async def _database_unavailable(request: Request, exc: OperationalError) -> Response:
        # A statement timeout (PostgreSQL 57014), a busy SQLite database, a lost connection: retry later.
        code = getattr(getattr(exc, "orig", None), "sqlstate", None) or type(getattr(exc, "orig", exc)).__name__
        log.warning("database.unavailable", error_code=str(code))
        timed_out = code == "57014"
        message = ("La requête a dépassé le temps maximal autorisé." if timed_out
                   else HTTP_MESSAGES[503])
        return render_error(request, 503, "query_timeout" if timed_out else "database_unavailable", message,
                            headers={"Retry-After": "5"})

    @app.exception_handler(IntegrityError)
    async def _integrity_conflict(request: Request, exc: IntegrityError) -> Response:
        # A uniqueness race that a service did not anticipate: the state did not change, say so.
        log.warning("database.integrity_conflict", constraint=str(getattr(getattr(exc, "orig", None), "sqlstate", "")))
        return render_error(request, 409, "conflict",
                            "L'opération est en conflit avec une autre modification. Rechargez puis réessayez.")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = HTTP_MESSAGES.get(exc.status_code, "Erreur.")
        headers = dict(getattr(exc, "headers", None) or {}) or None
        if exc.status_code == 405 and headers and "Allow" in headers:
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers["Allow"]
        return render_error(request, exc.status_code, f"http_{exc.status_code}", message, headers=headers)


class ErrorShieldMiddleware:
    """Catch what nothing else caught: generic 500 with the request id; type and frames logged, never values."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = {"value": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                started["value"] = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            # Where to look first: the innermost frame of our own code (the error may surface in a library,
            # such as psycopg), else the innermost frame; never this shield, which only passed the call on.
            ours = [f for f in frames if f"{os.sep}maillage{os.sep}" in f.filename and f.filename != __file__]
            candidates = ours or frames[-1:]
            origin = candidates[-1] if candidates else None
            log.error(
                "http.unexpected_error",
                error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
                origin=f"{origin.filename}:{origin.lineno} in {origin.name}" if origin else None,
                stack=[f"{f.filename}:{f.lineno} in {f.name}" for f in frames[-8:]],
            )
            if started["value"]:
                return
            request = Request(scope)
            response = render_error(request, 500, "internal_error", HTTP_MESSAGES[500])
            await response(scope, receive, send)
