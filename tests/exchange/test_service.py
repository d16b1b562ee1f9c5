"""The MSSanté exchange against real local servers: a tele-expertise report and a patient document sent through
aiosmtpd and read back; three messages dropped into a private Dovecot mailbox and read by the job, with a restart in
the middle."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import io
import zipfile
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from maillage.config import Settings
from maillage.document import service as documents
from maillage.document.rules import DOCUMENT_TYPES
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.exchange import service
from maillage.integrations.mssante import FakeTransport, ImapSmtpTransport, MssanteError, build_email, xdm
from maillage.integrations.mssante.port import Attachment, MssMessage
from maillage.kit.pagination import PageParams
from maillage.models.audit import AuditEntry
from maillage.models.document import Document
from maillage.models.mssante import MssanteReceived, MssanteSend
from maillage.models.outbox import MailDelivery
from maillage.teleexpertise import service as teleexpertise
from tests.fixtures.factories import make_user
from tests.fixtures.imap import imap_peer
from tests.fixtures.patients import ins_of, qualified
from tests.fixtures.smtp import smtp_peer
from tests.fixtures.teleexpertise import OPINION, actor, claimed, world

RECIPIENT = "dr.leroy@chu-test.mssante.fr"
FILER = "classement-mssante"


def _pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Bilan sanguin")
    return bytes(pdf.output())


PDF = _pdf()


def settings(**changes: object) -> Settings:
    values: dict[str, object] = {"mssante_address": "bal@mssante.test", "mssante_filing_username": FILER, **changes}
    return Settings(environment="test", secret_key="t" * 40, **values)  # type: ignore[arg-type]


def signed_report(db, *, qualified_identity: bool):
    w = world(db)
    if qualified_identity:
        view = qualified(db, w.requester, 3)
        w = dataclasses.replace(w, patient_id=view.patient.id)
    req = claimed(db, w)
    teleexpertise.answer(db, w.a(db, w.expert), req.id, OPINION)
    return w, req


def smtp_transport(peer) -> ImapSmtpTransport:
    return ImapSmtpTransport(sender="Maillage <bal@mssante.test>", smtp_host=peer.host, smtp_port=peer.port,
                             smtp_security="none", imap_host="127.0.0.1", imap_port=1, username="", password="")


def archive_of(message: EmailMessage) -> dict[str, bytes]:
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "IHE_XDM.ZIP"
    with zipfile.ZipFile(io.BytesIO(part.get_payload(decode=True))) as z:
        return {n: z.read(n) for n in z.namelist()}


class TestSendReport:
    def test_the_report_arrives_with_headers_xdm_pdf_and_the_ins_of_a_qualified_identity(self, db, tmp_path):
        w, req = signed_report(db, qualified_identity=True)
        s = settings()
        with smtp_peer(tmp_path) as peer, service.use_transport(smtp_transport(peer)) as t:
            row = service.send_teleexpertise_report(db, w.a(db, w.requester), request_id=req.id, recipient=RECIPIENT,
                                                    settings=s)
            assert service.deliver(db, row.id, t) == service.Delivery.SENT
        [got] = peer.messages
        assert got.rcpt_tos == [RECIPIENT]
        assert got.message["X-MSS-CODECDA"] == "11488-4" and got.message["X-MSS-INS"] == "O"
        files = archive_of(got.message)
        assert {"README.TXT", "INDEX.HTM", xdm.METADATA} <= set(files)
        pdf = files["IHE_XDM/SUBSET01/DOC0001.PDF"]
        assert pdf.startswith(b"%PDF")
        received = xdm.read(next(iter(got.message.iter_attachments())).get_payload(decode=True))
        assert received.entries[0].data == pdf  # the hash and size of METADATA.XML match the PDF (checked by read)
        ins = ins_of(3)
        assert received.patient_ids() == {(ins["ins_matricule"], ins["ins_oid"])}
        assert ins["ins_matricule"].encode() in files["IHE_XDM/SUBSET01/DOC0002.XML"]

    def test_a_non_qualified_identity_sends_no_ins(self, db, tmp_path):
        w, req = signed_report(db, qualified_identity=False)
        with smtp_peer(tmp_path) as peer, service.use_transport(smtp_transport(peer)) as t:
            row = service.send_teleexpertise_report(db, w.a(db, w.requester), request_id=req.id, recipient=RECIPIENT,
                                                    settings=settings())
            service.deliver(db, row.id, t)
        [got] = peer.messages
        assert got.message["X-MSS-INS"] is None and got.message["X-MSS-CODECDA"] == "11488-4"
        files = archive_of(got.message)
        assert b"1.2.250.1.213.1.4." not in files[xdm.METADATA]
        assert b"1.2.250.1.213.1.4." not in files["IHE_XDM/SUBSET01/DOC0002.XML"]
        assert not row.with_ins

    def test_the_send_is_audited_and_recorded_once_on_retry(self, db, tmp_path):
        w, req = signed_report(db, qualified_identity=False)
        failing = FakeTransport(fail_with=MssanteError("down"))
        with service.use_transport(failing):
            row = service.send_teleexpertise_report(db, w.a(db, w.requester), request_id=req.id, recipient=RECIPIENT,
                                                    settings=settings())
            with pytest.raises(MssanteError):
                service.deliver(db, row.id, failing)
        assert db.scalar(select(MailDelivery).where(MailDelivery.key == row.delivery_key)) is None
        with smtp_peer(tmp_path) as peer:
            t = smtp_transport(peer)
            assert service.deliver(db, row.id, t) == service.Delivery.SENT
            assert service.deliver(db, row.id, t) == service.Delivery.ALREADY_SENT
        assert len(peer.messages) == 1 and peer.messages[0].message["Message-ID"] == row.message_id
        assert db.get(MssanteSend, row.id).status == "sent"
        db.commit()
        sends = db.scalars(select(AuditEntry).where(AuditEntry.action == "send",
                                                    AuditEntry.object_id == str(row.id))).all()
        assert len(sends) == 1 and sends[0].patient_id == str(w.patient_id)

    def test_an_address_outside_the_trust_space_is_refused_in_french(self, db):
        w, req = signed_report(db, qualified_identity=False)
        with service.use_transport(FakeTransport()), pytest.raises(ValidationFailed, match="espace de confiance"):
            service.send_teleexpertise_report(db, w.a(db, w.requester), request_id=req.id,
                                              recipient="dr.leroy@gmail.com", settings=settings())
        assert db.scalars(select(MssanteSend)).all() == []

    def test_someone_outside_the_request_gets_not_found(self, db):
        w, req = signed_report(db, qualified_identity=False)
        with service.use_transport(FakeTransport()), pytest.raises(NotFound):
            service.send_teleexpertise_report(db, w.a(db, w.outsider), request_id=req.id, recipient=RECIPIENT,
                                              settings=settings())


class TestSendDocument:
    def test_a_patient_pdf_goes_out_once_in_its_xdm_archive(self, db):
        w = world(db)
        doc = documents.store_upload(db, actor(db, w.requester), patient_id=w.patient_id, filename="bilan.pdf",
                                     data=PDF, declared_type="application/pdf", purpose="care",
                                     owner_type="patient", owner_id=str(w.patient_id), title="Bilan sanguin")
        fake = FakeTransport()
        with service.use_transport(fake):
            row = service.send_document(db, actor(db, w.requester), document_id=doc.id, recipient=RECIPIENT,
                                        settings=settings())
            service.deliver(db, row.id, fake)
            service.deliver(db, row.id, fake)
        [sent] = fake.sent
        zipped = sent.attachments[0].data
        assert xdm.read(zipped).entries[0].data == PDF
        assert sent.headers == {"X-MSS-CODECDA": "34133-9"}

    def test_another_physician_gets_not_found(self, db):
        w = world(db)
        doc = documents.store_upload(db, actor(db, w.requester), patient_id=w.patient_id, filename="bilan.pdf",
                                     data=PDF, declared_type="application/pdf", purpose="care",
                                     owner_type="patient", owner_id=str(w.patient_id))
        with service.use_transport(FakeTransport()), pytest.raises(NotFound):
            service.send_document(db, actor(db, w.outsider), document_id=doc.id, recipient=RECIPIENT,
                                  settings=settings())

    def test_an_identity_officer_may_not_send(self, db):
        officer = make_user(db, "identity_officer")
        with service.use_transport(FakeTransport()), pytest.raises(PermissionDenied):
            service.send_document(db, actor(db, officer), document_id="00000000-0000-4000-8000-000000000000",
                                  recipient=RECIPIENT, settings=settings())


# -- receiving -------------------------------------------------------------------------------------------------


def incoming(n: int, attachment: bytes, *, filename: str = "IHE_XDM.ZIP", media_type: str = "application/zip") -> bytes:
    message = MssMessage(to="bal@mssante.test", subject=f"Compte rendu {n}", text="Bonjour",
                         message_id=f"<in{n}@chu-ext.mssante.fr>",
                         attachments=(Attachment(filename, media_type, attachment),))
    return bytes(build_email(message, "Dr Externe <dr.externe@chu-ext.mssante.fr>"))


def xdm_for(matricule: str, oid: str, *, name: str = "MARTIN", birth: dt.date = dt.date(1970, 1, 1)) -> bytes:
    return xdm.build(xdm.Submission(
        document=xdm.OutgoingDocument(data=PDF, media_type="application/pdf", title="Compte rendu opératoire",
                                      type_code=xdm.Code("34874-8", xdm.LOINC, "Compte rendu opératoire"),
                                      class_code=xdm.Code("11", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
                                      created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), unique_id="2.25.99"),
        patient=xdm.PatientIdentity(identifier=matricule, authority=oid, birth_name=name, given_names="Paul",
                                    birth_date=birth, sex="M", is_ins=True),
        author=xdm.Author(name="Jean Externe", rpps="10000000001"), source_id="1.2.250.1.999.9",
        intended_recipient="bal@mssante.test", submitted_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC)))


@pytest.fixture
def inbound_world(db):
    physician = make_user(db, "physician")
    make_user(db, "identity_officer", username=FILER)
    view = qualified(db, physician, 5)
    ins = ins_of(5)
    unknown = ins_of(6)
    messages = [
        incoming(1, xdm_for(ins["ins_matricule"], ins["ins_oid"])),
        incoming(2, xdm_for(unknown["ins_matricule"], unknown["ins_oid"], name="INCONNU")),
        incoming(3, b"PK\x03\x04 ceci n'est pas une archive"),
    ]
    return view.patient.id, messages


def statuses(db) -> dict[str, str]:
    return {r.message_id: r.status for r in db.scalars(select(MssanteReceived))}


def filed(db, patient_id) -> list[Document]:
    return list(db.scalars(select(Document).where(Document.patient_id == patient_id,
                                                  Document.owner_type == service.RECEIVED_OBJECT)))


class TestPoll:
    def test_three_messages_land_where_they_should(self, db, tmp_path, inbound_world):
        patient_id, messages = inbound_world
        with imap_peer(tmp_path) as peer:
            for raw in messages:
                peer.append(raw)
            t = ImapSmtpTransport(sender="bal@mssante.test", smtp_host="127.0.0.1", smtp_port=1,
                                  imap_host=peer.host, imap_port=peer.port, username=peer.username,
                                  password=peer.password, ssl_context=peer.client_context)
            result = service.poll_mailbox(db, t, settings=settings())
        assert (result.filed, result.pending, result.refused) == (1, 1, 1)
        assert statuses(db) == {"<in1@chu-ext.mssante.fr>": "filed", "<in2@chu-ext.mssante.fr>": "pending",
                                "<in3@chu-ext.mssante.fr>": "refused"}
        [doc] = filed(db, patient_id)
        assert doc.media_type == "application/pdf" and doc.title == "Compte rendu opératoire"
        # filed as received by mail, from this message, with the type the sender declared when the platform knows it
        assert (doc.source, doc.origin_type) == ("mail", "mssante_received")
        assert doc.origin_id == str(db.scalar(select(MssanteReceived.id).where(MssanteReceived.status == "filed")))
        assert "34874-8" not in DOCUMENT_TYPES and doc.type_code == "34133-9"  # an unknown type: the file's default
        pending = db.scalar(select(MssanteReceived).where(MssanteReceived.status == "pending"))
        assert pending.patient_id is None and "identité qualifiée" in pending.reason
        assert pending.declared_birth_name == "INCONNU"
        refused = db.scalar(select(MssanteReceived).where(MssanteReceived.status == "refused"))
        assert refused.reason.startswith("Pièce jointe illisible")
        assert all(r.raw_blob_id is not None for r in db.scalars(select(MssanteReceived)))

    def test_a_restart_in_the_middle_files_nothing_twice(self, sessions, tmp_path, inbound_world):
        patient_id, messages = inbound_world
        fake = FakeTransport(uidvalidity=7)
        for raw in messages:
            fake.deliver(raw)
        s = settings()
        first = sessions()
        assert service.poll_mailbox(first, fake, settings=s, limit=1).filed == 1
        first.commit()
        first.close()
        crashed = sessions()  # a worker that read the second message and died before committing
        assert service.poll_mailbox(crashed, fake, settings=s, limit=1).pending == 1
        crashed.rollback()
        crashed.close()
        again = sessions()
        result = service.poll_mailbox(again, fake, settings=s)
        assert (result.read, result.pending, result.refused) == (2, 1, 1)
        again.commit()
        # The server announces a new UIDVALIDITY: every message comes again, the Message-ID keeps them once.
        fake.uidvalidity = 8
        lost = sessions()
        result = service.poll_mailbox(lost, fake, settings=s)
        assert (result.read, result.skipped) == (3, 3)
        lost.commit()
        assert len(filed(lost, patient_id)) == 1
        assert len(lost.scalars(select(MssanteReceived)).all()) == 3

    def test_without_a_filing_account_a_qualified_match_waits_in_the_inbox(self, db, inbound_world):
        patient_id, messages = inbound_world
        fake = FakeTransport()
        fake.deliver(messages[0])
        service.poll_mailbox(db, fake, settings=settings(mssante_filing_username=""))
        assert statuses(db) == {"<in1@chu-ext.mssante.fr>": "pending"}
        assert filed(db, patient_id) == []

    @pytest.mark.parametrize(("filename", "data", "reason"), [
        ("ordonnance.exe", b"MZ\x90\x00" + b"\x00" * 60, "dangereuse"),
        ("courrier.docm", b"PK\x03\x04 vbaProject.bin", "dangereuse"),
        ("note.txt", b"du texte", "non accepté"),
    ])
    def test_dangerous_and_unknown_attachments_are_refused_and_nothing_is_filed(self, db, inbound_world,
                                                                                 filename, data, reason):
        patient_id, _ = inbound_world
        fake = FakeTransport()
        fake.deliver(incoming(9, data, filename=filename, media_type="application/octet-stream"))
        assert service.poll_mailbox(db, fake, settings=settings()).refused == 1
        row = db.scalar(select(MssanteReceived))
        assert reason in row.reason and filed(db, patient_id) == []

    def test_an_oversize_message_is_refused_with_its_size(self, db, inbound_world):
        patient_id, messages = inbound_world
        fake = FakeTransport()
        fake.deliver(messages[0])
        service.poll_mailbox(db, fake, settings=settings(mssante_max_message_bytes=1000))
        row = db.scalar(select(MssanteReceived))
        assert row.status == "refused" and "trop volumineux" in row.reason and filed(db, patient_id) == []

    def test_the_original_is_kept_encrypted_and_reads_back(self, db, inbound_world):
        from maillage.vault import service as vault

        _, messages = inbound_world
        fake = FakeTransport()
        fake.deliver(messages[1])
        service.poll_mailbox(db, fake, settings=settings())
        row = db.scalar(select(MssanteReceived))
        raw = vault.read_blob(db, row.raw_blob_id, object_type=service.RECEIVED_OBJECT, object_id=str(row.id))
        assert raw == messages[1]
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert parsed["Subject"] == "Compte rendu 2" and row.subject == "Compte rendu 2"


class TestReceptionInbox:
    def test_the_identity_officer_matches_a_waiting_document_to_a_patient_audited(self, db, inbound_world):
        patient_id, messages = inbound_world
        fake = FakeTransport()
        fake.deliver(messages[1])
        service.poll_mailbox(db, fake, settings=settings())
        officer = actor(db, make_user(db, "identity_officer"))
        rows, more = service.inbox(db, officer, PageParams(limit=20, offset=0))
        assert [r.status for r in rows] == ["pending"] and not more
        service.match(db, officer, rows[0].id, patient_id, settings=settings())
        assert db.get(MssanteReceived, rows[0].id).status == "matched"
        assert len(filed(db, patient_id)) == 1
        db.commit()
        actions = {e.action for e in db.scalars(select(AuditEntry).where(AuditEntry.actor_id == str(officer.user_id)))}
        assert {"search", "read", "upload", "match"} <= actions
        with pytest.raises(ValidationFailed):
            service.match(db, officer, rows[0].id, patient_id, settings=settings())

    def test_candidates_come_from_the_declared_birth_name_and_date(self, db, inbound_world):
        patient_id, _ = inbound_world
        from maillage.models.patient import Patient

        p = db.get(Patient, patient_id)
        fake = FakeTransport()
        fake.deliver(incoming(4, xdm_for("199999999999999", "1.2.250.1.999", name=p.birth_name,
                                         birth=p.birth_date)))
        service.poll_mailbox(db, fake, settings=settings())
        officer = actor(db, make_user(db, "identity_officer"))
        row = db.scalar(select(MssanteReceived))
        assert row.reason_code == "no_ins"
        assert [c.patient.id for c in service.candidates(db, officer, row)] == [patient_id]

    def test_a_physician_may_not_open_the_reception_inbox(self, db):
        with pytest.raises(PermissionDenied):
            service.inbox(db, actor(db, make_user(db, "physician")), PageParams(limit=20, offset=0))

    def test_a_refused_message_can_be_set_aside(self, db, inbound_world):
        _, messages = inbound_world
        fake = FakeTransport()
        fake.deliver(messages[2])
        service.poll_mailbox(db, fake, settings=settings())
        officer = actor(db, make_user(db, "identity_officer"))
        row = db.scalar(select(MssanteReceived))
        service.dismiss(db, officer, row.id)
        assert service.inbox(db, officer, PageParams(limit=20, offset=0))[0] == []
