"""Send one email per key, to a professional's address on file, through the configured mailer.

Called from worker jobs only, never from a request: the job that carries the event was enqueued in the event's
transaction (house rule 5). ``deliver_once`` looks the key up in the ledger, sends, and writes the ledger row in the
job's transaction, so a job run twice sends once. A professional without an address is skipped, logged by id.
The mailer comes from the settings (``MAILLAGE_SMTP_*``; off by default: in-app notifications only) unless a test
or the demo installs one with ``use_mailer``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parseaddr
from enum import StrEnum

from sqlalchemy.orm import Session

from maillage.config import Settings, get_settings
from maillage.integrations.mail import Mailer, OutgoingEmail, SmtpMailer
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.models.outbox import MailDelivery
from maillage.outbox import repository as repo

log = get_logger(__name__)

_installed: list[Mailer] = []


class Outcome(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    SKIPPED = "skipped"
    DISABLED = "disabled"


def mailer_from_settings(settings: Settings) -> Mailer | None:
    """The SMTP mailer the settings describe, or None when email is off."""
    if not settings.smtp_enabled:
        return None
    return SmtpMailer(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                      security=settings.smtp_security, username=settings.smtp_username,
                      password=settings.smtp_password.get_secret_value(), timeout=settings.smtp_timeout_seconds)


@contextmanager
def use_mailer(mailer: Mailer) -> Iterator[Mailer]:
    """Send through ``mailer`` instead of the configured one while the block runs (tests, demo)."""
    _installed.append(mailer)
    try:
        yield mailer
    finally:
        _installed.remove(mailer)


def current_mailer(settings: Settings | None = None) -> Mailer | None:
    if _installed:
        return _installed[-1]
    return mailer_from_settings(settings or get_settings())


def enabled(settings: Settings | None = None) -> bool:
    """Whether events should queue emails at all (no job is queued when email is off)."""
    return bool(_installed) or (settings or get_settings()).smtp_enabled


def message_id(key: str, sender: str) -> str:
    """A Message-ID derived from the key: the same reason to write always gives the same id."""
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] if "@" in address else ""
    domain = "".join(c for c in domain if c.isalnum() or c in "-.") or "localhost"
    local = "".join(c if c.isalnum() or c in "-_." else "." for c in key)
    return f"<{local}@{domain}>"


def deliver_once(session: Session, *, key: str, user_id: uuid.UUID, subject: str, text: str,
                 mailer: Mailer | None, settings: Settings | None = None) -> Outcome:
    """Send ``subject``/``text`` to the user's address unless ``key`` was already sent or skipped.

    ``subject`` and ``text`` must carry no health data: they leave the platform. Mail errors propagate (the job is
    retried with back-off), and nothing is recorded for a message that was not handed over.
    """
    if repo.delivery(session, key) is not None:
        return Outcome.ALREADY_SENT
    if mailer is None:
        return Outcome.DISABLED
    user = repo.recipient(session, user_id)
    address = (user.email or "").strip() if user is not None else ""
    reason = ("no_account" if user is None else "inactive" if user.status != "active"
              else "no_address" if not address else None)
    if reason is not None:
        repo.add(session, MailDelivery(key=key, user_id=user.id if user else None, status="skipped", reason=reason,
                                       created_at=now()))
        log.info("outbox.skipped", key=key, user_id=str(user_id), reason=reason)
        return Outcome.SKIPPED
    s = settings or get_settings()
    mid = message_id(key, s.smtp_from)
    mailer.send(OutgoingEmail(to=address, subject=subject, text=text, message_id=mid))
    repo.add(session, MailDelivery(key=key, user_id=user_id, status="sent", message_id=mid, created_at=now()))
    log.info("outbox.sent", key=key, user_id=str(user_id))
    return Outcome.SENT
