"""Risk scores in the browser, on the demo: the demo nurse (idec.bernard) orders her worklist by risk, opens a
patient's top factors (loaded when opened) and the model card (trained and activated when the demo was built)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import signed_in

pytestmark = pytest.mark.e2e
WAIT = 30_000


class TestNurseOrdersByRisk:
    def test_worklist_by_risk_factors_and_model_card(self, live_server, browser):
        with signed_in(browser, live_server.url, "idec.bernard") as page:
            page.goto(live_server.url + "/telesurveillance")
            page.get_by_role("link", name="risque de décompensation").click()
            page.wait_for_url("**/telesurveillance?ordre=risque", timeout=WAIT)
            red = page.locator("section[data-group='red']")
            assert red.locator("tr.alert-row").count() >= 1  # the rule's red alerts still lead the list
            first = page.locator("td.risk details").first
            first.locator("summary").click()
            factors = first.locator("ul.factors li")  # loaded when opened, not with the list
            factors.first.wait_for(timeout=WAIT)
            assert 1 <= factors.count() <= 3
            assert first.locator("summary").inner_text().startswith("Risque ")
            first.get_by_role("link", name="Fiche du modèle").click()
            page.wait_for_url("**/telesurveillance/modeles/**", timeout=WAIT)
            assert page.get_by_role("heading", level=1).inner_text().startswith("Fiche du modèle")
            assert page.get_by_text("Fait mieux que la règle").is_visible()
            assert page.locator("svg.calibration").count() == 1
            assert "approuvée par" in page.locator("p.lead").inner_text()
