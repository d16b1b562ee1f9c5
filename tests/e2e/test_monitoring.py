"""Telesurveillance end to end: a scale posts a FHIR Bundle of a heart-failure patient's weights over four days
(+2.3 kg in 3 days); the red alert appears in the nurse's worklist in the browser without a reload; the nurse
acknowledges it; the audit trail holds each step."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select

from maillage.audit.keys import keys_from_dir
from maillage.audit.service import verify_chain
from maillage.config import get_settings
from maillage.kit.clock import now
from maillage.models.audit import AuditEntry
from maillage.models.monitoring import MonitoringAlert
from tests.conftest import _reset_keyring
from tests.monitoring.live import seed_with_server_keys, sessions_for, sign_in_nurse

pytestmark = pytest.mark.e2e


def weight(ident: str, value: float, days_ago: int) -> dict:
    at = now() - dt.timedelta(days=days_ago, hours=1)
    return {"resource": {
        "resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:scale", "value": ident}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
        "effectiveDateTime": at.isoformat(),
        "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }, "request": {"method": "POST", "url": "Observation"}}


class TestRedAlertReachesTheNurse:
    def test_fhir_bundle_to_live_worklist_to_acknowledgement_with_audit(self, live_server, page, monkeypatch):
        # Seed with the server's own settings: the TOTP secret is sealed with the server's key ring.
        sessions = sessions_for(f"sqlite:///{live_server.var_dir / 'maillage.sqlite3'}")
        world = seed_with_server_keys(sessions, live_server.var_dir, monkeypatch)

        # The nurse signs in and opens the worklist: no alert yet.
        sign_in_nurse(page, live_server.url, world.nurse_username)
        page.goto(live_server.url + "/telesurveillance")
        assert page.locator('[data-condition="weight_gain_3d"]').count() == 0
        page.wait_for_selector('#worklist[data-live="on"]', timeout=10_000)
        page.evaluate("window.__noReload = 'still here'")

        # The scale posts four days of weights: 78.0 → 80.3 kg, +2.3 kg in three days.
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
            weight("w-1", 78.0, 3), weight("w-2", 78.9, 2), weight("w-3", 79.6, 1), weight("w-4", 80.3, 0)]}
        reply = httpx.post(live_server.url + "/api/monitoring/fhir", json=bundle, timeout=10,
                           headers={"Authorization": f"Bearer {world.secret}",
                                    "Content-Type": "application/fhir+json"})
        assert reply.status_code == 200, reply.text
        assert [e["response"]["status"] for e in reply.json()["entry"]] == ["201 Created"] * 4

        # The red alert appears in the open page, pushed by the server, without a reload.
        row = page.locator('section[data-group="red"] tr[data-condition="weight_gain_3d"]')
        row.wait_for(timeout=15_000)
        assert "2,3 kg" in row.inner_text()
        assert page.evaluate("window.__noReload") == "still here"

        # The nurse acknowledges it with a comment.
        row.get_by_label("Commentaire").fill("Patient appelé, diurétique majoré")
        row.get_by_role("button", name="Acquitter").click()
        page.wait_for_url(live_server.url + "/telesurveillance")
        assert page.locator('tr[data-condition="weight_gain_3d"]').count() == 0

        # The audit trail holds each step, and its chain is intact. The alert's comment is sealed with the server's
        # key ring (its var dir), which this process reads through the files.
        monkeypatch.setenv("MAILLAGE_VAR_DIR", str(live_server.var_dir))
        get_settings.cache_clear()
        _reset_keyring()
        try:
            self._check_trail(sessions, world, live_server)
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
            _reset_keyring()
        sessions.kw["bind"].dispose()

    @staticmethod
    def _check_trail(sessions, world, live_server):
        with sessions() as db:
            alert = db.scalar(select(MonitoringAlert).where(MonitoringAlert.enrolment_id == world.enrolment_id,
                                                            MonitoringAlert.condition == "weight_gain_3d"))
            assert alert.status == "closed" and alert.comment == "Patient appelé, diurétique majoré"
            entries = list(db.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
            steps = [(e.action, e.object_type) for e in entries]
            assert ("ingest", "monitoring_batch") in steps
            assert ("search", "monitoring_alert") in steps
            assert ("acknowledge", "monitoring_alert") in steps
            # The demo's own follow-up is in the trail too: this patient's batch and acknowledgement are looked up.
            ingest = next(e for e in entries
                          if e.object_type == "monitoring_batch" and e.patient_id == str(world.patient_id))
            assert ingest.details["accepted"] == 4
            ack = next(e for e in entries if e.action == "acknowledge" and e.object_type == "monitoring_alert"
                       and e.object_id == str(alert.id))
            assert ack.actor_id == str(world.nurse_id)
            # Sealed with the server's audit key (its var dir), which this process holds only through the files.
            assert verify_chain(db, keys=keys_from_dir(live_server.var_dir / "audit-keys")).ok
