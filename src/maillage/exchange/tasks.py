"""Background jobs of the MSSanté exchange, run by ``maillage worker``: send a queued document once, and read the
applicative mailbox every ``MAILLAGE_MSSANTE_POLL_SECONDS`` (nothing happens while MSSanté is off)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.orm import Session

from maillage.config import get_settings
from maillage.exchange import service
from maillage.worker.registry import job, periodic


@job(service.DELIVER_JOB)
def deliver_mssante(session: Session, send_id: str) -> str:
    """Send one queued document by MSSanté (once: the outbox ledger holds its key)."""
    return service.deliver(session, send_id)


@job(service.POLL_JOB)
def poll_mssante(session: Session) -> dict[str, int]:
    """Read the new messages of the applicative mailbox and file or set aside each, once."""
    return dataclasses.asdict(service.poll_mailbox(session))


periodic(service.POLL_JOB, every=dt.timedelta(seconds=get_settings().mssante_poll_seconds))
