"""Background job of the analytics side: the operational extract.

The handler reads the operational database through the worker's session (it writes nothing there) and writes the
warehouse's files; running it twice rewrites the same tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from maillage.analytics import catalogue, extract
from maillage.analytics.warehouse import default_warehouse
from maillage.worker.registry import job


@job("analytics.extract")
def extract_job(session: Session, only: str = "") -> dict[str, Any]:
    warehouse = default_warehouse()
    names = [n for n in only.split(",") if n] or None
    report = extract.run_extraction(extract.ExtractionContext(session=session), warehouse,
                                    extract.keyring_from_settings(warehouse), extractors=catalogue.EXTRACTORS,
                                    objection_sources=catalogue.OBJECTION_SOURCES, only=names)
    return {"key_version": report.key_version, "tables": report.tables, "skipped": sorted(report.skipped)}
