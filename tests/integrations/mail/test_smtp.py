"""The real SMTP mailer against a real SMTP server on a loopback port (aiosmtpd): plain relay, STARTTLS with
authentication, implicit TLS, and the errors a job must tell apart (retry later, or give up)."""

from __future__ import annotations

import pytest

from maillage.integrations.mail import FakeMailer, MailError, OutgoingEmail, SmtpMailer, SmtpSecurity
from tests.fixtures.smtp import LOOPBACK, free_port, smtp_peer

SENDER = "Maillage <ne-pas-repondre@ght.test>"


def message(to: str = "dr.martin@ch.test") -> OutgoingEmail:
    return OutgoingEmail(to=to, subject="Maillage : l'avis est rendu",
                         text="Bonjour,\nUne demande a du nouveau : à consulter, réservé aux équipes.\n",
                         message_id="<teleexpertise_notification.42@ght.test>")


class TestSend:
    def test_a_plain_relay_receives_the_message_with_its_headers_and_french_body(self):
        with smtp_peer() as peer:
            SmtpMailer(host=peer.host, port=peer.port, sender=SENDER, security=SmtpSecurity.NONE).send(message())
        [got] = peer.messages
        assert got.rcpt_tos == ["dr.martin@ch.test"]
        assert got.mail_from == "ne-pas-repondre@ght.test"
        assert got.message["Subject"] == "Maillage : l'avis est rendu"
        assert got.message["From"] == SENDER
        assert got.message["Message-ID"] == "<teleexpertise_notification.42@ght.test>"
        assert got.message["Auto-Submitted"] == "auto-generated"
        assert got.message["Date"]
        assert got.message.get_content_type() == "text/plain"
        assert got.message.get_content_charset() == "utf-8"
        assert got.message.get_content().replace("\r\n", "\n") == (
            "Bonjour,\nUne demande a du nouveau : à consulter, réservé aux équipes.\n")

    def test_starttls_then_login_then_send(self, tmp_path):
        with smtp_peer(tmp_path, tls=True, credentials=("maillage", "s3cret-relay")) as peer:
            SmtpMailer(host=peer.host, port=peer.port, sender=SENDER, security="starttls", username="maillage",
                       password="s3cret-relay", ssl_context=peer.client_context).send(message())
        assert peer.logins == ["maillage"]
        assert [m.rcpt_tos for m in peer.messages] == [["dr.martin@ch.test"]]

    def test_implicit_tls_from_the_first_byte(self, tmp_path):
        with smtp_peer(tmp_path, implicit_tls=True) as peer:
            SmtpMailer(host=peer.host, port=peer.port, sender=SENDER, security="ssl",
                       ssl_context=peer.client_context).send(message())
        assert len(peer.messages) == 1

    def test_a_server_that_requires_starttls_refuses_a_plain_client(self, tmp_path):
        with smtp_peer(tmp_path, tls=True) as peer, pytest.raises(MailError):
            SmtpMailer(host=peer.host, port=peer.port, sender=SENDER, security="none").send(message())
        assert peer.messages == []

    def test_an_untrusted_certificate_is_refused(self, tmp_path):
        """The default context verifies the server: a self-signed certificate nobody trusts stops the send."""
        with smtp_peer(tmp_path, tls=True) as peer, pytest.raises(MailError) as err:
            SmtpMailer(host=peer.host, port=peer.port, sender=SENDER, security="starttls").send(message())
        assert not err.value.permanent
        assert peer.messages == []


class TestErrors:
    def test_wrong_credentials_are_a_permanent_failure(self, tmp_path):
        with (smtp_peer(tmp_path, tls=True, credentials=("maillage", "right-password")) as peer,
              pytest.raises(MailError) as err):
            SmtpMailer(host=peer.host, port=peer.port, sender=SENDER, username="maillage",
                       password="wrong-password", ssl_context=peer.client_context).send(message())
        assert err.value.permanent
        assert peer.messages == []

    def test_a_refused_recipient_is_a_permanent_failure_and_the_address_is_not_in_the_error(self):
        with smtp_peer() as peer:
            peer.refuse.add("parti@ch.test")
            with pytest.raises(MailError) as err:
                SmtpMailer(host=peer.host, port=peer.port, sender=SENDER, security="none").send(
                    message("parti@ch.test"))
        assert err.value.permanent
        assert "parti@ch.test" not in str(err.value)

    def test_nobody_listening_is_a_temporary_failure(self):
        with pytest.raises(MailError) as err:
            SmtpMailer(host=LOOPBACK, port=free_port(), sender=SENDER, security="none", timeout=2).send(message())
        assert not err.value.permanent


class TestFakeMailer:
    def test_it_records_what_it_is_given_and_can_fail_on_demand(self):
        fake = FakeMailer()
        fake.send(message())
        assert [m.to for m in fake.sent] == ["dr.martin@ch.test"]
        assert fake.to("autre@ch.test") == []
        failing = FakeMailer(fail_with=MailError("indisponible"))
        with pytest.raises(MailError):
            failing.send(message())
        assert failing.sent == []
