"""Booking and the appointment's life on SQLite and PostgreSQL: free slots, a booking by a GP caring for the patient,
double booking impossible (concurrent bookings: exactly one wins on PostgreSQL), cancellation with a reason,
admit and end by the practitioner only, the audit trail, free text sealed at rest."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy import text as text_sql

from maillage.exceptions import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import frozen
from maillage.kit.tokens import hash_token
from maillage.models.audit import AuditEntry
from maillage.models.authz import CareRelationship
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationLink
from maillage.teleconsultation import availability, booking
from maillage.teleconsultation.rules import Kind
from tests.conftest import postgresql_only
from tests.fixtures.factories import make_user
from tests.fixtures.scratch import scratch_postgres_engine
from tests.fixtures.teleconsultation import FIRST_SLOT, MONDAY_9H, book, clinic
from tests.fixtures.teleexpertise import actor


def starts(slots: list[Any]) -> list[str]:
    from maillage.teleconsultation.rules import PARIS

    return [s.starts_at.astimezone(PARIS).strftime("%H:%M") for s in slots]


class TestSlots:
    def test_the_line_offers_the_specialists_free_slots_after_now(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            offers = availability.line_offers(db, c.line.id, days=1)
            mine = next(o for o in offers if o.practitioner_id == c.specialist.id)
            assert starts(mine.slots) == ["10:00", "10:20", "10:40", "11:00", "11:20", "11:40"]
            book(db, c)
            again = next(o for o in availability.line_offers(db, c.line.id, days=1)
                         if o.practitioner_id == c.specialist.id)
            assert starts(again.slots)[0] == "10:20", "a booked slot is no longer offered"

    def test_a_range_on_a_line_one_does_not_answer_is_refused(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            with pytest.raises(ValidationFailed, match="ligne"):
                availability.add_range(db, c.a(db, c.gp), availability.RangeIn(
                    kind=Kind.WEEKLY, start="10:00", end="11:00", weekday=1, slot_minutes=20, line_id=c.line.id))

    def test_an_overlapping_range_is_refused_and_an_absence_removes_slots(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            me = c.a(db, c.specialist)
            with pytest.raises(ValidationFailed, match="chevauche"):
                availability.add_range(db, me, availability.RangeIn(
                    kind=Kind.EXTRA, start="11:00", end="13:00", day=MONDAY_9H.date(), slot_minutes=20,
                    line_id=c.line.id))
            availability.add_range(db, me, availability.RangeIn(kind=Kind.ABSENCE, start="10:00", end="11:00",
                                                                day=MONDAY_9H.date()))
            assert starts(availability.free_slots(db, c.specialist.id, days=1)) == ["11:00", "11:20", "11:40"]


class TestBook:
    def test_a_gp_books_for_a_patient_they_care_for(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            booked = book(db, c)
            appt = booked.appointment
            assert appt.status == "booked" and appt.starts_at == FIRST_SLOT and appt.requester_id == c.gp.id
            assert booked.link.startswith("mlg_tc_") and len(booked.link) > 40
            link = db.scalar(select(TeleconsultationLink).where(TeleconsultationLink.appointment_id == appt.id))
            assert link is not None and link.token_hash == hash_token(booked.link), "only the hash is stored"
            kinds = db.scalars(select(CareRelationship.kind).where(
                CareRelationship.source_id == str(appt.id), CareRelationship.user_id == c.specialist.id)).all()
            assert kinds == ["participant"]
            raw = db.execute(text("select reason from teleconsultation_appointment where id = :id"),
                             {"id": appt.id if db.get_bind().dialect.name == "postgresql" else appt.id.hex}).scalar()
            assert raw.startswith("vault1:") and "eczéma" not in raw, "the reason is sealed at rest"
            db.commit()
            actions = db.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(appt.id))).all()
            assert "create" in actions

    def test_a_patient_the_gp_does_not_care_for_is_not_found(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            with pytest.raises(NotFound):
                book(db, c, user=c.outsider)
            assert db.scalar(select(TeleconsultationAppointment).limit(1)) is None

    def test_a_start_that_is_not_offered_or_already_booked_is_a_conflict(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            with pytest.raises(Conflict, match="plus libre"):
                book(db, c, starts_at=FIRST_SLOT.replace(minute=5))
            book(db, c)
            with pytest.raises(Conflict):
                book(db, c)

    def test_an_analyst_may_not_book(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            with pytest.raises(PermissionDenied):
                book(db, c, user=make_user(db, "analyst"))


class TestLife:
    def test_cancel_needs_a_reason_frees_the_slot_and_stops_the_link(self, db):
        import datetime as dt

        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            booked = book(db, c)
            clock.advance(dt.timedelta(minutes=1))
            with pytest.raises(ValidationFailed):
                booking.cancel(db, c.a(db, c.gp), booked.appointment.id, "")
            appt = booking.cancel(db, c.a(db, c.specialist), booked.appointment.id, "Praticien en congé")
            assert appt.status == "cancelled" and appt.closing_reason == "Praticien en congé"
            link = db.scalar(select(TeleconsultationLink).where(TeleconsultationLink.appointment_id == appt.id))
            assert link is not None and link.revoked_at is not None
            assert book(db, c).appointment.starts_at == FIRST_SLOT, "the slot is free again"
            with pytest.raises(InvalidTransition):
                booking.cancel(db, c.a(db, c.gp), appt.id, "Deuxième annulation")

    def test_only_its_parties_reach_an_appointment(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            for user in (c.colleague, c.outsider):
                with pytest.raises(NotFound):
                    booking.load(db, c.a(db, user), appt.id, action="read", context=None)

    def test_admit_and_end_belong_to_the_practitioner_and_follow_the_state_machine(self, db):
        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            appt = book(db, c).appointment
            with pytest.raises(InvalidTransition):
                booking.admit(db, c.a(db, c.specialist), appt.id)  # not waiting yet
            appt.status = "waiting"
            db.flush()
            with pytest.raises(PermissionDenied):
                booking.admit(db, c.a(db, c.gp), appt.id)
            assert booking.admit(db, c.a(db, c.specialist), appt.id).status == "in_consultation"
            with pytest.raises(InvalidTransition):
                booking.cancel(db, c.a(db, c.gp), appt.id, "Trop tard pour annuler")
            clock.advance(__import__("datetime").timedelta(minutes=70))
            done = booking.end(db, c.a(db, c.specialist), appt.id)
            assert done.status == "done" and done.ended_at is not None and done.admitted_at is not None

    def test_no_show_only_once_the_slot_has_started(self, db):
        import datetime as dt

        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            appt = book(db, c).appointment
            with pytest.raises(InvalidTransition):
                booking.no_show(db, c.a(db, c.specialist), appt.id)
            clock.advance(dt.timedelta(hours=1, minutes=5))
            assert booking.no_show(db, c.a(db, c.specialist), appt.id).status == "no_show"

    def test_the_day_and_the_bookings_list_name_the_patient_and_are_audited(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            day = booking.day(db, c.a(db, c.specialist))
            assert [r.appointment.id for r in day] == [appt.id] and day[0].patient
            mine = booking.my_bookings(db, c.a(db, c.gp))
            assert [r.appointment.id for r in mine] == [appt.id] and mine[0].other == c.specialist.display_name
            assert booking.day(db, c.a(db, c.colleague)) == []


@pytest.fixture
def scratch_postgres(backend: str) -> Any:
    assert backend == "postgresql"
    yield from scratch_postgres_engine("tcbook")


class TestConcurrentBookings:
    @postgresql_only
    def test_of_two_concurrent_bookings_of_one_slot_exactly_one_wins(self, scratch_postgres):
        """Two GPs caring for the patient book the same slot at once, in two real transactions: the unique index
        lets one commit; the other gets Conflict."""
        from sqlalchemy.orm import sessionmaker

        from maillage.authz import service as authz

        make = sessionmaker(bind=scratch_postgres, expire_on_commit=False)
        with frozen(MONDAY_9H):
            with make() as setup:
                c = clinic(setup)
                second_gp = make_user(setup, "physician")
                authz.grant_relationship(setup, user_id=second_gp.id, patient_id=c.patient_id, kind="attending")
                setup.commit()
            barrier = threading.Barrier(2)
            outcomes: list[str] = []

            def run(user: Any) -> None:
                with make() as s:
                    a = actor(s, s.merge(user))
                    barrier.wait()
                    try:
                        booking.book(s, a, booking.BookingIn(patient_id=c.patient_id, practitioner_id=c.specialist.id,
                                                             line_id=c.line.id, starts_at=FIRST_SLOT))
                        s.commit()
                        outcomes.append("won")
                    except Conflict:
                        s.rollback()
                        outcomes.append("conflict")

            threads = [threading.Thread(target=run, args=(u,)) for u in (c.gp, second_gp)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(outcomes) == ["conflict", "won"]
            with make() as s:
                rows = s.scalars(select(TeleconsultationAppointment)).all()
                assert len(rows) == 1 and rows[0].starts_at == FIRST_SLOT


def opinion(db: Any, c: Any, orientation: str = "teleconsultation") -> Any:
    """A request of the GP for the patient, answered by the specialist with ``orientation``."""
    from maillage.teleexpertise import service as te
    from maillage.teleexpertise.schemas import OpinionIn, RequestCreate

    req = te.create_request(db, c.a(db, c.gp), RequestCreate(patient_id=c.patient_id, line_id=c.line.id,
                                                             question="Eczéma résistant : avis ?"))
    te.submit(db, c.a(db, c.gp), req.id, consent_recorded_now=True)
    te.claim(db, c.a(db, c.specialist), req.id)
    return te.answer(db, c.a(db, c.specialist), req.id, OpinionIn(
        answer="Je propose une téléconsultation pour examiner les lésions.", orientation=orientation))


class TestFromAnOpinion:
    def test_a_booking_follows_the_gps_opinion_oriented_to_teleconsultation(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            req = opinion(db, c)
            appt = booking.book(db, c.a(db, c.gp), booking.BookingIn(
                patient_id=c.patient_id, practitioner_id=c.specialist.id, line_id=c.line.id, starts_at=FIRST_SLOT,
                teleexpertise_request_id=req.id)).appointment
            assert appt.teleexpertise_request_id == req.id

    def test_another_orientation_or_another_requesters_request_is_refused(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            advice = opinion(db, c, orientation="advice_only")
            with pytest.raises(ValidationFailed, match="n'oriente pas"):
                booking.book(db, c.a(db, c.gp), booking.BookingIn(
                    patient_id=c.patient_id, practitioner_id=c.specialist.id, line_id=c.line.id,
                    starts_at=FIRST_SLOT, teleexpertise_request_id=advice.id))
            req = opinion(db, c)
            with pytest.raises(NotFound):
                booking.book(db, c.a(db, c.specialist), booking.BookingIn(
                    patient_id=c.patient_id, practitioner_id=c.specialist.id, line_id=c.line.id,
                    starts_at=FIRST_SLOT, teleexpertise_request_id=req.id))


class TestReport:
    def ended(self, db: Any) -> tuple[Any, Any]:
        import datetime as dt

        from maillage.teleconsultation import patient_link

        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            booked = book(db, c)
            clock.advance(FIRST_SLOT - MONDAY_9H - dt.timedelta(minutes=5))
            _, secret = patient_link.open_link(db, booked.link)
            patient_link.consent(db, secret, teleconsultation=True, third_party=False)
            clock.advance(dt.timedelta(minutes=6))
            booking.admit(db, c.a(db, c.specialist), booked.appointment.id)
            clock.advance(dt.timedelta(minutes=15))
            booking.end(db, c.a(db, c.specialist), booked.appointment.id)
        return c, booked.appointment

    def test_the_practitioner_signs_once_the_pdf_is_a_document_the_gp_reads_and_tcg_is_recorded(self, db):
        import datetime as dt
        import io
        from decimal import Decimal

        from pypdf import PdfReader

        from maillage.document import service as documents
        from maillage.models.teleconsultation import TeleconsultationAct
        from maillage.security.purposes import Purpose
        from maillage.teleconsultation import report

        c, appt = self.ended(db)
        with frozen(FIRST_SLOT + dt.timedelta(minutes=30)):
            data = report.ReportIn(report="Eczéma en nette amélioration sous dermocorticoïde.",
                                   prescriptions="Émollient deux fois par jour.")
            with pytest.raises(PermissionDenied):
                report.sign(db, c.a(db, c.gp), appt.id, data)
            with pytest.raises(ValidationFailed):
                report.sign(db, c.a(db, c.specialist), appt.id, report.ReportIn(report="Court"))
            signed = report.sign(db, c.a(db, c.specialist), appt.id, data)
            assert signed.report_signed_at is not None and signed.report_document_id is not None
            with pytest.raises(Conflict):
                report.sign(db, c.a(db, c.specialist), appt.id, data)
            content = documents.read(db, c.a(db, c.gp), signed.report_document_id, Purpose.TELECONSULTATION)
            raw = content[1] if isinstance(content, tuple) else content
            text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(raw)).pages)
            assert "Compte rendu de téléconsultation" in text and "Eczéma en nette amélioration" in text
            assert "TCG" in text and "25,00" in text
            acts = db.scalars(select(TeleconsultationAct)).all()
            assert [(a.code, a.amount, a.act_date) for a in acts] == [("TCG", Decimal("25.00"), FIRST_SLOT.date())]
            raw_report = db.execute(text_sql("select report from teleconsultation_appointment where id = :id"),
                                    {"id": appt.id if db.get_bind().dialect.name == "postgresql"
                                     else appt.id.hex}).scalar()
            assert raw_report.startswith("vault1:"), "the report is sealed at rest"

    def test_no_report_before_the_end(self, db):
        with frozen(MONDAY_9H):
            from maillage.teleconsultation import report

            c = clinic(db)
            appt = book(db, c).appointment
            with pytest.raises(Conflict, match="terminée"):
                report.sign(db, c.a(db, c.specialist), appt.id, report.ReportIn(report="x" * 40))
