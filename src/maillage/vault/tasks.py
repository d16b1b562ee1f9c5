"""Background jobs of the vault: delete blob files after commit, sweep orphan files every hour."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from maillage.vault import service
from maillage.worker.registry import job, periodic


@job(service.DELETE_BLOB_FILE_JOB)
def delete_blob_file(session: Session, blob_id: str) -> bool:
    """Delete the file of a blob whose row was deleted by a committed transaction (idempotent)."""
    return service.delete_blob_file(session, uuid.UUID(blob_id))


@job("vault.sweep_orphans")
def sweep_orphans(session: Session, older_than_seconds: int = int(service.ORPHAN_GRACE.total_seconds())) -> int:
    """Delete blob files without a metadata row older than the grace period (rolled-back writes)."""
    report = service.sweep_orphans(session, older_than=dt.timedelta(seconds=older_than_seconds))
    return report.orphan_files + report.temporary_files


periodic("vault.sweep_orphans", every=dt.timedelta(hours=1))
