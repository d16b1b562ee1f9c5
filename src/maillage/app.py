"""create_app(): middleware, error handlers and every router, mounted in ONE place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from maillage import __version__
from maillage.analytics import board as analytics_board
from maillage.analytics import pages as analytics_pages
from maillage.analytics.predict import pages as predict_pages
from maillage.auth import endpoints as auth_endpoints
from maillage.auth import pages as auth_pages
from maillage.auth import psc_pages as auth_psc_pages
from maillage.auth.middleware import AuthenticationMiddleware, csrf_protect
from maillage.authz import audit_pages
from maillage.authz import pages as authz_pages
from maillage.billing import pages as billing_pages
from maillage.config import Settings, get_settings
from maillage.directory import endpoints as directory_endpoints
from maillage.directory import pages as directory_pages
from maillage.document import endpoints as document_endpoints
from maillage.document import pages as document_pages
from maillage.exchange import pages as exchange_pages
from maillage.fhir import endpoints as fhir_endpoints
from maillage.kit.db import make_autocommit_async_engine, make_engine, make_sessionmaker
from maillage.kit.logging import configure_logging
from maillage.kit.templating import templates
from maillage.messaging import endpoints as messaging_endpoints
from maillage.messaging import pages as messaging_pages
from maillage.monitoring import admin_pages as monitoring_admin_pages
from maillage.monitoring import endpoints as monitoring_endpoints
from maillage.monitoring import offer as monitoring_offer
from maillage.monitoring import pages as monitoring_pages
from maillage.monitoring import setup as monitoring_setup
from maillage.patient import endpoints as patient_endpoints
from maillage.patient import pages as patient_pages
from maillage.prescription import endpoints as prescription_endpoints
from maillage.prescription import pages as prescription_pages
from maillage.programme import pages as programme_pages
from maillage.teleconsultation import assisted_endpoints as teleconsultation_assisted_endpoints
from maillage.teleconsultation import assisted_pages as teleconsultation_assisted_pages
from maillage.teleconsultation import endpoints as teleconsultation_endpoints
from maillage.teleconsultation import guest_pages as teleconsultation_guest_pages
from maillage.teleconsultation import pages as teleconsultation_pages
from maillage.teleconsultation import scheduling_endpoints as teleconsultation_scheduling_endpoints
from maillage.teleconsultation import scheduling_pages as teleconsultation_scheduling_pages
from maillage.teleconsultation import signalling as teleconsultation_signalling
from maillage.teleexpertise import endpoints as teleexpertise_endpoints
from maillage.teleexpertise import pages as teleexpertise_pages
from maillage.web import apidocs, health, pages, patient_banner
from maillage.web.errors import COMMON_RESPONSES, ErrorShieldMiddleware, install_error_handlers, render_error
from maillage.web.limits import LimitsMiddleware, RateLimitMiddleware
from maillage.web.metrics import Metrics, install_statement_counter
from maillage.web.middleware import RequestContextMiddleware
from maillage.web.nav import nav_items
from maillage.web.routing import guard_included_routers

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"

API_DESCRIPTION = """API de Maillage, la plateforme de télésanté du GHT.

Toutes les routes `/api/` répondent en JSON ; les erreurs ont la forme
`{"error": {"code", "message", "request_id", "details"}}`.
"""


def create_app(settings: Settings | None = None, sessions: sessionmaker[Session] | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    owns_engine = sessions is None
    if sessions is None:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url, statement_timeout_ms=settings.statement_timeout_ms,
                             pool_size=settings.web_threads + settings.db_pool_extra)
        sessions = make_sessionmaker(engine)
    # Who is calling, awaited on the event loop (PostgreSQL, an engine of our own): no hand-off to a thread for it.
    caller_engine = make_autocommit_async_engine(settings.effective_database_url,
                                                 statement_timeout_ms=settings.statement_timeout_ms) \
        if owns_engine else None
    threads = settings.web_threads

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The synchronous routes' threads: as many as the pool has connections for them (settings.web_threads).
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        if caller_engine is not None:
            await caller_engine.dispose()

    app = FastAPI(
        title="Maillage",
        version=__version__,
        description=API_DESCRIPTION,
        # Open outside production only; in production web/apidocs.py serves them to a known caller.
        docs_url=apidocs.DOCS_URL if settings.operator_pages_open else None,
        redoc_url=None,
        openapi_url=apidocs.OPENAPI_URL if settings.operator_pages_open else None,
        dependencies=[Depends(csrf_protect)],
        responses=COMMON_RESPONSES,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessionmaker = sessions
    app.state.caller_engine = caller_engine
    monitoring_setup.configure(app, settings, owns_engine)  # batch runner, live worklist's after-commit hook
    install_statement_counter()
    metrics = Metrics()
    metrics.add_queue_collector(sessions)
    app.state.metrics = metrics

    env: Any = templates().env
    env.globals["nav_items"] = nav_items
    patient_banner.install(env)
    directory_pages.OFFER_SECTIONS[:] = [monitoring_offer.offer_section]  # telesurveillance on /offre

    install_error_handlers(app)
    # Innermost first: the shield catches what the handlers did not; the request context wraps all.
    app.add_middleware(RateLimitMiddleware, render=render_error)
    app.add_middleware(AuthenticationMiddleware)
    app.add_middleware(ErrorShieldMiddleware)
    app.add_middleware(LimitsMiddleware, render=render_error)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, server_timing=settings.server_timing)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(health.router)
    if not settings.operator_pages_open:
        app.include_router(apidocs.router)
    app.include_router(pages.router)
    app.include_router(audit_pages.router)
    app.include_router(analytics_board.router)
    app.include_router(analytics_pages.router)
    app.include_router(programme_pages.router)
    app.include_router(auth_pages.router)
    app.include_router(auth_psc_pages.router)
    app.include_router(auth_endpoints.router)
    app.include_router(authz_pages.router)
    app.include_router(monitoring_endpoints.router)
    app.include_router(monitoring_pages.router)
    app.include_router(predict_pages.router)
    app.include_router(monitoring_admin_pages.router)
    app.include_router(directory_endpoints.public_router)  # before the pages: /offre/catalogue.json
    app.include_router(directory_endpoints.router)
    app.include_router(directory_pages.router)
    app.include_router(patient_endpoints.router)
    app.include_router(patient_pages.router)
    app.include_router(document_endpoints.router)
    app.include_router(document_pages.router)
    app.include_router(teleexpertise_endpoints.router)
    app.include_router(teleexpertise_pages.router)
    app.include_router(teleconsultation_endpoints.router)
    app.include_router(teleconsultation_pages.router)
    app.include_router(teleconsultation_scheduling_endpoints.router)
    app.include_router(teleconsultation_scheduling_pages.router)
    app.include_router(teleconsultation_assisted_endpoints.router)
    app.include_router(teleconsultation_assisted_pages.router)
    app.include_router(teleconsultation_guest_pages.router)
    app.include_router(teleconsultation_signalling.router)
    app.include_router(messaging_endpoints.router)
    app.include_router(messaging_pages.router)
    app.include_router(exchange_pages.router)
    app.include_router(fhir_endpoints.well_known)
    app.include_router(fhir_endpoints.router)
    app.include_router(prescription_endpoints.router)
    app.include_router(prescription_pages.router)
    app.include_router(billing_pages.router)
    guard_included_routers(app)  # last: every router is included
    return app
