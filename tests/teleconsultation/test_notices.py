"""Teleconsultation notices by email (SQLite and PostgreSQL): a reminder queues one email job per recipient in the
worker's transaction; the job sends once however often it runs; the email carries the appointment's link and no
health data; the follow-up note is sealed at rest."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, text

from maillage.config import Settings
from maillage.integrations.mail import FakeMailer
from maillage.kit.clock import frozen
from maillage.models.job import Job
from maillage.models.patient import Patient
from maillage.models.teleconsultation import TeleconsultationNotice
from maillage.outbox import service as outbox
from maillage.teleconsultation import aftercare, notices, reminders, tasks
from maillage.worker import registry
from tests.fixtures.teleconsultation import FIRST_SLOT, book, clinic
from tests.teleconsultation.test_aftercare import AFTER, ended

SETTINGS = Settings(
    environment="test",
    secret_key="t" * 40,
    public_url="https://maillage.ght.test",
    smtp_from="Maillage <ne-pas-repondre@ght.test>",
)


def run_email_jobs(db) -> list[str]:
    """What the worker does for each queued email job (the handler, by id)."""
    spec = registry.get(notices.EMAIL_JOB)
    assert spec is not None
    jobs = db.scalars(select(Job).where(Job.name == notices.EMAIL_JOB).order_by(Job.created_at, Job.id))
    return [registry.call(spec, db, dict(j.args)) for j in jobs]


class TestEmails:
    def test_a_reminder_is_emailed_once_to_each_party_with_a_link_and_no_health_data(self, db):
        fake = FakeMailer()
        with outbox.use_mailer(fake), frozen(FIRST_SLOT - dt.timedelta(days=3)) as clock:
            c = clinic(db)
            c.gp.email, c.specialist.email = "gp@ght.test", "derm@ght.test"
            appt = book(db, c).appointment
            clock.advance(dt.timedelta(days=2, hours=1))
            reminders.send_due(db)
            reminders.send_due(db)
            assert sorted(run_email_jobs(db)) == ["sent", "sent"]
            assert sorted(run_email_jobs(db)) == ["already_sent", "already_sent"]
        assert sorted(m.to for m in fake.sent) == ["derm@ght.test", "gp@ght.test"]
        mail = fake.sent[0]
        assert mail.subject == "Maillage : Rappel : une téléconsultation a lieu demain"
        patient = db.get(Patient, c.patient_id)
        for secret in (patient.birth_name, *patient.given_names.split(), "eczéma", "Dermatologie"):
            assert secret.lower() not in (mail.subject + mail.text).lower()
        [notice] = db.scalars(select(TeleconsultationNotice).where(TeleconsultationNotice.user_id == c.gp.id)).all()
        assert notices.email_notice(db, notice.id, fake, settings=SETTINGS) is outbox.Outcome.ALREADY_SENT
        subject, body = notices.email_text("reminder_day", f"https://maillage.ght.test/teleconsultation/rdv/{appt.id}")
        assert f"/teleconsultation/rdv/{appt.id}" in body and subject == mail.subject

    def test_a_notice_that_no_longer_exists_is_not_an_error(self, db):
        assert notices.email_notice(db, uuid.uuid4(), FakeMailer(), settings=SETTINGS) is None
        assert tasks.email_notice(db, str(uuid.uuid4())) == "gone"


class TestSealed:
    def test_the_follow_up_note_is_sealed_at_rest(self, db):
        c, appt, _ = ended(db)
        with frozen(AFTER):
            aftercare.order_follow_up(
                db,
                c.a(db, c.specialist),
                appt.id,
                aftercare.FollowUpIn("in_person", "Examen cutané complet au cabinet"),
            )
            raw = db.execute(
                text("select follow_up_note from teleconsultation_appointment where id = :id"),
                {"id": appt.id if db.get_bind().dialect.name == "postgresql" else appt.id.hex},
            ).scalar()
            assert raw.startswith("vault1:") and "Examen" not in raw
