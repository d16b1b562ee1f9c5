"""Deadline jobs of tele-expertise with a frozen clock: a reminder when a quarter of the delay remains, an escalation
to the coordinators and the on-call backup once the due time has passed, each sent once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from maillage.kit.clock import frozen
from maillage.models.teleexpertise import TeleexpertiseNotification
from maillage.teleexpertise import notify, service, tasks
from maillage.worker import registry
from tests.fixtures.teleexpertise import OPINION, T0, claimed, submitted, world


def notices(db, request_id, kind):
    return sorted(str(n.user_id) for n in db.scalars(select(TeleexpertiseNotification).where(
        TeleexpertiseNotification.request_id == request_id, TeleexpertiseNotification.kind == kind)))


class TestSendReminders:
    def test_the_specialist_is_reminded_once_when_a_quarter_of_the_delay_remains(self, db):
        """rules.reminder_at: 48 h committed → reminder 12 h before the due time."""
        with frozen(T0) as clock:
            w = world(db)
            req = claimed(db, w)
            clock.advance(dt.timedelta(hours=35))
            assert tasks.send_reminders(db) == 0
            clock.advance(dt.timedelta(hours=2))
            assert tasks.send_reminders(db) == 1
            assert tasks.send_reminders(db) == 0
        assert notices(db, req.id, "reminder") == [str(w.expert.id)]

    def test_a_request_still_in_the_pool_reminds_the_line_s_answering_specialists(self, db):
        with frozen(T0) as clock:
            w = world(db)
            req = submitted(db, w)
            clock.advance(dt.timedelta(hours=40))
            assert service.send_reminders(db) == 1
        assert notices(db, req.id, "reminder") == sorted([str(w.expert.id), str(w.colleague.id)])

    def test_an_answered_request_is_not_reminded(self, db):
        with frozen(T0) as clock:
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OPINION)
            clock.advance(dt.timedelta(hours=40))
            assert service.send_reminders(db) == 0


class TestEscalateOverdue:
    def test_an_overdue_request_goes_once_to_the_coordinators_and_the_backup_not_the_assignee(self, db):
        with frozen(T0) as clock:
            w = world(db)
            req = claimed(db, w)
            clock.advance(dt.timedelta(hours=47))
            assert tasks.escalate_overdue(db) == 0
            clock.advance(dt.timedelta(hours=2))
            assert tasks.escalate_overdue(db) == 1
            assert tasks.escalate_overdue(db) == 0
            assert service.is_overdue(req)
        assert notices(db, req.id, "escalation") == sorted([str(w.colleague.id), str(w.backup.id)])
        assert service.get_request(db, w.a(db, w.expert), req.id).events[-1].action == "escalation"

    def test_a_question_waiting_for_the_requester_is_not_escalated(self, db):
        """The clock stops while the requester owes an answer."""
        with frozen(T0) as clock:
            w = world(db)
            req = claimed(db, w)
            from maillage.teleexpertise.schemas import MessageIn
            service.ask(db, w.a(db, w.expert), req.id, MessageIn(body="Antécédents familiaux ?"))
            clock.advance(dt.timedelta(hours=60))
            assert service.escalate_overdue(db) == 0


class TestNotifications:
    def test_the_requester_is_told_of_a_question_and_reading_the_request_clears_the_badge(self, db):
        from maillage.teleexpertise.schemas import MessageIn

        w = world(db)
        req = claimed(db, w)
        service.ask(db, w.a(db, w.expert), req.id, MessageIn(body="Taille de la lésion ?"))
        requester = w.a(db, w.requester)
        assert notify.unread_count(db, requester) == 1
        assert [n.kind for n in notify.recent(db, requester)] == ["question"]
        service.get_request(db, requester, req.id)
        assert notify.unread_count(db, requester) == 0


class TestRegistration:
    def test_both_jobs_are_registered_and_scheduled(self):
        assert registry.get("teleexpertise.send_reminders") is not None
        assert registry.get("teleexpertise.escalate_overdue") is not None
