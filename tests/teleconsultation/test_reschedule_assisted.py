"""Rescheduling an assisted or escorted appointment (merge of scheduling and assisted): the nurse and the
accompaniment follow the appointment to its new slot, the unit's room it holds moves with it (open and free at the
new slot, else Conflict), and the rescheduling is audited on the appointment."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from maillage.exceptions import Conflict
from maillage.kit.clock import frozen
from maillage.models.audit import AuditEntry
from maillage.teleconsultation import scheduling
from maillage.teleconsultation.rules import Assistance
from tests.fixtures.assisted import assisted_clinic, book_assisted
from tests.fixtures.teleconsultation import FIRST_SLOT, MONDAY_9H

LATER = FIRST_SLOT + dt.timedelta(minutes=40)  # 10:40 Paris: the specialist free, the unit's room open
ROOM_CLOSED = FIRST_SLOT + dt.timedelta(minutes=60)  # 11:00 Paris: the specialist free, the room closed


class TestRescheduleAssisted:
    def test_the_nurse_and_the_accompaniment_follow_and_it_is_audited(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            clock.advance(dt.timedelta(minutes=1))
            moved = scheduling.reschedule(db, w.a(db, w.c.gp), appt.id, LATER, "La résidente a un soin à 10 h")
            assert (moved.assistance, moved.assisting_nurse_id) == (Assistance.TLS.value, w.ehpad_nurse.id)
            db.commit()
            actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(appt.id))))
            assert "update" in actions, "the rescheduling is an audited access to the appointment"

    def test_the_units_room_moves_with_the_escorted_appointment(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w, by=w.usmp_nurse, nurse=w.usmp_nurse, assistance=Assistance.TLL, place=w.room)
            clock.advance(dt.timedelta(minutes=1))
            moved = scheduling.reschedule(db, w.a(db, w.usmp_nurse), appt.id, LATER, "Extraction avancée")
            assert (moved.place_id, moved.assistance) == (w.room.id, Assistance.TLL.value)

    def test_a_slot_when_the_room_is_closed_is_refused(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w, by=w.usmp_nurse, nurse=w.usmp_nurse, assistance=Assistance.TLL, place=w.room)
            clock.advance(dt.timedelta(minutes=1))
            with pytest.raises(Conflict, match="n'est pas ouverte"):
                scheduling.reschedule(db, w.a(db, w.usmp_nurse), appt.id, ROOM_CLOSED, "Extraction retardée")
