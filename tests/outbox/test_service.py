"""Sending an email once per key (SQLite and PostgreSQL): the ledger, the skipped recipients, the errors, and the
mailer chosen from the settings."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from maillage.config import Settings
from maillage.integrations.mail import FakeMailer, MailError, SmtpMailer
from maillage.models.outbox import MailDelivery
from maillage.outbox import service as outbox
from tests.fixtures.factories import make_user

SETTINGS = Settings(environment="test", secret_key="t" * 40, smtp_from="Maillage <ne-pas-repondre@ght.test>")


def deliver(db, user, mailer, key="test:1"):
    return outbox.deliver_once(db, key=key, user_id=user.id, subject="Maillage : du nouveau",
                               text="Bonjour,\nDu nouveau.\n", mailer=mailer, settings=SETTINGS)


def ledger(db, key="test:1"):
    return db.scalars(select(MailDelivery).where(MailDelivery.key == key)).all()


class TestDeliverOnce:
    def test_a_key_is_sent_once_and_recorded(self, db):
        user = make_user(db)
        user.email = "dr.martin@ch.test"
        fake = FakeMailer()
        assert deliver(db, user, fake) is outbox.Outcome.SENT
        assert deliver(db, user, fake) is outbox.Outcome.ALREADY_SENT
        assert [m.to for m in fake.sent] == ["dr.martin@ch.test"]
        [row] = ledger(db)
        assert (row.status, row.user_id, row.message_id) == ("sent", user.id, "<test.1@ght.test>")
        assert fake.sent[0].message_id == row.message_id

    def test_another_key_for_the_same_person_is_another_message(self, db):
        user = make_user(db)
        user.email = "dr.martin@ch.test"
        fake = FakeMailer()
        deliver(db, user, fake, key="test:1")
        deliver(db, user, fake, key="test:2")
        assert len(fake.sent) == 2

    def test_a_professional_without_an_address_is_skipped_and_logged_by_id(self, db):
        user = make_user(db)
        fake = FakeMailer()
        with capture_logs() as logs:
            assert deliver(db, user, fake) is outbox.Outcome.SKIPPED
        assert fake.sent == []
        [row] = ledger(db)
        assert (row.status, row.reason) == ("skipped", "no_address")
        assert [(e["event"], e["user_id"], e["reason"]) for e in logs] == [("outbox.skipped", str(user.id),
                                                                           "no_address")]
        assert deliver(db, user, fake) is outbox.Outcome.ALREADY_SENT

    def test_a_disabled_account_gets_no_email(self, db):
        user = make_user(db)
        user.email = "parti@ch.test"
        user.status = "disabled"
        fake = FakeMailer()
        assert deliver(db, user, fake) is outbox.Outcome.SKIPPED
        assert fake.sent == [] and ledger(db)[0].reason == "inactive"

    def test_without_a_mailer_nothing_is_sent_nor_recorded(self, db):
        user = make_user(db)
        user.email = "dr.martin@ch.test"
        assert deliver(db, user, None) is outbox.Outcome.DISABLED
        assert ledger(db) == []

    def test_a_mail_error_records_nothing_so_that_the_retry_sends(self, db):
        user = make_user(db)
        user.email = "dr.martin@ch.test"
        with pytest.raises(MailError):
            deliver(db, user, FakeMailer(fail_with=MailError("indisponible")))
        assert ledger(db) == []
        fake = FakeMailer()
        assert deliver(db, user, fake) is outbox.Outcome.SENT
        assert db.scalar(select(func.count()).select_from(MailDelivery).where(MailDelivery.key == "test:1")) == 1


class TestMailerSelection:
    def test_email_is_off_by_default(self):
        s = Settings(environment="test", secret_key="t" * 40)
        assert outbox.mailer_from_settings(s) is None
        assert not outbox.enabled(s)

    def test_the_smtp_settings_build_the_real_client(self):
        s = Settings(environment="test", secret_key="t" * 40, smtp_enabled=True, smtp_host="relay.ght.test",
                     smtp_port=465, smtp_security="ssl", smtp_username="maillage", smtp_password="x" * 12)
        mailer = outbox.mailer_from_settings(s)
        assert isinstance(mailer, SmtpMailer)
        assert (mailer.host, mailer.port, mailer.security.value, mailer.username) == ("relay.ght.test", 465, "ssl",
                                                                                      "maillage")
        assert outbox.enabled(s)

    def test_an_installed_mailer_wins_while_the_block_runs(self):
        fake = FakeMailer()
        with outbox.use_mailer(fake):
            assert outbox.current_mailer(SETTINGS) is fake
            assert outbox.enabled(SETTINGS)
        assert outbox.current_mailer(SETTINGS) is None

    def test_production_refuses_a_password_sent_in_clear(self):
        with pytest.raises(ValueError, match="SMTP"):
            Settings(environment="production", secret_key="s" * 40, database_url="sqlite://", smtp_enabled=True,
                     password_hash_profile="rfc9106_low_memory",
                     smtp_security="none", smtp_username="maillage")

    def test_the_message_id_is_stable_and_safe(self):
        assert outbox.message_id("teleexpertise_notification:ab-12", "Maillage <x@ght.test>") == (
            "<teleexpertise_notification.ab-12@ght.test>")
        assert outbox.message_id("k", "sans-adresse") == "<k@localhost>"
