"""Assisted and escorted teleconsultations on SQLite and PostgreSQL: the nurse named at booking or later (no patient
link then, and none can be issued), the consent recorded by the nurse on the patient's behalf, the nurse in the room
on the patient's side, the nurse's act (TLS, TLL, TLD) recorded when the consultation ends, the USMP's room held
over the slot (concurrent bookings of one room: exactly one wins on PostgreSQL), the report sent to the USMP's
physician. Sources: DOMAIN.md §2.2 (the accompaniment codes and amounts), §4 (consent, R6316-4)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from maillage.authz import service as authz
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import frozen
from maillage.models.audit import AuditEntry
from maillage.models.teleconsultation import TeleconsultationAct, TeleconsultationAppointment, TeleconsultationLink
from maillage.teleconsultation import assisted, booking, places, report
from maillage.teleconsultation.rules import Assistance, Kind
from tests.conftest import postgresql_only
from tests.fixtures.assisted import assisted_clinic, book_assisted
from tests.fixtures.factories import make_user
from tests.fixtures.scratch import scratch_postgres_engine
from tests.fixtures.teleconsultation import FIRST_SLOT, MONDAY_9H, book
from tests.fixtures.teleexpertise import actor

SECOND_SLOT = FIRST_SLOT + dt.timedelta(minutes=20)


def held_through(db: Any, w: Any, appt: Any, clock: Any) -> Any:
    """The nurse consents for the patient, the specialist admits and ends the consultation."""
    clock.advance(appt.starts_at - clock.now - dt.timedelta(minutes=5))
    assisted.consent(db, w.a(db, appt_nurse(db, w, appt)), appt.id, teleconsultation=True, third_party=False)
    clock.advance(dt.timedelta(minutes=6))
    booking.admit(db, w.a(db, w.c.specialist), appt.id)
    clock.advance(dt.timedelta(minutes=12))
    return booking.end(db, w.a(db, w.c.specialist), appt.id)


def appt_nurse(db: Any, w: Any, appt: Any) -> Any:
    return w.ehpad_nurse if appt.assisting_nurse_id == w.ehpad_nurse.id else w.usmp_nurse


class TestBookAssisted:
    def test_the_gp_names_the_ehpad_nurse_and_the_patient_gets_no_link(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            assert appt.assistance == "TLS" and appt.assisting_nurse_id == w.ehpad_nurse.id
            assert appt.place == "remote" and appt.place_id is None
            assert db.scalar(select(TeleconsultationLink).where(
                TeleconsultationLink.appointment_id == appt.id)) is None, "no patient link is issued"

    def test_no_patient_link_can_be_issued_for_an_assisted_appointment(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            with pytest.raises(Conflict, match="pas de lien"):
                booking.new_link(db, w.a(db, w.c.gp), appt.id)

    def test_a_nurse_who_does_not_care_for_the_patient_is_refused_and_nothing_is_booked(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            stranger = make_user(db, "nurse")
            with pytest.raises(ValidationFailed, match="suit ce patient"):
                book_assisted(db, w, nurse=stranger)

    def test_a_physician_cannot_be_named_as_the_assisting_nurse(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            authz.grant_relationship(db, user_id=w.usmp_physician.id, patient_id=w.c.patient_id, kind="care_unit")
            with pytest.raises(ValidationFailed):
                book_assisted(db, w, nurse=w.usmp_physician)


class TestNameNurseLater:
    def test_the_requester_names_the_nurse_and_the_patients_link_stops(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            booked = book(db, w.c)
            appt = assisted.name_nurse(db, w.a(db, w.c.gp), booked.appointment.id, w.ehpad_nurse.id, Assistance.TLD)
            assert appt.assistance == "TLD" and appt.assisting_nurse_id == w.ehpad_nurse.id
            link = db.scalar(select(TeleconsultationLink).where(TeleconsultationLink.appointment_id == appt.id))
            assert link.revoked_at is not None, "the link given earlier stops working"

    def test_only_the_requester_names_the_nurse_and_only_before_arrival(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            booked = book(db, w.c)
            with pytest.raises(PermissionDenied):
                assisted.name_nurse(db, w.a(db, w.c.specialist), booked.appointment.id, w.ehpad_nurse.id,
                                    Assistance.TLS)
            with pytest.raises(NotFound):
                assisted.name_nurse(db, w.a(db, w.ehpad_nurse), booked.appointment.id, w.ehpad_nurse.id,
                                    Assistance.TLS)
            clock.advance(dt.timedelta(minutes=1))
            booking.cancel(db, w.a(db, w.c.gp), booked.appointment.id, "Patient hospitalisé")
            with pytest.raises(Conflict):
                assisted.name_nurse(db, w.a(db, w.c.gp), booked.appointment.id, w.ehpad_nurse.id, Assistance.TLS)


class TestNurseConsentAndRoom:
    def test_the_nurse_records_the_consent_for_the_patient_who_enters_the_waiting_room(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            clock.advance(FIRST_SLOT - clock.now - dt.timedelta(minutes=10))
            appt = assisted.consent(db, w.a(db, w.ehpad_nurse), appt.id, teleconsultation=True, third_party=True)
            assert appt.status == "waiting" and appt.consent_recorded_by == w.ehpad_nurse.id
            assert appt.consent_at is not None and appt.third_party_present is True
            db.commit()
            entries = db.scalars(select(AuditEntry).where(AuditEntry.object_id == str(appt.id),
                                                          AuditEntry.action == "consent")).all()
            assert [e.actor_id for e in entries] == [str(w.ehpad_nurse.id)]

    def test_consent_is_refused_too_early_without_agreement_and_to_anyone_but_the_nurse(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            with pytest.raises(Conflict, match="trop tôt"):
                assisted.consent(db, w.a(db, w.ehpad_nurse), appt.id, teleconsultation=True, third_party=False)
            clock.advance(FIRST_SLOT - clock.now)
            with pytest.raises(ValidationFailed, match="accepter"):
                assisted.consent(db, w.a(db, w.ehpad_nurse), appt.id, teleconsultation=False, third_party=False)
            with pytest.raises(PermissionDenied):
                assisted.consent(db, w.a(db, w.c.gp), appt.id, teleconsultation=True, third_party=False)
            with pytest.raises(NotFound):
                assisted.consent(db, w.a(db, w.usmp_nurse), appt.id, teleconsultation=True, third_party=False)
            assert db.get(TeleconsultationAppointment, appt.id).status == "booked"

    def test_the_nurse_enters_the_room_only_in_the_window_with_consent(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            clock.advance(FIRST_SLOT - clock.now)
            with pytest.raises(PermissionDenied, match="consentement"):
                assisted.enter_room(db, w.a(db, w.ehpad_nurse), appt.id, context=None)
            assisted.consent(db, w.a(db, w.ehpad_nurse), appt.id, teleconsultation=True, third_party=False)
            assert assisted.enter_room(db, w.a(db, w.ehpad_nurse), appt.id, context=None).id == appt.id
            with pytest.raises(PermissionDenied):
                assisted.enter_room(db, w.a(db, w.c.gp), appt.id, context=None)
            clock.advance(dt.timedelta(hours=2))
            with pytest.raises(PermissionDenied, match="passée"):
                assisted.enter_room(db, w.a(db, w.ehpad_nurse), appt.id, context=None)

    def test_the_nurse_may_not_admit_end_or_cancel(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            clock.advance(FIRST_SLOT - clock.now)
            assisted.consent(db, w.a(db, w.ehpad_nurse), appt.id, teleconsultation=True, third_party=False)
            nurse = w.a(db, w.ehpad_nurse)
            for step in (booking.admit, booking.end):
                with pytest.raises(PermissionDenied):
                    step(db, nurse, appt.id)
            with pytest.raises(PermissionDenied):
                booking.cancel(db, nurse, appt.id, "Le patient dort")


class TestNurseAct:
    @pytest.mark.parametrize(("kind", "amount"), [(Assistance.TLS, "10.00"), (Assistance.TLL, "12.00"),
                                                  (Assistance.TLD, "15.00")])
    def test_ending_records_the_nurses_act_at_its_date_from_the_tariff_table(self, db, kind, amount):
        """DOMAIN.md §2.2: TLS 10 €, TLL 12 €, TLD 15 € (NGAP art. 14.9.5), for the nurse."""
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = held_through(db, w, book_assisted(db, w, assistance=kind), clock)
            acts = db.scalars(select(TeleconsultationAct).where(TeleconsultationAct.appointment_id == appt.id)).all()
            assert [(a.code, a.amount, a.professional_user_id, a.act_date) for a in acts] == [
                (kind.value, Decimal(amount), w.ehpad_nurse.id, dt.date(2026, 3, 2))]
            assert "14.9.5" in acts[0].tariff_source

    def test_signing_adds_the_practitioners_tcg_beside_the_nurses_act(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = held_through(db, w, book_assisted(db, w), clock)
            report.sign(db, w.a(db, w.c.specialist), appt.id, report.ReportIn(
                report="Plaie du talon en voie de cicatrisation, poursuite des soins locaux."))
            codes = {(a.code, a.professional_user_id) for a in report.acts_of(db, appt.id)}
            assert codes == {("TCG", w.c.specialist.id), ("TLS", w.ehpad_nurse.id)}

    def test_a_consultation_without_a_nurse_records_no_nurse_act(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book(db, w.c).appointment
            booking.new_link(db, w.a(db, w.c.gp), appt.id)
            clock.advance(FIRST_SLOT - clock.now)
            appt.status = "in_consultation"
            db.flush()
            booking.end(db, w.a(db, w.c.specialist), appt.id)
            assert report.acts_of(db, appt.id) == []


class TestUsmpRoom:
    def test_the_usmp_nurse_books_the_units_room_over_the_slot(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            appt = book_assisted(db, w, by=w.usmp_nurse, nurse=w.usmp_nurse, assistance=Assistance.TLL, place=w.room)
            assert appt.place_id == w.room.id and appt.place == "Salle de téléconsultation"
            assert appt.requester_id == w.usmp_nurse.id

    def test_a_room_closed_or_taken_at_that_time_is_refused(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            usmp = w.a(db, w.usmp_nurse)
            late = FIRST_SLOT + dt.timedelta(hours=1)  # 11:00 Paris: the room has closed
            with pytest.raises(Conflict, match="pas ouverte"):
                book_assisted(db, w, by=w.usmp_nurse, nurse=w.usmp_nurse, place=w.room, starts_at=late)
            db.rollback()
            w = assisted_clinic(db)
            book_assisted(db, w, by=w.usmp_nurse, nurse=w.usmp_nurse, place=w.room)
            # Another practitioner's slot at the same time in the same room.
            from maillage.teleconsultation import availability

            availability.add_range(db, actor(db, w.c.colleague), availability.RangeIn(
                kind=Kind.WEEKLY, start="10:00", end="12:00", weekday=0, slot_minutes=30, line_id=w.c.line.id))
            with pytest.raises(Conflict, match="déjà réservée"):
                assisted.book_assisted(db, w.a(db, w.usmp_nurse), booking.BookingIn(
                    patient_id=w.c.patient_id, practitioner_id=w.c.colleague.id, line_id=w.c.line.id,
                    starts_at=FIRST_SLOT), assisted.AssistIn(w.usmp_nurse.id, Assistance.TLL, w.room.id))
            assert usmp is not None

    def test_another_establishments_room_is_not_found(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            with pytest.raises(NotFound):
                book_assisted(db, w, place=w.room)  # the GP does not act for the USMP

    def test_the_report_goes_to_the_usmp_physician(self, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w, by=w.usmp_nurse, nurse=w.usmp_nurse, assistance=Assistance.TLL, place=w.room)
            assert not authz.has_access(db, w.a(db, w.usmp_physician), w.c.patient_id)
            appt = held_through(db, w, appt, clock)
            report.sign(db, w.a(db, w.c.specialist), appt.id, report.ReportIn(
                report="Examen dermatologique rassurant, pas de traitement nécessaire."))
            recipients = assisted.report_recipients(db, appt)
            assert [(r.name, r.user_id) for r in recipients] == [("Dr Anne SANITAIRE", w.usmp_physician.id)]
            assert authz.has_access(db, w.a(db, w.usmp_physician), w.c.patient_id), "the physician reads the PDF"


@pytest.fixture
def scratch_postgres(backend: str) -> Any:
    assert backend == "postgresql"
    yield from scratch_postgres_engine("tcroom")


class TestConcurrentRoomBookings:
    @postgresql_only
    def test_of_two_concurrent_bookings_of_one_room_with_two_practitioners_exactly_one_wins(self, scratch_postgres):
        """Two practitioners are free at 10:00; two USMP nurses book the unit's room for each at once, in two real
        transactions: the lock on the room lets one commit; the other gets Conflict."""
        from sqlalchemy.orm import sessionmaker

        from maillage.teleconsultation import availability

        make = sessionmaker(bind=scratch_postgres, expire_on_commit=False)
        with frozen(MONDAY_9H):
            with make() as setup:
                w = assisted_clinic(setup)
                availability.add_range(setup, actor(setup, w.c.colleague), availability.RangeIn(
                    kind=Kind.WEEKLY, start="10:00", end="12:00", weekday=0, slot_minutes=20, line_id=w.c.line.id))
                setup.commit()
            barrier = threading.Barrier(2)
            outcomes: list[str] = []

            def run(practitioner_id: Any) -> None:
                with make() as s:
                    a = actor(s, s.merge(w.usmp_nurse))
                    barrier.wait()
                    try:
                        assisted.book_assisted(s, a, booking.BookingIn(
                            patient_id=w.c.patient_id, practitioner_id=practitioner_id, line_id=w.c.line.id,
                            starts_at=FIRST_SLOT), assisted.AssistIn(w.usmp_nurse.id, Assistance.TLL, w.room.id))
                        s.commit()
                        outcomes.append("won")
                    except Conflict:
                        s.rollback()
                        outcomes.append("conflict")

            threads = [threading.Thread(target=run, args=(p,)) for p in (w.c.specialist.id, w.c.colleague.id)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(outcomes) == ["conflict", "won"]
            with make() as s:
                rows = s.scalars(select(TeleconsultationAppointment)).all()
                assert len(rows) == 1 and rows[0].place_id == w.room.id


class TestPlaces:
    def test_a_nurse_manages_the_rooms_of_her_establishment_only(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            views = places.my_places(db, w.a(db, w.usmp_nurse))
            assert [(v.place.name, len(v.ranges)) for v in views] == [("Salle de téléconsultation", 1)]
            assert places.my_places(db, w.a(db, w.ehpad_nurse)) == []
            with pytest.raises(NotFound):
                places.add_range(db, w.a(db, w.ehpad_nurse), w.room.id, places.PlaceRangeIn(
                    kind=Kind.WEEKLY, start="14:00", end="16:00", weekday=1))
            with pytest.raises(NotFound):
                places.create_place(db, w.a(db, w.ehpad_nurse), establishment_id=w.usmp.id, name="Autre salle")

    def test_a_closure_and_a_bad_range_and_a_duplicate_name(self, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            nurse = w.a(db, w.usmp_nurse)
            places.add_range(db, nurse, w.room.id, places.PlaceRangeIn(kind=Kind.ABSENCE, start="10:00",
                                                                       end="10:30", day=MONDAY_9H.date()))
            assert not places.is_open(db, w.room.id, FIRST_SLOT, SECOND_SLOT)
            assert places.is_open(db, w.room.id, FIRST_SLOT + dt.timedelta(minutes=30),
                                  FIRST_SLOT + dt.timedelta(minutes=50))
            with pytest.raises(ValidationFailed, match="fin"):
                places.add_range(db, nurse, w.room.id, places.PlaceRangeIn(kind=Kind.WEEKLY, start="12:00",
                                                                           end="11:00", weekday=2))
            with pytest.raises(ValidationFailed, match="déjà une salle"):
                places.create_place(db, nurse, establishment_id=w.usmp.id, name="Salle de  téléconsultation")
            rid = places.ranges_of(db, w.room.id)[0].id
            places.remove_range(db, nurse, w.room.id, rid)
            assert len(places.ranges_of(db, w.room.id)) == 1
