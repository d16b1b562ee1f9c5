"""The MSSanté port: ``MssanteTransport`` (Protocol), ``ImapSmtpTransport`` (SMTP + IMAP over TLS) and
``FakeTransport``; ``xdm`` builds and reads IHE XDM archives."""

from maillage.integrations.mssante.client import ImapSmtpTransport, build_email
from maillage.integrations.mssante.fake import FakeTransport
from maillage.integrations.mssante.port import (
    Attachment,
    MailboxBatch,
    MssanteError,
    MssanteTransport,
    MssMessage,
    ReceivedMail,
)

__all__ = ["Attachment", "FakeTransport", "ImapSmtpTransport", "MailboxBatch", "MssMessage", "MssanteError",
           "MssanteTransport", "ReceivedMail", "build_email"]
