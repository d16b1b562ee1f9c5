"""A mailer that keeps the messages it is given, for tests and for installations without a mail server."""

from __future__ import annotations

from maillage.integrations.mail.port import MailError, OutgoingEmail


class FakeMailer:
    def __init__(self, *, fail_with: MailError | None = None) -> None:
        self.sent: list[OutgoingEmail] = []
        self.fail_with = fail_with

    def send(self, message: OutgoingEmail) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)

    def to(self, address: str) -> list[OutgoingEmail]:
        return [m for m in self.sent if m.to == address]
