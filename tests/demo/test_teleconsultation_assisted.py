"""The demo's assisted and escorted teleconsultations (``maillage.demo.teleconsultation_assisted``): the EHPAD
nurse's consultation today, the USMP's room and the detainee's consultations in it, the nurses' acts of the held
ones, no patient link for any of them, the report of the USMP's addressed to the unit's physician; the nurse's home
item."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.kit.clock import frozen, today_paris
from maillage.models.auth import UserAccount
from maillage.models.teleconsultation import (
    TeleconsultationAct,
    TeleconsultationAppointment,
    TeleconsultationLink,
    TeleconsultationPlace,
)
from maillage.security.context import AuditContext
from maillage.teleconsultation import assisted
from maillage.teleconsultation.rules import PARIS
from maillage.web.home import waiting_items

DEMO_DAY = dt.datetime(2026, 12, 10, 6, 30, tzinfo=dt.UTC)  # a Thursday, early


def users(db):
    return {u.username: u for u in db.scalars(select(UserAccount).where(UserAccount.username.in_(
        ("ide.leroy", "ide.usmp"))))}


class TestAssistedDemo:
    def test_the_ehpad_and_usmp_nurses_have_their_assisted_consultations(self, db):
        with frozen(DEMO_DAY):
            summary = demo.build_demo(db, "87", 1)
            today = today_paris()
            u = users(db)
            rows = db.scalars(select(TeleconsultationAppointment).where(
                TeleconsultationAppointment.assisting_nurse_id.is_not(None))
                .order_by(TeleconsultationAppointment.starts_at)).all()
            leroy = [r for r in rows if r.assisting_nurse_id == u["ide.leroy"].id]
            usmp = [r for r in rows if r.assisting_nurse_id == u["ide.usmp"].id]
            assert any(r.starts_at.astimezone(PARIS).date() == today and r.status == "booked" for r in leroy), \
                "ide.leroy has an assisted appointment today"
            assert {r.assistance for r in leroy} == {"TLS"} and {r.assistance for r in usmp} == {"TLL"}
            room = db.scalar(select(TeleconsultationPlace))
            assert room.establishment_id == summary.plan.id_for("usmp-1")
            assert all(r.place_id == room.id and r.patient_id == summary.plan.id_for("patient-15") for r in usmp)
            assert len(usmp) == 3 and len(leroy) == 2
            assert db.scalar(select(TeleconsultationLink).where(
                TeleconsultationLink.appointment_id.in_([r.id for r in rows]))) is None, "no patient link"
            held = [r for r in rows if r.status == "done"]
            acts = {(a.appointment_id, a.code, a.professional_user_id) for a in db.scalars(
                select(TeleconsultationAct).where(TeleconsultationAct.appointment_id.in_([r.id for r in held])))}
            assert {(code, user) for _, code, user in acts if code != "TCG"} == {
                ("TLS", u["ide.leroy"].id), ("TLL", u["ide.usmp"].id)}
            usmp_held = next(r for r in held if r.place_id)
            assert [r.name for r in assisted.report_recipients(db, usmp_held)] != []
            assert usmp_held.consent_recorded_by == u["ide.usmp"].id

    def test_the_ehpad_nurse_sees_her_assisted_consultation_of_today_on_her_home(self, db):
        with frozen(DEMO_DAY):
            demo.build_demo(db, "87", 1)
            items = waiting_items(db, auth.actor_for(db, users(db)["ide.leroy"]), AuditContext())
            assert (1, "téléconsultation assistée aujourd'hui") in [(i.count, i.label) for i in items]
