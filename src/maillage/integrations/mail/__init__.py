"""The email port: ``Mailer`` (Protocol), ``SmtpMailer`` (the real client) and ``FakeMailer`` (records messages)."""

from maillage.integrations.mail.fake import FakeMailer
from maillage.integrations.mail.port import Mailer, MailError, OutgoingEmail
from maillage.integrations.mail.smtp import SmtpMailer, SmtpSecurity

__all__ = ["FakeMailer", "MailError", "Mailer", "OutgoingEmail", "SmtpMailer", "SmtpSecurity"]
