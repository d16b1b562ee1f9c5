"""Background jobs of the audit trail: the daily purge under the configured retention, the periodic checkpoint."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session
from structlog.contextvars import get_contextvars

from maillage.audit import service
from maillage.config import get_settings
from maillage.security.context import AuditContext
from maillage.worker.registry import job, periodic

PURGE_JOB = "audit.purge"
CHECKPOINT_JOB = "audit.checkpoint"


@job(PURGE_JOB, max_attempts=3)
def purge_expired(session: Session, retention_days: int | None = None) -> int:
    """Purge the entries older than the retention (MAILLAGE_AUDIT_RETENTION_DAYS); idempotent.

    Never forced: a retention under six months makes the job fail, visibly, instead of deleting traces.
    """
    days = retention_days if retention_days is not None else get_settings().audit_retention_days
    request_id = str(get_contextvars().get("request_id") or "")
    result = service.purge(session, retention_days=days, actor_id="worker", actor_role="system",
                           context=AuditContext(request_id=request_id[:64], address="local"))
    return result.purged


periodic(PURGE_JOB, every=dt.timedelta(hours=24))


@job(CHECKPOINT_JOB, max_attempts=1)
def write_checkpoint(session: Session) -> int | None:
    """Sign the chain's head into the checkpoint store, after verifying what was written since the last one.

    Idempotent (an unmoved head writes nothing). A broken chain or register fails the job, visibly, and is never
    signed. The interval is the window in which the newest entries could be deleted unnoticed (docs/adr/0004).
    Returns the seq the new checkpoint pins, or None.
    """
    result = service.write_checkpoint(session)
    return result.written.seq if result.written is not None else None


periodic(CHECKPOINT_JOB, every=dt.timedelta(minutes=get_settings().audit_checkpoint_minutes))
