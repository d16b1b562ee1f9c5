"""The first browser test: a real server process, real Chromium, French pages."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


class TestShellInTheBrowser:
    def test_home_page_shows_the_french_welcome_and_leads_to_the_login(self, live_server, page):
        page.goto(live_server.url + "/")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.get_by_role("heading", name="Bienvenue sur Maillage").is_visible()
        page.get_by_role("link", name="Se connecter").first.click()
        page.wait_for_url("**/connexion")
        assert page.get_by_role("heading", name="Connexion").is_visible()
        assert page.get_by_label("Identifiant").is_visible()
        assert page.get_by_label("Mot de passe").is_visible()

    def test_htmx_is_loaded_from_the_platform_itself(self, live_server, page):
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(live_server.url + "/")
        page.wait_for_function("() => typeof window.htmx !== 'undefined'")
        assert requests and all(u.startswith(live_server.url) for u in requests)

    def test_pages_load_without_console_errors_or_missing_resources(self, live_server, page):
        """No CSP violation (htmx's indicator rule is in the stylesheet), no 404 (the browser's /favicon.ico)."""
        errors: list[str] = []
        failed: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        for path in ("/", "/connexion"):
            page.goto(live_server.url + path)
            page.wait_for_function("() => typeof window.htmx !== 'undefined'")
        page.goto(live_server.url + "/favicon.ico")
        assert errors == [] and failed == []
