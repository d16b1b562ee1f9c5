"""The real MSSanté client against real local servers: aiosmtpd for SMTP (STARTTLS, login), a private Dovecot for
IMAP over TLS (``tests/fixtures/imap.py``)."""

from __future__ import annotations

import pytest

from maillage.integrations.mssante import Attachment, FakeTransport, ImapSmtpTransport, MssanteError, MssMessage
from tests.fixtures.imap import imap_peer
from tests.fixtures.smtp import smtp_peer

ZIP = b"PK\x03\x04" + b"\x00" * 40


def message(**changes: object) -> MssMessage:
    base: dict[str, object] = dict(
        to="dr.leroy@chu-test.mssante.fr", subject="Document de santé", text="Bonjour,\nci-joint.\n",
        message_id="<mssante_send.1@mssante.test>", attachments=(Attachment("IHE_XDM.ZIP", "application/zip", ZIP),),
        headers={"X-MSS-CODECDA": "11488-4", "X-MSS-INS": "O"})
    base.update(changes)
    return MssMessage(**base)  # type: ignore[arg-type]


def raw_mail(n: int) -> bytes:
    return (f"From: dr.x@ext.mssante.fr\r\nTo: bal@mssante.test\r\nSubject: message {n}\r\n"
            f"Message-ID: <m{n}@ext.mssante.fr>\r\n\r\ncorps {n}\r\n").encode()


def transport(*, smtp=None, imap=None, **kw: object) -> ImapSmtpTransport:
    args: dict[str, object] = dict(sender="Maillage <bal@mssante.test>", smtp_host="127.0.0.1", smtp_port=1,
                                   imap_host="127.0.0.1", imap_port=1, username="", password="")
    if smtp is not None:
        args.update(smtp_host=smtp.host, smtp_port=smtp.port, ssl_context=smtp.client_context)
    if imap is not None:
        args.update(imap_host=imap.host, imap_port=imap.port, username=imap.username, password=imap.password,
                    ssl_context=imap.client_context)
    args.update(kw)
    return ImapSmtpTransport(**args)  # type: ignore[arg-type]


class TestSend:
    def test_the_message_reaches_the_server_with_its_headers_and_the_archive(self, tmp_path):
        with smtp_peer(tmp_path, tls=True, credentials=("bal", "secret")) as peer:
            transport(smtp=peer, username="bal", password="secret").send(message())
        [got] = peer.messages
        assert got.rcpt_tos == ["dr.leroy@chu-test.mssante.fr"] and peer.logins == ["bal"]
        assert got.message["X-MSS-CODECDA"] == "11488-4" and got.message["X-MSS-INS"] == "O"
        assert got.message["Message-ID"] == "<mssante_send.1@mssante.test>"
        [part] = list(got.message.iter_attachments())
        assert part.get_filename() == "IHE_XDM.ZIP" and part.get_content_type() == "application/zip"
        assert part.get_payload(decode=True) == ZIP

    def test_a_refused_recipient_is_a_permanent_error(self, tmp_path):
        with smtp_peer(tmp_path, tls=True) as peer:
            peer.refuse.add("dr.leroy@chu-test.mssante.fr")
            with pytest.raises(MssanteError) as caught:
                transport(smtp=peer, smtp_security="starttls").send(message())
        assert caught.value.permanent

    def test_an_unreachable_server_is_a_temporary_error(self):
        with pytest.raises(MssanteError) as caught:
            transport(smtp_port=9, timeout=5).send(message())
        assert not caught.value.permanent


class TestFetch:
    def test_messages_come_in_uid_order_and_only_after_the_last_uid_read(self, tmp_path):
        with imap_peer(tmp_path) as peer:
            for n in (1, 2, 3):
                peer.append(raw_mail(n))
            t = transport(imap=peer)
            first = t.fetch_after(None, 0, limit=2)
            assert [m.uid for m in first.messages] == [1, 2]
            assert b"<m1@ext.mssante.fr>" in first.messages[0].raw
            rest = t.fetch_after(first.uidvalidity, 2, limit=10)
            assert [m.uid for m in rest.messages] == [3]
            assert t.fetch_after(first.uidvalidity, 3, limit=10).messages == []

    def test_a_changed_uidvalidity_starts_over_from_the_first_message(self, tmp_path):
        with imap_peer(tmp_path) as peer:
            peer.append(raw_mail(1))
            t = transport(imap=peer)
            batch = t.fetch_after(12345, 1, limit=10)
            assert batch.uidvalidity != 12345 and [m.uid for m in batch.messages] == [1]

    def test_reading_leaves_the_messages_unseen(self, tmp_path):
        with imap_peer(tmp_path) as peer:
            peer.append(raw_mail(1))
            transport(imap=peer).fetch_after(None, 0, limit=10)
            client = peer.client()
            client.select("INBOX", readonly=True)
            _, data = client.search(None, "UNSEEN")
            client.logout()
            assert data[0].split() == [b"1"]

    def test_a_wrong_password_is_a_permanent_error(self, tmp_path):
        with imap_peer(tmp_path) as peer, pytest.raises(MssanteError) as caught:
            transport(imap=peer, password="faux").fetch_after(None, 0, limit=1)
        assert caught.value.permanent


class TestFake:
    def test_the_fake_serves_what_is_delivered_after_the_last_uid(self):
        fake = FakeTransport()
        fake.deliver(raw_mail(1))
        fake.deliver(raw_mail(2))
        assert [m.uid for m in fake.fetch_after(None, 0, limit=5).messages] == [1, 2]
        assert [m.uid for m in fake.fetch_after(fake.uidvalidity, 1, limit=5).messages] == [2]
        fake.send(message())
        assert fake.sent[0].to == "dr.leroy@chu-test.mssante.fr"
