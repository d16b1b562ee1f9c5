"""Pickers in a real browser (issue 17: names, not codes): the demo GP creates a patient, choosing the residence
commune and the médecin traitant among suggestions that come as he types, and the patient's page names them. The
form page passes axe-core (no serious violation) with the CSP on, and without JavaScript the "Chercher" step lists
the same choices."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import sign_in
from tests.e2e.test_tour import AXE, AXE_URL_PATH

pytestmark = pytest.mark.e2e
RECORD = re.compile(r"/patients/[0-9a-f-]{36}$")


def serious_axe_violations(page: Any, url: str) -> list[str]:
    page.add_script_tag(url=url + AXE_URL_PATH)
    return list(page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => `${v.id} : ${v.help}`)"))


def fill_traits(page: Any, birth_name: str) -> None:
    page.locator("#birth_name").fill(birth_name)
    page.locator("#given_names").fill("Odile")
    page.locator("#birth_date").fill("1948-05-17")
    page.locator("#sex").select_option("F")
    page.locator("#birthplace").fill("87085")


def letters() -> str:
    """Six random letters: a birth name admits no digit."""
    return uuid.uuid4().hex[:6].translate(str.maketrans("0123456789", "GHIJKLMNOP")).upper()


def created(page: Any) -> None:
    """Wait for the new patient's page; say the form's error otherwise."""
    try:
        page.wait_for_url(RECORD, timeout=10_000)
    except Exception:
        raise AssertionError(page.locator("main .error, main .field-error").all_inner_texts()) from None


class TestPickers:
    def test_a_gp_creates_a_patient_choosing_the_commune_and_the_medecin_traitant_by_name(self, browser, live_server):
        url = live_server.url
        context = browser.new_context(locale="fr-FR")
        try:
            context.route(f"{url}{AXE_URL_PATH}",
                          lambda route: route.fulfill(path=str(AXE), content_type="application/javascript"))
            page = context.new_page()
            sign_in(page, url, "dr.dupont")
            # Listened to once signed in: a sign-in whose TOTP step was a replay answers 401 and is retried.
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url + "/patients/nouveau")
            birth_name = f"PICKER{letters()}"
            fill_traits(page, birth_name)

            page.get_by_label("Nom de la commune").press_sequentially("ambaz", delay=30)
            commune = page.get_by_label("Ambazac (Haute-Vienne)")
            commune.wait_for()
            commune.check()
            page.get_by_label("Nom du médecin").press_sequentially("dupont", delay=30)
            doctor = page.get_by_label("Dr Paul DUPONT", exact=False)
            doctor.first.wait_for()
            doctor.first.check()
            assert serious_axe_violations(page, url) == []
            page.get_by_role("button", name="Créer le patient").click()
            created(page)

            banner = page.locator(".patient-banner").inner_text()
            assert birth_name in banner and "Paul DUPONT" in banner
            assert "Ambazac" in page.locator("#suivi ~ dl, section[aria-labelledby='suivi']").first.inner_text()
            assert errors == []
        finally:
            context.close()

    def test_without_javascript_the_search_step_lists_the_choices(self, browser, live_server):
        url = live_server.url
        context = browser.new_context(locale="fr-FR", java_script_enabled=False)
        try:
            page = context.new_page()
            sign_in(page, url, "dr.dupont")
            page.goto(url + "/patients/nouveau")
            fill_traits(page, f"SANSJS{letters()}")
            page.get_by_label("Nom de la commune").fill("saint junien")
            page.locator("#commune_insee-picker").get_by_role("button", name="Chercher").click()
            page.get_by_label("Saint-Junien (Haute-Vienne)").check()
            assert page.get_by_label("Nom de la commune").input_value() == "saint junien"
            assert page.locator("#given_names").input_value() == "Odile"
            page.get_by_role("button", name="Créer le patient").click()
            created(page)
            assert "Saint-Junien" in page.locator("section[aria-labelledby='suivi']").inner_text()
        finally:
            context.close()
