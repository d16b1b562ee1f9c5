"""Telesurveillance's part of the demo: the support hospital's team, its members and its free devices."""

from __future__ import annotations

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.demo.monitoring import DEVICES
from maillage.monitoring import administration as admin


class TestSeedDemoMonitoring:
    def test_the_coordinating_nurse_has_a_team_with_free_devices_and_patients_to_enrol(self, db):
        summary = demo.build_demo(db, "87", 1)
        bernard = auth.actor_for(db, auth.get_user(db, "idec.bernard"))
        choices = admin.enrol_choices(db, bernard, "heart_failure")
        [team] = choices.teams
        assert team.team.id == summary.plan.id_for("monitoring/team")
        assert team.team.establishment_id == summary.plan.id_for("support")
        assert sorted(role for _, role in team.members) == ["infirmier·e", "médecin"]
        assert [d.label for d in team.free_devices] == sorted(d.label for d in DEVICES)
        assert len(choices.patients) == 3 and not any(p.followed for p in choices.patients)

    def test_the_devices_page_lists_every_demo_device_as_free(self, db):
        demo.build_demo(db, "87", 1)
        bernard = auth.actor_for(db, auth.get_user(db, "idec.bernard"))
        [team] = admin.team_devices(db, bernard)
        assert len(team.rows) == len(DEVICES) and not any(r.lent for r in team.rows)
