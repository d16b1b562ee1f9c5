"""The real MSSanté client: SMTP (stdlib ``smtplib``) to send, IMAP4rev1 (stdlib ``imaplib``) to read, both over TLS.

One connection per operation: the worker polls every minute and a send is one job; the operator closes idle
connections anyway. Reading uses ``UID FETCH … BODY.PEEK[]`` so that the server's \\Seen flags are left to people
who open the same mailbox with another client.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from maillage.integrations.mssante.port import MailboxBatch, MssanteError, MssMessage, ReceivedMail

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


def build_email(message: MssMessage, sender: str) -> EmailMessage:
    """The MIME message: text part, then each attachment, with the ``X-MSS-*`` headers."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.text, charset="utf-8")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.media_type.partition("/")
        email.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return email


class ImapSmtpTransport:
    def __init__(self, *, sender: str, smtp_host: str, smtp_port: int, imap_host: str, imap_port: int,
                 username: str, password: str, smtp_security: str = "starttls", imap_security: str = "ssl",
                 mailbox: str = "INBOX", timeout: float = 20.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.sender = sender
        self.smtp_host, self.smtp_port, self.smtp_security = smtp_host, smtp_port, smtp_security
        self.imap_host, self.imap_port, self.imap_security = imap_host, imap_port, imap_security
        self.username, self.password = username, password
        self.mailbox = mailbox
        self.timeout = timeout
        self.ssl_context = ssl_context

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    # -- SMTP ----------------------------------------------------------------------------------------------------

    def send(self, message: MssMessage) -> None:
        email = build_email(message, self.sender)
        try:
            client: smtplib.SMTP
            if self.smtp_security == "ssl":
                client = smtplib.SMTP_SSL(self.smtp_host, self.smtp_port, timeout=self.timeout,
                                          context=self._context())
            else:
                client = smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout)
                if self.smtp_security == "starttls":
                    client.starttls(context=self._context())
                    client.ehlo()
            with client:
                if self.username and self.smtp_security != "none":
                    client.login(self.username, self.password)
                client.send_message(email)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError,
                smtplib.SMTPNotSupportedError) as exc:
            raise MssanteError(f"SMTP refused: {type(exc).__name__}", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MssanteError(f"SMTP unavailable: {type(exc).__name__}") from exc

    # -- IMAP ----------------------------------------------------------------------------------------------------

    def _imap(self) -> imaplib.IMAP4:
        if self.imap_security == "ssl":
            return imaplib.IMAP4_SSL(self.imap_host, self.imap_port, ssl_context=self._context(),
                                     timeout=self.timeout)
        client = imaplib.IMAP4(self.imap_host, self.imap_port, timeout=self.timeout)
        client.starttls(ssl_context=self._context())
        return client

    def fetch_after(self, uidvalidity: int | None, last_uid: int, *, limit: int) -> MailboxBatch:
        try:
            client = self._imap()
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MssanteError(f"IMAP unavailable: {type(exc).__name__}") from exc
        try:
            try:
                client.login(self.username, self.password)
            except imaplib.IMAP4.error as exc:
                raise MssanteError("IMAP authentication refused", permanent=True) from exc
            status, _ = client.select(self.mailbox, readonly=True)
            if status != "OK":
                raise MssanteError("IMAP mailbox not selectable", permanent=True)
            current = self._uidvalidity(client)
            start = last_uid + 1 if uidvalidity == current else 1
            status, data = client.uid("SEARCH", f"UID {start}:*")
            if status != "OK":
                raise MssanteError("IMAP search failed")
            uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) >= start)[:limit]
            messages = []
            for uid in uids:
                status, parts = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
                raw = next((p[1] for p in parts if isinstance(p, tuple) and len(p) > 1), None)
                if status != "OK" or not isinstance(raw, bytes):
                    raise MssanteError("IMAP fetch failed")
                messages.append(ReceivedMail(uid, raw))
            return MailboxBatch(current, messages)
        except (OSError, imaplib.IMAP4.abort) as exc:
            raise MssanteError(f"IMAP connection lost: {type(exc).__name__}") from exc
        except imaplib.IMAP4.error as exc:
            raise MssanteError(f"IMAP error: {type(exc).__name__}") from exc
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                client.logout()

    @staticmethod
    def _uidvalidity(client: imaplib.IMAP4) -> int:
        _, data = client.response("UIDVALIDITY")
        value = data[0] if data else None
        if isinstance(value, bytes) and value.isdigit():
            return int(value)
        status, data = client.status("INBOX", "(UIDVALIDITY)")
        match = _UIDVALIDITY.search(data[0] or b"") if status == "OK" and isinstance(data[0], bytes) else None
        if match is None:
            raise MssanteError("IMAP server gave no UIDVALIDITY")
        return int(match.group(1))
