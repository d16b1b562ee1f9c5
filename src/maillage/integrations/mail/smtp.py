"""The real mailer: the standard library's SMTP client, with STARTTLS or implicit TLS and optional authentication.

One connection per message: notifications are few and a job sends one; a pool would hold connections that the
server closes after a minute of silence anyway.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from enum import StrEnum

from maillage.integrations.mail.port import MailError, OutgoingEmail


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # submission port 587: plain connection upgraded before anything is said
    SSL = "ssl"            # port 465: TLS from the first byte
    NONE = "none"          # a relay on the same machine or network only: nothing is encrypted


class SmtpMailer:
    def __init__(self, *, host: str, port: int, sender: str, security: SmtpSecurity | str = SmtpSecurity.STARTTLS,
                 username: str = "", password: str = "", timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None, local_hostname: str | None = None) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.security = SmtpSecurity(security)
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.security is SmtpSecurity.SSL:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context(),
                                    local_hostname=self.local_hostname)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname)
        if self.security is SmtpSecurity.STARTTLS:
            client.starttls(context=self._context())
            client.ehlo()
        return client

    def build(self, message: OutgoingEmail) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message.message_id
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no automatic replies to a notification
        for name, value in message.headers.items():
            email[name] = value
        email.set_content(message.text, charset="utf-8")
        return email

    def send(self, message: OutgoingEmail) -> None:
        email = self.build(message)
        try:
            with self._connect() as client:
                if self.username:
                    client.login(self.username, self.password)
                client.send_message(email)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError,
                smtplib.SMTPNotSupportedError) as exc:
            raise MailError(f"SMTP refused: {type(exc).__name__}", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP unavailable: {type(exc).__name__}") from exc
