"""The demo territory in a real browser: the public offer (no login, accessible, readable on a phone), the demo
specialist's specialty lines, the demo GP's patient found by INS.

The server is ``maillage serve --demo`` (tests/e2e/conftest.py), which loads the territory of département 87,
seed 1: the test derives the same patients from ``maillage.demo.patients.plan_patients``. Accessibility is checked with
axe-core (vendored in tests/e2e/vendor, MPL-2.0): no violation of impact "critical"; the serious ones are printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from maillage.demo.patients import plan_patients
from maillage.demo.territory import build_territory
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
PHONE = {"width": 375, "height": 740}


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        "async () => (await axe.run(document)).violations.map(v => "
        "({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))"
    )


@pytest.fixture
def phone_page(browser):
    """A phone-sized page; the CSP is bypassed only so the test can inject axe-core."""
    context = browser.new_context(locale="fr-FR", viewport=PHONE, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


class TestPublicOffer:
    def test_the_offer_renders_without_login_on_a_phone_with_no_critical_accessibility_violation(
            self, live_server, phone_page):
        phone_page.goto(live_server.url + "/offre")
        assert phone_page.get_by_role("heading", name="Offre de télémédecine du territoire").is_visible()
        assert phone_page.get_by_role("heading", name="Dermatologie : avis sur photographies").is_visible()
        assert phone_page.get_by_text("Comment adresser une demande").first.is_visible()
        overflow = phone_page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"la page déborde de {overflow} px sur un téléphone"
        violations = axe_violations(phone_page)
        print("axe-core sur /offre :", [(v["id"], v["impact"], v["nodes"]) for v in violations] or "aucune violation")
        assert [v for v in violations if v["impact"] == "critical"] == []

    def test_a_line_of_the_offer_opens_with_its_delays(self, live_server, phone_page):
        phone_page.goto(live_server.url + "/offre?pour=usmp")
        phone_page.get_by_role("link", name="Dermatologie : avis sur photographies").click()
        assert phone_page.get_by_role("heading", name="Délais de réponse").is_visible()
        assert phone_page.get_by_text("Urgent : réponse sous 48 h").is_visible()
        assert [v for v in axe_violations(phone_page) if v["impact"] == "critical"] == []


class TestDemoSpecialist:
    def test_the_dermatologist_finds_the_specialty_lines_she_answers(self, live_server, page):
        sign_in(page, live_server.url, "dr.martin")
        page.get_by_role("link", name="Annuaire").click()
        page.wait_for_url("**/annuaire")
        assert page.get_by_role("heading", name="Mes lignes d'avis").is_visible()
        mine = page.locator("section", has=page.get_by_role("heading", name="Mes lignes d'avis"))
        assert mine.get_by_role("link", name="Dermatologie : avis sur photographies").is_visible()
        mine.get_by_role("link", name="Dermatologie : avis sur photographies").click()
        assert page.get_by_role("heading", name="Qui répond").is_visible()
        assert page.get_by_role("link", name="Dr Claire MARTIN", exact=True).is_visible()


class TestDemoGeneralPractitioner:
    def test_the_gp_finds_his_patient_by_ins_and_sees_a_qualified_identity(self, live_server, page):
        plan = build_territory("87", 1)
        patient = next(p for p in plan_patients(plan) if ("dr.dupont", "attending") in p.care_accounts)
        matricule = patient.identity.ins.matricule.formatted()
        sign_in(page, live_server.url, "dr.dupont")
        page.get_by_role("link", name="Patients").click()
        page.wait_for_url("**/patients")
        page.get_by_label("Matricule INS").fill(matricule)
        page.get_by_role("button", name="Rechercher").click()
        result = page.locator("#resultats").get_by_role("link", name=patient.identity.traits.birth_name.upper())
        result.first.click()
        page.wait_for_url("**/patients/*")
        assert page.get_by_text("Identité qualifiée").first.is_visible()
        assert page.locator(".patient-banner").get_by_text(matricule).is_visible()  # the banner states it
        assert page.get_by_text(matricule, exact=True).is_visible()  # and the identity section
        assert page.get_by_role("heading", name="Consentements et oppositions").is_visible()
