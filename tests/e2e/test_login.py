"""Login in a real browser: password, then the TOTP code, as a demo specialist."""

from __future__ import annotations

import pytest

from maillage.demo.accounts import DEMO_PASSWORD
from tests.e2e.conftest import submit_totp

pytestmark = pytest.mark.e2e


class TestLoginInTheBrowser:
    def test_a_demo_specialist_logs_in_with_password_and_totp_then_logs_out(self, live_server, page):
        page.goto(live_server.url + "/connexion")
        page.get_by_label("Identifiant").fill("dr.martin")
        page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/connexion/code**")
        assert page.get_by_role("heading", name="Code de vérification").is_visible()
        submit_totp(page, "dr.martin")
        page.wait_for_url(live_server.url + "/")
        assert page.get_by_text("Dr Claire Martin").first.is_visible()
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["maillage_session"]["httpOnly"] is True
        page.get_by_role("button", name="Se déconnecter").click()
        page.wait_for_url("**/connexion")
        page.goto(live_server.url + "/compte")
        page.wait_for_url("**/connexion?suite=**")

    def test_a_wrong_password_shows_the_generic_french_error(self, live_server, page):
        page.goto(live_server.url + "/connexion")
        page.get_by_label("Identifiant").fill("dr.dupont")
        page.get_by_label("Mot de passe").fill("Pas-le-bon-mot-2026")
        page.get_by_role("button", name="Se connecter").click()
        assert page.get_by_role("alert").inner_text().startswith("Identifiant ou mot de passe incorrect")
