"""Teleconsultation's part of the demo (availability and appointments in every outcome, through the services, the
same for the same seed) and the practitioner's home-page items."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.demo.teleconsultation import MORE_BOOKINGS, STORIES
from maillage.demo.teleconsultation_assisted import STORIES as ASSISTED
from maillage.kit.clock import frozen
from maillage.models.auth import UserAccount
from maillage.models.teleconsultation import (
    TeleconsultationAct,
    TeleconsultationAppointment,
    TeleconsultationAvailability,
    TeleconsultationQualitySample,
)
from maillage.security.context import AuditContext
from maillage.teleconsultation import quality
from maillage.web.home import waiting_items
from tests.fixtures.teleconsultation import MONDAY_9H, book, clinic

DEMO_DAY = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)  # a Monday


class TestDemo:
    def test_the_demo_has_availability_and_appointments_in_every_outcome_with_stable_ids(self, db):
        with frozen(DEMO_DAY):
            summary = demo.build_demo(db, "87", 1)
        rows = list(db.scalars(select(TeleconsultationAppointment).order_by(TeleconsultationAppointment.starts_at)))
        assert len(rows) == len(STORIES) + len(MORE_BOOKINGS) + len(ASSISTED) + 1, \
            "one coming appointment was rescheduled"
        bookers = {r.requester_id for r in rows}
        assert len(bookers) == 4, "the GP, the midwife, the EHPAD nurse and the USMP's nurse book"
        assert {r.status for r in rows} == {"done", "cancelled", "no_show", "booked", "rescheduled"}
        assert rows[0].id == summary.plan.id_for("teleconsultation/0")
        done = [r for r in rows if r.status == "done"]
        assert all(r.consent_at and r.admitted_at and r.ended_at and r.ended_at > r.admitted_at for r in done)
        assert all(r.report_signed_at and r.report_document_id for r in done), "each held one has its report"
        nurse_acts = [r for r in done if r.assistance]
        assert len(nurse_acts) == 2, "the EHPAD's and the USMP's assisted consultations were held"
        assert len(db.scalars(select(TeleconsultationAct)).all()) == len(done) + len(nurse_acts)
        samples = db.scalars(select(TeleconsultationQualitySample)).all()
        assert {s.appointment_id for s in samples} == {r.id for r in done if not r.assistance}, \
            "each held one of the stories has its quality figures"
        assert all(r.admitted_at <= s.at <= r.ended_at for r in done for s in samples if s.appointment_id == r.id)
        summary = quality.summary_of(db, next(r for r in done if not r.assistance).id)
        assert summary is not None and summary.rtt_median is not None and summary.resolution
        assert db.scalar(select(TeleconsultationAvailability.id).limit(1)) is not None
        martin = db.scalar(select(UserAccount).where(UserAccount.username == "dr.martin"))
        assert {r.practitioner_id for r in rows} == {martin.id}
        first = [(r.starts_at, r.status, r.patient_id) for r in rows]
        db.rollback()
        with frozen(DEMO_DAY):
            demo.build_demo(db, "87", 1)
        again = [(r.starts_at, r.status, r.patient_id) for r in db.scalars(
            select(TeleconsultationAppointment).order_by(TeleconsultationAppointment.starts_at))]
        assert again == first, "the same seed gives the same appointments"


class TestHome:
    def test_the_practitioner_sees_today_and_the_waiting_patients(self, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            items = waiting_items(db, auth.actor_for(db, c.specialist), AuditContext())
            assert [(i.count, i.label) for i in items] == [(1, "téléconsultation aujourd'hui")]
            appt.status = "waiting"
            db.flush()
            items = waiting_items(db, auth.actor_for(db, c.specialist), AuditContext())
            assert [(i.count, i.label, i.href) for i in items] == [
                (1, "patient en salle d'attente", "/teleconsultation"),
                (1, "téléconsultation aujourd'hui", "/teleconsultation")]
