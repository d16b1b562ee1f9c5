"""After-care on SQLite and PostgreSQL: the signed report sent to the médecin traitant and the requester (notices,
a link only, the médecin traitant then reads the appointment), the follow-up, TC for a sector-2 practitioner, the
yearly share, and the reminders sent once whatever the number of worker runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from maillage.exceptions import Conflict, InvalidTransition, NotFound, PermissionDenied
from maillage.kit.clock import frozen
from maillage.models.auth import UserAccount
from maillage.models.directory import Professional
from maillage.models.patient import Patient
from maillage.models.teleconsultation import TeleconsultationAct, TeleconsultationNotice
from maillage.teleconsultation import aftercare, booking, notices, patient_link, reminders, report
from maillage.teleconsultation.pathway import ShareLevel
from tests.fixtures.teleconsultation import FIRST_SLOT, MONDAY_9H, book, clinic
from tests.fixtures.teleexpertise import actor, professional_user

REPORT = report.ReportIn(report="Eczéma en nette amélioration sous dermocorticoïde.")


def ended(db: Any, *, attending: bool = True) -> tuple[Any, Any, Any]:
    """A consultation held and ended; the patient's médecin traitant is another physician with an account."""
    with frozen(MONDAY_9H) as clock:
        c = clinic(db)
        gp_of_record = professional_user(db) if attending else None
        if gp_of_record is not None:
            db.get(Patient, c.patient_id).attending_professional_id = gp_of_record.person_id
            db.flush()
        booked = book(db, c)
        clock.advance(FIRST_SLOT - MONDAY_9H - dt.timedelta(minutes=5))
        _, secret = patient_link.open_link(db, booked.link)
        patient_link.consent(db, secret, teleconsultation=True, third_party=False)
        clock.advance(dt.timedelta(minutes=6))
        booking.admit(db, c.a(db, c.specialist), booked.appointment.id)
        clock.advance(dt.timedelta(minutes=15))
        booking.end(db, c.a(db, c.specialist), booked.appointment.id)
    return c, booked.appointment, gp_of_record


AFTER = FIRST_SLOT + dt.timedelta(minutes=30)


class TestReportSent:
    def test_signing_sends_the_report_to_the_medecin_traitant_and_the_requester(self, db):
        c, appt, gp_of_record = ended(db)
        with frozen(AFTER):
            with pytest.raises(NotFound):
                booking.load(db, actor(db, gp_of_record), appt.id, action="read", context=None)
            report.sign(db, c.a(db, c.specialist), appt.id, REPORT)
            db.refresh(appt)
            assert appt.report_sent_at is not None
            got = {(n.user_id, n.kind) for n in db.scalars(select(TeleconsultationNotice))}
            assert got == {(gp_of_record.id, "report_sent"), (c.gp.id, "report_sent")}
            assert booking.load(db, actor(db, gp_of_record), appt.id, action="read", context=None).id == appt.id
            from maillage.authz import service as authz

            assert authz.has_access(db, actor(db, gp_of_record), appt.patient_id), "the PDF opens for them"
            assert aftercare.send_report(db, c.a(db, c.specialist), appt) == set(), "sent once"

    def test_the_email_carries_a_link_and_no_health_data(self, db):
        c, appt, _ = ended(db)
        with frozen(AFTER):
            report.sign(db, c.a(db, c.specialist), appt.id, REPORT)
            subject, body = notices.email_text(
                "report_sent", f"https://maillage.example/teleconsultation/rdv/{appt.id}"
            )
            patient = db.get(Patient, c.patient_id)
            for text in (subject, body):
                assert patient.birth_name not in text and "Eczéma" not in text and "eczéma" not in text
            assert f"/teleconsultation/rdv/{appt.id}" in body

    def test_without_a_medecin_traitant_only_the_requester_is_told(self, db):
        c, appt, _ = ended(db, attending=False)
        with frozen(AFTER):
            report.sign(db, c.a(db, c.specialist), appt.id, REPORT)
            assert set(db.scalars(select(TeleconsultationNotice.user_id))) == {c.gp.id}
            flags = {f.value for f in aftercare.flags_of(db, appt)}
            assert "no_attending" in flags and "direct_access" not in flags, "a dermatologist is not in direct access"

    def test_a_sector_2_practitioner_records_tc(self, db):
        c, appt, _ = ended(db)
        with frozen(AFTER):
            person = db.get(UserAccount, c.specialist.id).person_id
            db.get(Professional, person).fee_sector = "sector_2"
            db.flush()
            report.sign(db, c.a(db, c.specialist), appt.id, REPORT)
            assert [a.code for a in db.scalars(select(TeleconsultationAct))] == ["TC"]


class TestFollowUp:
    def test_the_practitioner_orders_a_follow_up_once_and_the_requester_is_told(self, db):
        c, appt, _ = ended(db)
        with frozen(AFTER):
            with pytest.raises(PermissionDenied):
                aftercare.order_follow_up(db, c.a(db, c.gp), appt.id, aftercare.FollowUpIn("in_person"))
            aftercare.order_follow_up(
                db, c.a(db, c.specialist), appt.id, aftercare.FollowUpIn("teleconsultation", "Revoir dans un mois")
            )
            db.refresh(appt)
            assert (appt.follow_up_kind, appt.follow_up_note) == ("teleconsultation", "Revoir dans un mois")
            assert (
                db.scalar(select(TeleconsultationNotice.kind).where(TeleconsultationNotice.user_id == c.gp.id))
                == "follow_up"
            )
            with pytest.raises(InvalidTransition):
                aftercare.order_follow_up(db, c.a(db, c.specialist), appt.id, aftercare.FollowUpIn("in_person"))

    def test_no_follow_up_before_the_end(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            with pytest.raises(InvalidTransition):
                aftercare.order_follow_up(db, c.a(db, c.specialist), appt.id, aftercare.FollowUpIn("in_person"))


class TestShare:
    def test_the_years_acts_count_and_the_declaration_gives_the_share(self, db):
        c, appt, _ = ended(db)
        with frozen(AFTER):
            report.sign(db, c.a(db, c.specialist), appt.id, REPORT)
            me = c.a(db, c.specialist)
            share = aftercare.share_of(db, me, 2026)
            assert (share.counted, share.level) == (1, ShareLevel.UNKNOWN)
            aftercare.declare_activity(db, me, year=2026, in_person=3)
            share = aftercare.share_of(db, me, 2026)
            assert share.level is ShareLevel.OVER and share.percent == "25.0 %"
            aftercare.declare_activity(db, me, year=2026, in_person=99)
            assert aftercare.share_of(db, me, 2026).level is ShareLevel.BELOW
            assert aftercare.share_of(db, me, 2025).counted == 0

    def test_the_medecin_traitants_own_patients_are_excluded(self, db):
        c, appt, _ = ended(db, attending=False)
        with frozen(AFTER):
            db.get(Patient, c.patient_id).attending_professional_id = db.get(UserAccount, c.specialist.id).person_id
            db.flush()
            report.sign(db, c.a(db, c.specialist), appt.id, REPORT)
            share = aftercare.share_of(db, c.a(db, c.specialist), 2026)
            assert (share.counted, share.excluded) == (0, 1)


class TestReminders:
    def count(self, db: Any, kind: str) -> int:
        return (
            db.scalar(
                select(func.count()).select_from(TeleconsultationNotice).where(TeleconsultationNotice.kind == kind)
            )
            or 0
        )

    def test_the_day_before_then_the_hour_before_each_once_whatever_the_runs(self, db):
        with frozen(FIRST_SLOT - dt.timedelta(days=3)) as clock:
            c = clinic(db)
            appt = book(db, c).appointment
            assert reminders.send_due(db) == 0, "three days ahead: nothing yet"
            clock.advance(dt.timedelta(days=2, hours=1))
            assert reminders.send_due(db) == 1
            assert reminders.send_due(db) == 0, "a second run sends nothing"
            assert self.count(db, "reminder_day") == 2, "the practitioner and the requester"
            clock.advance(dt.timedelta(hours=22, minutes=30))
            assert reminders.send_due(db) == 1 and reminders.send_due(db) == 0
            assert self.count(db, "reminder_hour") == 2
            db.refresh(appt)
            assert appt.reminder_day_sent_at is not None and appt.reminder_hour_sent_at is not None

    def test_a_cancelled_appointment_is_not_reminded(self, db):
        with frozen(FIRST_SLOT - dt.timedelta(days=2)) as clock:
            c = clinic(db)
            appt = book(db, c).appointment
            clock.advance(dt.timedelta(minutes=1))
            booking.cancel(db, c.a(db, c.gp), appt.id, "Patient hospitalisé")
            clock.advance(dt.timedelta(days=1, hours=12))
            assert reminders.send_due(db) == 0

    def test_notify_twice_adds_one_notice(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            assert notices.notify(db, [c.gp.id], appt.id, "reminder_day") == 1
            assert notices.notify(db, [c.gp.id, None], appt.id, "reminder_day") == 0
            with pytest.raises(ValueError):
                notices.notify(db, [c.gp.id], appt.id, "gossip")
            with pytest.raises(Conflict):
                aftercare.send_report(db, c.a(db, c.specialist), appt)
