"""What the platform asks of a mail server: send one plain-text message to one address."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingEmail:
    """One message to one recipient.

    ``message_id`` is chosen by the caller and stable for a given reason to write (``<key@domain>``), so that a
    message sent again after a crash carries the same Message-ID and a mail client shows it once.
    """

    to: str
    subject: str
    text: str
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)


class MailError(Exception):
    """The server could not be reached or refused the message; ``permanent`` when retrying cannot help
    (recipient refused, authentication failed)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    def send(self, message: OutgoingEmail) -> None:
        """Hand the message to the mail server, or raise ``MailError``."""
        ...
