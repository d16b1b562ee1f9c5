"""The programme's main flow in a real browser, on the demo: the programme manager creates a project with a budget
line and a target bound to an indicator of the catalogue; the GHT direction's account sees the progress on the
board, filters the activity by partner type, opens a chart's data table and downloads the evaluation report, whose
text holds the indicator and its target."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.e2e.conftest import signed_in

pytestmark = pytest.mark.e2e
LABEL = "Avis rendus aux EHPAD du territoire"


class TestProgrammeOnTheDemo:
    def test_manager_sets_a_target_and_the_direction_reads_it_and_downloads_the_report(self, live_server, browser):
        url = live_server.url
        with signed_in(browser, url, "programme.girard") as page:
            page.get_by_role("link", name="Programme", exact=True).first.click()
            page.wait_for_url("**/programme")
            page.get_by_role("link", name="Nouveau projet dans cet axe").first.click()
            page.get_by_label("Intitulé du projet").fill("Téléexpertise dermatologique en EHPAD")
            page.get_by_label("Responsable").fill("Dr Claire Martin")
            page.get_by_label("Début").fill("2026-01-01")
            page.get_by_label("Fin").fill("2027-12-31")
            page.get_by_role("button", name="Enregistrer le projet").click()
            page.wait_for_url("**/programme/projets/**")
            assert "Le projet a été enregistré." in page.locator("main").inner_text()

            page.get_by_label("Prévu (€)").fill("35 000")
            page.get_by_label("Engagé (€)").fill("20 000,50")
            page.get_by_label("Payé (€)").fill("5 000")
            page.get_by_role("button", name="Enregistrer le budget").click()
            page.wait_for_load_state()
            assert "20\u202f000,50\u00a0€" in page.locator("main").inner_text()

            page.locator("#i-label").fill(LABEL)
            page.get_by_label("Unité").fill("avis")
            page.get_by_label("Indicateur du catalogue").select_option("teleexpertise-reponses:repondues")
            page.locator("#i-target").fill("125")
            page.get_by_role("button", name="Ajouter l'indicateur").click()
            page.wait_for_load_state()
            main = page.locator("main").inner_text()
            assert "L'indicateur a été ajouté." in main and LABEL in main and "Ligne budgétaire" in main

        with signed_in(browser, url, "direction.lambert") as page:
            assert "projets du programme numérique" in page.locator("main").inner_text()
            page.goto(url + "/programme?annee=2026")
            board = page.get_by_role("img", name="Part de la cible 2026 atteinte, par indicateur")
            assert board.is_visible()
            assert page.get_by_role("link", name="Nouveau projet dans cet axe").count() == 0  # reads only
            page.get_by_text("Voir les données").first.click()
            row = page.locator("tr", has_text=LABEL)
            assert row.is_visible() and "125" in row.inner_text()

            page.goto(url + "/pilotage/activite?annee=2026")
            page.get_by_label("Type de partenaire", exact=True).select_option(label="EHPAD")
            page.get_by_role("button", name="Filtrer").click()
            page.wait_for_load_state()
            assert "EHPAD" in page.locator("h2, caption").first.inner_text() or "EHPAD" in page.locator(
                "main").inner_text()
            page.get_by_text("Voir les données").first.click()
            assert page.locator("details[open] table").first.is_visible()

            page.goto(url + "/programme?annee=2026")
            with page.expect_download() as info:
                page.get_by_role("link", name="Rapport d'évaluation 2026 (PDF)").click()
            content = Path(info.value.path()).read_bytes()
            text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
            assert LABEL in text and "125" in text
