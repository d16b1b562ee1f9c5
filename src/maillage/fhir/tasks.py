"""The FHIR door's worker jobs: run a Bulk Data export, delete expired exports with their files."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maillage.fhir import bulk
from maillage.fhir import resources as _resources  # noqa: F401  (registers the resource types the export reads)
from maillage.worker.registry import job, periodic


@job(bulk.EXPORT_JOB, max_attempts=3)
def run_export(session: Session, export_id: str) -> None:
    bulk.run(session, export_id)


@job(bulk.PURGE_JOB, max_attempts=3)
def purge_exports(session: Session) -> int:
    return bulk.purge_expired(session)


periodic(bulk.PURGE_JOB, every=dt.timedelta(hours=1))
