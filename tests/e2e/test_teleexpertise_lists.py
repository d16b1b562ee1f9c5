"""Tele-expertise lists and buttons in the browser, on the demo territory: dr.dupont (GP) sends a request and finds it
in "Mes demandes" with the patient and the specialty; dr.martin (dermatologist) takes it, sees the patient banner and a
single primary button, and refusing asks for a confirmation with a reason before anything is written."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import sign_in, signed_in
from tests.e2e.test_teleexpertise import photo_file

pytestmark = pytest.mark.e2e

LINE = "Dermatologie : avis sur photographies"


class TestTeleexpertiseListsAndButtons:
    def test_the_gp_s_list_says_who_and_what_and_the_specialist_confirms_a_refusal(self, live_server, page, browser,
                                                                                 tmp_path):
        url = live_server.url
        sign_in(page, url, "dr.dupont")
        page.goto(url + "/teleexpertise/nouvelle")
        patient = page.locator("#patient_id")
        patient.select_option(index=1)
        chosen = patient.locator("option:checked").inner_text()
        name = chosen.rsplit(" (", 1)[0].strip()
        page.locator("#line_id").select_option(label=LINE)
        page.get_by_label("Question posée au spécialiste").fill("Naevus du bras modifié depuis l'été : avis ?")
        page.get_by_role("button", name="Créer le brouillon").click()
        page.wait_for_url("**/teleexpertise/demandes/**")
        request_url = page.url
        # The GP's page: the banner, one primary action (send), attach as secondary, cancel folded and confirmed.
        assert page.locator(".patient-banner").inner_text().startswith(name)
        assert page.locator("button.primary:visible").count() == 1
        assert page.get_by_role("button", name="Confirmer l'annulation").is_hidden()
        page.locator("#file").set_input_files(str(photo_file(tmp_path)))
        page.get_by_role("button", name="Joindre").click()
        page.wait_for_load_state()
        page.get_by_label("J'atteste avoir informé le patient").check()
        page.get_by_role("button", name="Envoyer la demande").click()
        page.wait_for_load_state()

        # "Mes demandes": the row of this request names the patient and the specialty.
        page.goto(url + "/teleexpertise")
        row = page.locator("table.requests tbody tr", has=page.locator(f"a[href$='{request_url.rsplit('/', 1)[1]}']"))
        text = row.inner_text()
        assert name in text and LINE in text and "En attente d'un spécialiste" in text

        with signed_in(browser, url, "dr.martin") as expert:
            expert.goto(request_url)
            expert.get_by_role("button", name="Prendre en charge").click()
            expert.wait_for_load_state()
            banner = expert.locator(".patient-banner").inner_text()
            assert name in banner and ("Née le" in banner or "Né le" in banner) and " ans" in banner
            primaries = expert.locator("button.primary:visible")
            assert primaries.count() == 1 and primaries.inner_text() == "Signer et rendre l'avis"

            # Refusing: the confirmation is folded away until asked for, and needs a reason.
            confirm = expert.get_by_role("button", name="Confirmer le refus")
            assert confirm.is_hidden()
            expert.get_by_text("Refuser la demande…").click()
            assert confirm.is_visible()
            expert.get_by_label("Motif du refus (visible du requérant)").fill("Lésion hors champ de la ligne.")
            confirm.click()
            expert.wait_for_load_state()
            assert "Refusée" in expert.locator("main").inner_text()
