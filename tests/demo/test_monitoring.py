"""Telesurveillance's part of the demo: the support hospital's team, its members, its devices (one of each kind
still free), and the weeks of follow-up of the coordinating nurse's patients."""

from __future__ import annotations

from sqlalchemy import select

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.demo.monitoring import DEVICES, FOLLOW_UPS
from maillage.models.monitoring import MonitoringAlert
from maillage.monitoring import administration as admin
from maillage.monitoring import service as monitoring


class TestSeedDemoMonitoring:
    def test_the_coordinating_nurse_has_a_team_with_free_devices_and_patients_to_enrol(self, db):
        summary = demo.build_demo(db, "87", 1)
        bernard = auth.actor_for(db, auth.get_user(db, "idec.bernard"))
        choices = admin.enrol_choices(db, bernard, "heart_failure")
        [team] = choices.teams
        assert team.team.id == summary.plan.id_for("monitoring/team")
        assert team.team.establishment_id == summary.plan.id_for("support")
        assert sorted(role for _, role in team.members) == ["infirmier·e", "médecin"]
        lent = {key for f in FOLLOW_UPS for key in f.devices}
        assert [d.label for d in team.free_devices] == sorted(d.label for d in DEVICES if d.key not in lent)
        assert {d.identifier.split("-")[0] for d in team.free_devices} == {"BAL", "TEN", "OXY", "GLY"}
        # Followed in heart failure: three of the five; the others can still be enrolled (the browser test does).
        followed = sum(1 for f in FOLLOW_UPS if f.programme == "heart_failure")
        assert len(choices.patients) == 5 and sum(p.followed for p in choices.patients) == followed < 5

    def test_the_devices_page_lists_every_demo_device_lent_or_free(self, db):
        demo.build_demo(db, "87", 1)
        bernard = auth.actor_for(db, auth.get_user(db, "idec.bernard"))
        [team] = admin.team_devices(db, bernard)
        assert len(team.rows) == len(DEVICES)
        assert sum(1 for r in team.rows if r.lent) == sum(len(f.devices) for f in FOLLOW_UPS)


class TestDemoFollowUp:
    def test_alerts_of_every_colour_missing_data_acknowledged_and_escalated(self, db):
        demo.build_demo(db, "87", 1)
        alerts = db.scalars(select(MonitoringAlert)).all()
        assert {a.severity for a in alerts} == {"red", "orange", "green"}
        assert {a.status for a in alerts} == {"open", "closed"}
        assert any(a.condition.startswith("no_") and a.status == "open" for a in alerts)  # data missing
        assert any(a.escalated_at is not None for a in alerts)
        assert any(a.status == "closed" and a.severity == "red" for a in alerts)

    def test_the_nurses_worklist_is_not_empty(self, db):
        demo.build_demo(db, "87", 1)
        bernard = auth.actor_for(db, auth.get_user(db, "idec.bernard"))
        worklist = monitoring.worklist(db, bernard)
        assert worklist.count >= 3
        assert len(monitoring.my_enrolments(db, bernard)) == len(FOLLOW_UPS)

    def test_the_gp_and_the_ehpad_nurse_each_have_an_open_alert_of_a_patient_they_follow(self, db):
        demo.build_demo(db, "87", 1)
        for username in ("dr.dupont", "ide.leroy"):
            actor = auth.actor_for(db, auth.get_user(db, username))
            assert monitoring.worklist(db, actor).count >= 1, username
