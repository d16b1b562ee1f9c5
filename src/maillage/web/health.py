"""Liveness, readiness and metrics endpoints for operators and orchestrators.

``/healthz`` and ``/readyz`` say nothing but up or down and stay open. ``/metrics`` (route templates, status
counts, queue depth) is open in development and test; in production it answers only the bearer token of
``MAILLAGE_METRICS_TOKEN`` (Prometheus: ``authorization: {credentials: …}``), and is absent (404) while no
token is set.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from maillage.config import Settings
from maillage.exceptions import NotAuthenticated, NotFound
from maillage.kit.tokens import same

router = APIRouter(tags=["exploitation"])


@router.get("/healthz", summary="Le processus répond")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="La base de données est joignable",
    responses={503: {"description": "Base de données injoignable"}},
)
def readyz(request: Request) -> Response:
    try:
        with request.app.state.sessionmaker() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "injoignable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    check_metrics_caller(request.app.state.settings, request.headers.get("authorization", ""))
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def check_metrics_caller(settings: Settings, authorization: str) -> None:
    """Outside production anyone may read the metrics; in production only the holder of the metrics token."""
    if settings.operator_pages_open:
        return
    expected = settings.metrics_token.get_secret_value()
    if not expected:
        raise NotFound()
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not same(credentials.strip(), expected):
        raise NotAuthenticated("Jeton de métriques absent ou invalide.")
