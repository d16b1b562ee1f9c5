"""Scheduling and after-care in the demo (a rescheduled appointment, reports sent, a follow-up, the reminders, the
line's coordinator) and their home-page items."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.demo.teleconsultation_aftercare import COORDINATOR, FOLLOWED_UP, RESCHEDULED
from maillage.kit.clock import frozen
from maillage.models.auth import UserAccount
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationNotice
from maillage.security.context import AuditContext
from maillage.teleconsultation import notices
from maillage.web.home import waiting_items
from tests.fixtures.teleconsultation import MONDAY_9H, book, clinic

DEMO_DAY = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)  # a Monday


class TestDemo:
    def test_the_demo_reschedules_sends_reports_orders_a_follow_up_and_reminds(self, db):
        with frozen(DEMO_DAY):
            summary = demo.build_demo(db, "87", 1)
        plan = summary.plan
        old = db.get(TeleconsultationAppointment, plan.id_for(RESCHEDULED))
        assert old.status == "rescheduled" and old.rescheduled_to_id == plan.id_for(f"{RESCHEDULED}/rescheduled")
        followed = db.get(TeleconsultationAppointment, plan.id_for(FOLLOWED_UP))
        assert followed.follow_up_kind == "teleconsultation" and followed.follow_up_note
        done = db.scalars(select(TeleconsultationAppointment).where(TeleconsultationAppointment.status == "done"))
        assert all(a.report_sent_at is not None for a in done), "each signed report was sent"
        kinds = set(db.scalars(select(TeleconsultationNotice.kind)))
        assert {"report_sent", "rescheduled", "follow_up", "reminder_day"} <= kinds
        with frozen(DEMO_DAY):
            boss = auth.actor_for(db, db.scalar(select(UserAccount).where(UserAccount.username == COORDINATOR)))
            labels = {i.label: i.href for i in waiting_items(db, boss, AuditContext())}
            assert (
                labels.get(
                    "téléconsultation à venir sur vos lignes", labels.get("téléconsultations à venir sur vos lignes")
                )
                == "/teleconsultation/coordination"
            )


class TestHome:
    def test_unread_notices_are_a_home_item_until_the_appointment_is_opened(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            notices.notify(db, [c.gp.id], appt.id, "reminder_day")
            gp = auth.actor_for(db, c.gp)
            items = [(i.count, i.label, i.href) for i in waiting_items(db, gp, AuditContext())]
            assert (1, "avis de téléconsultation non lu", "/teleconsultation/avis") in items
            notices.mark_read(db, gp, appt.id)
            assert all(i.href != "/teleconsultation/avis" for i in waiting_items(db, gp, AuditContext()))
