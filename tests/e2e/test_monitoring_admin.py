"""Telesurveillance administration end to end, through the pages only: the demo's coordinating nurse registers a
scale (its secret is shown once), enrols a patient he follows in the heart-failure programme with that scale and a
dry weight, lowers a threshold; the scale's first reading breaks it; the alert reaches the worklist and the nurse
acknowledges it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from maillage.kit.clock import now
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


class TestTheFirstHourOfACoordinatingNurse:
    def test_register_enrol_set_a_threshold_receive_and_acknowledge(self, live_server, page):
        url = live_server.url
        serial = f"BAL-E2E-{uuid.uuid4().hex[:6].upper()}"
        sign_in(page, url, "idec.bernard")

        # The devices page: the demo team's devices, and a new scale registered; its secret is shown once.
        page.goto(url + "/telesurveillance/suivis")
        page.get_by_role("link", name="Appareils de l'équipe").click()
        page.wait_for_url("**/telesurveillance/appareils")
        assert page.get_by_role("cell", name="Balance connectée n° 1").count() == 1
        page.get_by_label("Nom de l'appareil").fill("Balance connectée du test")
        page.get_by_label("Numéro de série").fill(serial)
        page.get_by_role("button", name="Enregistrer l'appareil").click()
        secret = page.locator("[data-secret]").inner_text().strip()
        assert secret.startswith("mlg_dev_") and page.get_by_text("affichée une seule fois").count() == 1
        assert page.get_by_role("cell", name=serial).count() == 1

        # Enrolment: the programme first, then a patient he follows, the scale, the consent, the dry weight.
        page.goto(url + "/telesurveillance/suivis")
        page.get_by_role("link", name="Inscrire un patient").click()
        page.get_by_label("Insuffisance cardiaque chronique —").check()
        page.get_by_role("button", name="Continuer").click()
        choice = page.locator("#patient_id option:not([disabled]):not([value=''])").first
        patient_value, patient_text = choice.get_attribute("value"), choice.inner_text()
        patient_name = patient_text.split(" — ")[0]
        assert " ans)" in patient_text and patient_value not in patient_text
        page.get_by_label("Patient (parmi les patients que vous suivez)").select_option(patient_value)
        page.get_by_label("Balance connectée du test").check()
        page.get_by_label("Le patient a donné son consentement").check()
        page.get_by_label("Poids sec").fill("70")
        page.get_by_role("button", name="Inscrire le patient").click()
        page.wait_for_url("**/telesurveillance/suivis/*")
        assert patient_name in page.locator("h1").inner_text()
        assert page.get_by_text("Poids sec : 70 kg").count() == 1

        # Settings: the "above dry weight" alert at 1.5 kg instead of 2 kg.
        page.get_by_role("link", name="Réglages : valeurs de référence et seuils d'alerte").click()
        rule = page.locator('fieldset[data-rule="weight_over_dry"]')
        assert "défaut 2 kg" in rule.inner_text()
        rule.get_by_label("Écart toléré").fill("1,5")
        page.get_by_role("button", name="Enregistrer les réglages").click()
        page.wait_for_url("**/telesurveillance/suivis/*")
        assert "/reglages" not in page.url

        # The scale's first reading: 71.8 kg, 1.8 kg above the dry weight (alerts with 1.5 kg, not with 2 kg).
        batch = {"readings": [{"id": "e2e-1", "code": "29463-7", "value": 71.8, "unit": "kg",
                               "at": now().isoformat()}]}
        reply = httpx.post(url + "/api/monitoring/readings", json=batch, timeout=10,
                           headers={"Authorization": f"Bearer {secret}"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["accepted"] == 1

        # The worklist shows the orange alert for this patient; the nurse acknowledges it.
        page.goto(url + "/telesurveillance")
        row = page.locator('section[data-group="orange"] tr[data-condition="weight_over_dry"]').filter(
            has_text=patient_name)
        row.wait_for(timeout=15_000)
        assert "poids sec" in row.inner_text().lower()
        row.get_by_label("Commentaire").fill("Patient appelé, pas de signe de décompensation")
        row.get_by_role("button", name="Acquitter").click()
        page.wait_for_url(url + "/telesurveillance")
        assert page.locator('tr[data-condition="weight_over_dry"]').filter(has_text=patient_name).count() == 0

        # The device now shows as lent to this patient on the devices page.
        page.goto(url + "/telesurveillance/appareils")
        lent = page.locator("tr").filter(has_text=serial)
        assert patient_name in lent.inner_text()
