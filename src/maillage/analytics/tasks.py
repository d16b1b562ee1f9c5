"""Background job of the analytics side: the operational extract.

The handler reads the operational database on a read-only connection of its own (not the worker's transaction,
which on SQLite would hold the write lock for the whole extraction), writes the warehouse's files and recomputes
the indicators the pages read; running it twice rewrites the same tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from maillage.analytics import catalogue, engines, extract, service
from maillage.analytics.warehouse import default_warehouse
from maillage.worker.registry import job


@job("analytics.extract")
def extract_job(session: Session, only: str = "") -> dict[str, Any]:
    warehouse = default_warehouse()
    names = [n for n in only.split(",") if n] or None
    url = session.get_bind().engine.url.render_as_string(hide_password=False)  # the worker's own database
    report = extract.extract_from_database(url, warehouse,
                                           extractors=catalogue.EXTRACTORS,
                                           objection_sources=catalogue.OBJECTION_SOURCES, only=names)
    refreshed = service.refresh_results(warehouse, engines.config_from_settings())
    return {"key_version": report.key_version, "tables": report.tables, "skipped": sorted(report.skipped),
            "refreshed": sorted(refreshed)}
