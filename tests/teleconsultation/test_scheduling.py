"""Rescheduling and the line coordinator, on SQLite and PostgreSQL: the appointment moves to another free slot with
a reason (the link follows, the relationship moves, notices and timeline), exactly one of two concurrent
reschedulings wins; the coordinator books for the line's practitioners, sees the line and manages availability."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select

from maillage.authz import service as authz
from maillage.exceptions import Conflict, InvalidTransition, NotFound, ValidationFailed
from maillage.kit.clock import frozen
from maillage.models.authz import CareRelationship
from maillage.models.directory import SpecialtyLineMember
from maillage.models.teleconsultation import (
    TeleconsultationAppointment,
    TeleconsultationEvent,
    TeleconsultationLink,
    TeleconsultationNotice,
)
from maillage.teleconsultation import availability, booking, patient_link, scheduling
from maillage.teleconsultation.rules import Kind
from tests.conftest import postgresql_only
from tests.fixtures.scratch import scratch_postgres_engine
from tests.fixtures.teleconsultation import FIRST_SLOT, MONDAY_9H, book, clinic
from tests.fixtures.teleexpertise import actor, professional_user

LATER = FIRST_SLOT + dt.timedelta(minutes=40)  # 10:40 Paris


def coordinator(db: Any, c: Any) -> Any:
    """A professional declared coordinator of the clinic's line, caring for its patient."""
    user = professional_user(db)
    db.add(SpecialtyLineMember(line_id=c.line.id, professional_id=user.person_id, role="coordinator"))
    authz.grant_relationship(db, user_id=user.id, patient_id=c.patient_id, kind="care_unit")
    db.flush()
    return user


class TestReschedule:
    def test_the_gp_moves_the_appointment_the_link_follows_and_the_specialist_is_told(self, db):
        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            booked = book(db, c)
            old = booked.appointment
            clock.advance(dt.timedelta(minutes=1))
            moved = scheduling.reschedule(db, c.a(db, c.gp), old.id, LATER, "Le patient travaille à 10 h")
            db.refresh(old)
            assert old.status == "rescheduled" and old.rescheduled_to_id == moved.id
            assert old.closing_reason == "Le patient travaille à 10 h"
            assert moved.status == "booked" and moved.starts_at == LATER and moved.rescheduled_from_id == old.id
            assert (moved.patient_id, moved.requester_id, moved.reason) == (
                old.patient_id,
                old.requester_id,
                old.reason,
            )
            link = db.scalar(select(TeleconsultationLink).where(TeleconsultationLink.appointment_id == moved.id))
            assert link is not None and link.revoked_at is None, "the patient's link follows"
            sources = set(
                db.scalars(
                    select(CareRelationship.source_id).where(
                        CareRelationship.user_id == c.specialist.id, CareRelationship.ends_at.is_(None)
                    )
                )
            )
            assert str(moved.id) in sources and str(old.id) not in sources
            notices = db.scalars(select(TeleconsultationNotice)).all()
            assert [(n.user_id, n.kind) for n in notices] == [(c.specialist.id, "rescheduled")]
            kinds = {e.kind for e in db.scalars(select(TeleconsultationEvent))}
            assert kinds == {"rescheduled", "rescheduled_from"}
            assert FIRST_SLOT in {s.starts_at for s in availability.free_slots(db, c.specialist.id, days=1)}
            clock.advance(LATER - MONDAY_9H - dt.timedelta(minutes=5))
            session, _ = patient_link.open_link(db, booked.link)
            assert session.appointment.id == moved.id, "the same link opens the new slot's room"

    def test_a_reason_a_free_slot_and_a_live_appointment_are_needed(self, db):
        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            appt = book(db, c).appointment
            other = book(db, c, starts_at=LATER).appointment
            clock.advance(dt.timedelta(minutes=1))
            gp = c.a(db, c.gp)
            with pytest.raises(ValidationFailed, match="motif"):
                scheduling.reschedule(db, gp, appt.id, FIRST_SLOT + dt.timedelta(minutes=20), "")
            with pytest.raises(Conflict, match="plus libre"):
                scheduling.reschedule(db, gp, appt.id, LATER, "Autre horaire souhaité")
            with pytest.raises(ValidationFailed, match="autre créneau"):
                scheduling.reschedule(db, gp, appt.id, FIRST_SLOT, "Autre horaire souhaité")
            booking.cancel(db, gp, other.id, "Patient hospitalisé")
            with pytest.raises(InvalidTransition):
                scheduling.reschedule(db, gp, other.id, FIRST_SLOT + dt.timedelta(minutes=20), "Finalement oui")
            assert db.get(TeleconsultationAppointment, appt.id).status == "booked", "nothing changed"

    def test_someone_outside_the_appointment_gets_not_found(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            for user in (c.colleague, c.outsider):
                with pytest.raises(NotFound):
                    scheduling.reschedule(db, c.a(db, user), appt.id, LATER, "Je déplace ce rendez-vous")


@pytest.fixture
def scratch_postgres(backend: str) -> Any:
    assert backend == "postgresql"
    yield from scratch_postgres_engine("tcresched")


class TestConcurrentReschedulings:
    @postgresql_only
    def test_of_two_concurrent_reschedulings_exactly_one_wins(self, scratch_postgres):
        """The GP and the specialist move the same appointment at once, to two different slots, in two real
        transactions: the conditional UPDATE lets one through; the other gets Conflict."""
        from sqlalchemy.orm import sessionmaker

        make = sessionmaker(bind=scratch_postgres, expire_on_commit=False)
        with frozen(MONDAY_9H) as clock:
            with make() as setup:
                c = clinic(setup)
                appt = book(setup, c).appointment
                setup.commit()
            clock.advance(dt.timedelta(minutes=1))
            barrier = threading.Barrier(2)
            outcomes: list[str] = []

            def run(user: Any, when: dt.datetime) -> None:
                with make() as s:
                    a = actor(s, s.merge(user))
                    barrier.wait()
                    try:
                        scheduling.reschedule(s, a, appt.id, when, "Changement d'horaire")
                        s.commit()
                        outcomes.append("won")
                    except (Conflict, InvalidTransition):
                        s.rollback()
                        outcomes.append("conflict")

            threads = [
                threading.Thread(target=run, args=(c.gp, LATER)),
                threading.Thread(target=run, args=(c.specialist, LATER + dt.timedelta(minutes=20))),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(outcomes) == ["conflict", "won"]
            with make() as s:
                statuses = sorted(a.status for a in s.scalars(select(TeleconsultationAppointment)))
                assert statuses == ["booked", "rescheduled"]


class TestCoordinator:
    def test_the_coordinator_books_for_a_practitioner_of_the_line_who_is_told(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            boss = coordinator(db, c)
            booked = scheduling.book_for(
                db,
                actor(db, boss),
                booking.BookingIn(
                    patient_id=c.patient_id,
                    practitioner_id=c.specialist.id,
                    line_id=c.line.id,
                    starts_at=FIRST_SLOT,
                    reason="Contrôle",
                ),
            )
            assert booked.appointment.booked_by_coordinator and booked.appointment.requester_id == boss.id
            assert booked.link.startswith("mlg_tc_")
            assert (
                db.scalar(select(TeleconsultationNotice.kind).where(TeleconsultationNotice.user_id == c.specialist.id))
                == "booked_for_you"
            )

    def test_a_practitioner_outside_the_line_or_a_line_not_coordinated_is_refused(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            boss = coordinator(db, c)
            with pytest.raises(ValidationFailed, match="ligne"):
                scheduling.book_for(
                    db,
                    actor(db, boss),
                    booking.BookingIn(
                        patient_id=c.patient_id, practitioner_id=c.outsider.id, line_id=c.line.id, starts_at=FIRST_SLOT
                    ),
                )
            with pytest.raises(NotFound):
                scheduling.book_for(
                    db,
                    c.a(db, c.gp),
                    booking.BookingIn(
                        patient_id=c.patient_id,
                        practitioner_id=c.specialist.id,
                        line_id=c.line.id,
                        starts_at=FIRST_SLOT,
                    ),
                )

    def test_the_coordinator_sees_the_lines_appointments_and_reaches_them_audited(self, db):
        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            appt = book(db, c).appointment
            boss = coordinator(db, c)
            line, rows = scheduling.line_appointments(db, actor(db, boss), c.line.id)
            assert line.id == c.line.id and [r.appointment.id for r in rows] == [appt.id]
            assert rows[0].patient is not None
            assert booking.load(db, actor(db, boss), appt.id, action="read", context=None).id == appt.id
            with pytest.raises(NotFound):
                scheduling.line_appointments(db, c.a(db, c.gp), c.line.id)
            clock.advance(dt.timedelta(minutes=1))
            moved = scheduling.reschedule(db, actor(db, boss), appt.id, LATER, "Réorganisation de la ligne")
            notified = set(
                db.scalars(
                    select(TeleconsultationNotice.user_id).where(TeleconsultationNotice.appointment_id == moved.id)
                )
            )
            assert notified == {c.gp.id, c.specialist.id}

    def test_the_coordinator_manages_a_practitioners_availability(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            boss = coordinator(db, c)
            row = scheduling.add_range_for(
                db,
                actor(db, boss),
                c.specialist.id,
                availability.RangeIn(
                    kind=Kind.WEEKLY, start="14:00", end="15:00", weekday=1, slot_minutes=30, line_id=c.line.id
                ),
            )
            assert row.practitioner_id == c.specialist.id and row.created_by == boss.id
            assert len(scheduling.practitioner_ranges(db, actor(db, boss), c.specialist.id)) == 2
            scheduling.remove_range_for(db, actor(db, boss), c.specialist.id, row.id)
            with pytest.raises(NotFound):
                scheduling.add_range_for(
                    db,
                    actor(db, boss),
                    c.outsider.id,
                    availability.RangeIn(
                        kind=Kind.WEEKLY, start="14:00", end="15:00", weekday=1, slot_minutes=30, line_id=c.line.id
                    ),
                )
            with pytest.raises(NotFound):
                scheduling.practitioner_ranges(db, c.a(db, c.gp), c.specialist.id)
