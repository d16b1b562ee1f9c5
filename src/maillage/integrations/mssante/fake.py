"""An in-memory applicative mailbox, for tests and the demo: keeps what is sent, serves what is delivered to it."""

from __future__ import annotations

from maillage.integrations.mssante.client import build_email
from maillage.integrations.mssante.port import MailboxBatch, MssanteError, MssMessage, ReceivedMail


class FakeTransport:
    def __init__(self, *, sender: str = "maillage@mssante.test", uidvalidity: int = 1,
                 fail_with: MssanteError | None = None) -> None:
        self.sender = sender
        self.sent: list[MssMessage] = []
        self.inbox: list[ReceivedMail] = []
        self.uidvalidity = uidvalidity
        self.fail_with = fail_with

    def send(self, message: MssMessage) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        build_email(message, self.sender)  # the same checks as the real client: a header that can not be sent fails
        self.sent.append(message)

    def deliver(self, raw: bytes) -> int:
        uid = (self.inbox[-1].uid if self.inbox else 0) + 1
        self.inbox.append(ReceivedMail(uid, raw))
        return uid

    def fetch_after(self, uidvalidity: int | None, last_uid: int, *, limit: int) -> MailboxBatch:
        if self.fail_with is not None:
            raise self.fail_with
        start = last_uid if uidvalidity == self.uidvalidity else 0
        return MailboxBatch(self.uidvalidity, [m for m in self.inbox if m.uid > start][:limit])
