"""Tele-expertise's part of the demo: requests in every state, played through the services, the same for the same
seed, so that the GP, the EHPAD nurse and the specialist each find work waiting."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.demo.teleexpertise import CASES, lesion_photo
from maillage.kit.clock import frozen
from maillage.models.document import Document
from maillage.models.monitoring import MonitoringAlert, MonitoringReading
from maillage.models.teleexpertise import TeleexpertiseAct, TeleexpertiseAdmission, TeleexpertiseRequest
from maillage.teleexpertise import service as te
from maillage.teleexpertise.rules import AdmissionStatus, Orientation, Status


class TestDemoTeleexpertise:
    def test_every_state_orientation_and_admission_is_present_with_stable_ids(self, db):
        summary = demo.build_demo(db, "87", 1)
        requests = {r.id: r for r in db.scalars(select(TeleexpertiseRequest))}
        assert len(requests) == len(CASES)
        assert {r.status for r in requests.values()} == {s.value for s in Status}
        assert {r.orientation for r in requests.values() if r.orientation} == {o.value for o in Orientation}
        admissions = {a.status for a in db.scalars(select(TeleexpertiseAdmission))}
        assert admissions == {s.value for s in AdmissionStatus} - {AdmissionStatus.CANCELLED.value}
        declined = requests[summary.plan.id_for("teleexpertise/declined-pool")]
        assert declined.status == Status.DECLINED and declined.closing_reason
        signed = sum(1 for r in requests.values() if r.status == Status.COMPLETED)
        assert db.scalar(select(func.count()).select_from(TeleexpertiseAct)) == 2 * signed
        assert sum(1 for r in requests.values() if te.is_overdue(r)) >= 2
        photos = db.scalar(select(func.count()).select_from(Document).where(Document.media_type == "image/jpeg"))
        assert photos >= sum(1 for c in CASES if c.line == "dermatologie")

    def test_the_specialist_gp_and_nurse_each_find_work(self, db):
        summary = demo.build_demo(db, "87", 1)
        martin = auth.actor_for(db, auth.get_user(db, "dr.martin"))
        line = summary.plan.id_for("line/dermatologie")
        queue = te.worklist(db, martin, line, limit=100, offset=0)
        assert {r.status for r in queue} == {Status.PUBLISHED, Status.IN_PROGRESS, Status.AWAITING_INFORMATION}
        assert any(a.admission.status == AdmissionStatus.REQUESTED for a in te.line_admissions(db, martin, line))
        for username in ("dr.dupont", "ide.leroy"):
            actor = auth.actor_for(db, auth.get_user(db, username))
            mine = te.my_requests(db, actor, limit=100, offset=0)
            assert Status.AWAITING_INFORMATION in {r.status for r in mine} and Status.DRAFT in {r.status for r in mine}
        # The midwife and the coordinating nurse each have a question to answer and a signed opinion; the
        # pharmacist, a request waiting in the geriatrics pool.
        for username in ("sf.garnier", "idec.bernard"):
            actor = auth.actor_for(db, auth.get_user(db, username))
            statuses = {r.status for r in te.my_requests(db, actor, limit=100, offset=0)}
            assert {Status.AWAITING_INFORMATION, Status.COMPLETED} <= statuses, username
        petit = auth.actor_for(db, auth.get_user(db, "pharma.petit"))
        assert Status.PUBLISHED in {r.status for r in te.my_requests(db, petit, limit=100, offset=0)}

    def test_photographs_are_the_same_for_the_same_seed(self):
        assert lesion_photo(random.Random(1)) == lesion_photo(random.Random(1))
        assert lesion_photo(random.Random(1)) != lesion_photo(random.Random(2))


class TestDeterminism:
    def test_the_same_seed_on_the_same_day_gives_the_same_activity(self, db):
        def fingerprint() -> tuple[list[tuple[object, ...]], ...]:
            requests = db.execute(select(
                TeleexpertiseRequest.id, TeleexpertiseRequest.status, TeleexpertiseRequest.question,
                TeleexpertiseRequest.orientation, TeleexpertiseRequest.due_at, TeleexpertiseRequest.signed_at)
                .order_by(TeleexpertiseRequest.id)).all()
            # A signed prescription's PDF is left out: its number is drawn at random (it must not be guessable), so
            # the file differs from one build to the next by design.
            photos = db.execute(select(Document.owner_id, Document.sha256, Document.uploaded_at)
                                .where(Document.owner_type != "prescription")
                                .order_by(Document.owner_id, Document.uploaded_at, Document.sha256)).all()
            readings = db.execute(select(MonitoringReading.patient_id, MonitoringReading.measure,
                                         MonitoringReading.value, MonitoringReading.taken_at)
                                  .order_by(MonitoringReading.taken_at, MonitoringReading.measure,
                                            MonitoringReading.patient_id, MonitoringReading.value)).all()
            # Two patients' alerts may open at the same time for the same condition: the patient breaks the tie.
            alerts = db.execute(select(MonitoringAlert.condition, MonitoringAlert.severity, MonitoringAlert.status,
                                       MonitoringAlert.opened_at, MonitoringAlert.escalated_at,
                                       MonitoringAlert.patient_id)
                                .order_by(MonitoringAlert.opened_at, MonitoringAlert.condition,
                                          MonitoringAlert.patient_id)).all()
            return [tuple(r) for r in requests], [tuple(r) for r in photos], [tuple(r) for r in readings], \
                [tuple(r) for r in alerts]

        day = dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)
        with frozen(day):
            demo.build_demo(db, "87", 1)
            first = fingerprint()
            db.rollback()
            demo.build_demo(db, "87", 1)
            second = fingerprint()
        assert all(first) and first == second
