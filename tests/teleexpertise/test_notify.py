"""Email notifications of tele-expertise (SQLite and PostgreSQL): every event that notifies in the application
queues one email job per recipient in the event's transaction; the job sends once however often it runs; the email
says only that something is new, with a link, and goes through the real SMTP client to a real local server."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import select

from maillage.config import Settings
from maillage.integrations.mail import FakeMailer, SmtpMailer
from maillage.kit.clock import frozen
from maillage.models.job import Job
from maillage.models.outbox import MailDelivery
from maillage.models.patient import Patient
from maillage.models.teleexpertise import TeleexpertiseNotification
from maillage.outbox import service as outbox
from maillage.teleexpertise import notify, service, tasks
from maillage.teleexpertise.schemas import MessageIn
from maillage.worker import registry
from tests.fixtures.smtp import smtp_peer
from tests.fixtures.teleexpertise import OPINION, T0, claimed, submitted, world

SETTINGS = Settings(environment="test", secret_key="t" * 40, public_url="https://maillage.ght.test",
                    smtp_from="Maillage <ne-pas-repondre@ght.test>")


def with_addresses(w):
    for name in ("requester", "expert", "colleague", "backup", "outsider"):
        getattr(w, name).email = f"{name}@ght.test"
    return w


def email_jobs(db):
    return list(db.scalars(select(Job).where(Job.name == notify.EMAIL_JOB).order_by(Job.created_at, Job.id)))


def queued_kinds(db, request_id):
    """(kind, recipient) of each notice of the request that has its email job queued."""
    ids = {j.args["notification_id"] for j in email_jobs(db)}
    return sorted((n.kind, str(n.user_id)) for n in db.scalars(select(TeleexpertiseNotification).where(
        TeleexpertiseNotification.request_id == request_id)) if str(n.id) in ids)


def run_email_jobs(db):
    """What the worker does for each queued email job (the handler, by id)."""
    spec = registry.get(notify.EMAIL_JOB)
    assert spec is not None
    return [registry.call(spec, db, dict(j.args)) for j in email_jobs(db)]


class TestQueueing:
    def test_submission_queues_one_email_per_answering_specialist(self, db):
        with outbox.use_mailer(FakeMailer()):
            w = world(db)
            req = submitted(db, w)
        assert queued_kinds(db, req.id) == sorted([("submitted", str(w.expert.id)),
                                                   ("submitted", str(w.colleague.id))])

    def test_every_notifying_event_queues_its_emails(self, db):
        """Question and reply, opinion signed, decline, reminder and escalation, each to its recipients."""
        from maillage.teleexpertise.schemas import OpinionIn

        with frozen(T0) as clock, outbox.use_mailer(FakeMailer()):
            w = world(db)
            req = claimed(db, w)
            service.ask(db, w.a(db, w.expert), req.id, MessageIn(body="Taille de la lésion ?"))
            service.reply(db, w.a(db, w.requester), req.id, MessageIn(body="Huit millimètres."))
            clock.advance(dt.timedelta(hours=37))
            service.send_reminders(db)
            clock.advance(dt.timedelta(hours=12))
            service.escalate_overdue(db)
            service.answer(db, w.a(db, w.expert), req.id, OpinionIn(answer="Surveillance.", orientation="advice_only"))
            other = submitted(db, w)
            service.decline(db, w.a(db, w.colleague), other.id, "Hors du champ de la ligne.")
        kinds = queued_kinds(db, req.id)
        for expected in [("question", w.requester.id), ("reply", w.expert.id), ("reminder", w.expert.id),
                         ("escalation", w.backup.id), ("escalation", w.colleague.id), ("answered", w.requester.id)]:
            assert (expected[0], str(expected[1])) in kinds
        assert ("declined", str(w.requester.id)) in queued_kinds(db, other.id)

    def test_nothing_is_queued_when_email_is_off(self, db):
        """The default: in-app notifications only."""
        w = world(db)
        req = submitted(db, w)
        assert db.scalars(select(TeleexpertiseNotification).where(
            TeleexpertiseNotification.request_id == req.id)).all()
        assert email_jobs(db) == []


class TestEmailJob:
    def test_the_job_sends_once_however_often_it_runs(self, db):
        fake = FakeMailer()
        with outbox.use_mailer(fake):
            w = with_addresses(world(db))
            submitted(db, w)
            assert sorted(run_email_jobs(db)) == ["sent", "sent"]
            assert sorted(run_email_jobs(db)) == ["already_sent", "already_sent"]
        assert sorted(m.to for m in fake.sent) == ["colleague@ght.test", "expert@ght.test"]
        assert db.scalars(select(MailDelivery.status).where(MailDelivery.status == "sent")).all() == ["sent", "sent"]

    def test_a_specialist_without_an_address_is_skipped(self, db):
        fake = FakeMailer()
        with outbox.use_mailer(fake):
            w = with_addresses(world(db))
            w.colleague.email = None
            submitted(db, w)
            assert sorted(run_email_jobs(db)) == ["sent", "skipped"]
        assert [m.to for m in fake.sent] == ["expert@ght.test"]

    def test_the_email_holds_a_link_to_the_request_and_no_health_data(self, db):
        fake = FakeMailer()
        w = with_addresses(world(db))
        req = claimed(db, w)
        service.ask(db, w.a(db, w.expert), req.id, MessageIn(body="Antécédents familiaux de mélanome ?"))
        [notice] = db.scalars(select(TeleexpertiseNotification).where(
            TeleexpertiseNotification.request_id == req.id, TeleexpertiseNotification.kind == "question")).all()
        assert notify.email_notification(db, notice.id, fake, settings=SETTINGS) is outbox.Outcome.SENT
        [mail] = fake.sent
        assert mail.to == "requester@ght.test"
        assert mail.subject == "Maillage : Le spécialiste demande un complément"
        assert f"https://maillage.ght.test/teleexpertise/demandes/{req.id}" in mail.text
        assert mail.message_id == f"<teleexpertise_notification.{notice.id}@ght.test>"
        patient = db.get(Patient, req.patient_id)
        for secret in (patient.birth_name, *patient.given_names.split(), "mélanome", "Lésion", "Dermatologie"):
            assert secret.lower() not in (mail.subject + mail.text).lower()

    def test_a_notice_deleted_with_its_request_is_not_an_error(self, db):
        assert notify.email_notification(db, uuid.uuid4(), FakeMailer(), settings=SETTINGS) is None
        assert tasks.email_notification(db, str(uuid.uuid4())) == "gone"


class TestThroughARealSmtpServer:
    def test_the_opinion_email_reaches_the_requester_with_a_link_and_without_the_patient(self, db):
        with smtp_peer() as peer:
            mailer = SmtpMailer(host=peer.host, port=peer.port, sender="Maillage <ne-pas-repondre@ght.test>",
                                security="none")
            with outbox.use_mailer(mailer):
                w = with_addresses(world(db))
                req = claimed(db, w)
                service.answer(db, w.a(db, w.expert), req.id, OPINION)
                run_email_jobs(db)
        to_requester = [m for m in peer.messages if m.rcpt_tos == ["requester@ght.test"]]
        assert len(to_requester) == 1
        message = to_requester[0].message
        assert message["Subject"] == "Maillage : L'avis est rendu"
        assert message["To"] == "requester@ght.test"
        assert message["Auto-Submitted"] == "auto-generated"
        body = message.get_content()
        assert f"/teleexpertise/demandes/{req.id}" in body
        assert "aucune donnée de santé" in body
        patient = db.get(Patient, req.patient_id)
        raw = b"".join(m.raw for m in peer.messages).decode("utf-8", "replace").lower()
        for secret in (patient.birth_name, *patient.given_names.split(), "naevus", "lésion pigmentée"):
            assert secret.lower() not in raw
        assert patient.ins_matricule is None or patient.ins_matricule not in raw
        assert not re.search(r"\b[12]\d{12}\b", raw)
