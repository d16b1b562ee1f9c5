"""What the platform asks of its MSSanté applicative mailbox: send one message with attachments, and list the
messages received after a given IMAP UID.

A received message is identified by the mailbox's ``UIDVALIDITY`` and its ``UID`` (RFC 3501 §2.3.1.1): while
UIDVALIDITY is unchanged, a UID names one message forever, so the reader stores the last UID it handled and asks for
the ones after it. When the server announces a new UIDVALIDITY the old UIDs mean nothing and the reader starts over,
the Message-ID then keeping it from filing a message twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class MssMessage:
    """One message to one MSSanté address, from the platform's applicative mailbox.

    ``headers`` holds the ``X-MSS-*`` headers (Référentiel socle MSSanté #2, ECO.2.4.x). ``message_id`` is stable
    for a given send, so a retry after a crash carries the same Message-ID.
    """

    to: str
    subject: str
    text: str
    message_id: str
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceivedMail:
    uid: int
    raw: bytes  # RFC 5322 bytes as stored by the server


@dataclass(frozen=True)
class MailboxBatch:
    uidvalidity: int
    messages: list[ReceivedMail]


class MssanteError(Exception):
    """The server could not be reached or refused; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class MssanteTransport(Protocol):
    def send(self, message: MssMessage) -> None:
        """Hand the message to the operator's SMTP server, or raise ``MssanteError``."""
        ...

    def fetch_after(self, uidvalidity: int | None, last_uid: int, *, limit: int) -> MailboxBatch:
        """Up to ``limit`` messages of the inbox with a UID above ``last_uid`` (all of them when the mailbox's
        UIDVALIDITY differs from ``uidvalidity``), oldest first, without changing their flags."""
        ...
