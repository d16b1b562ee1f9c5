"""The MSSanté reception inbox end to end in the browser, on the demo: a letter from an outside hospital arrived
without INS; the identity officer (idv.fournier) follows the home page's item, opens the message, checks the
candidate record proposed from the declared identity and files the document to it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import signed_in

pytestmark = pytest.mark.e2e
WAIT_MS = 30_000


class TestReceptionInTheBrowser:
    def test_the_identity_officer_matches_the_received_letter_to_a_patient(self, live_server, browser):
        url = live_server.url
        with signed_in(browser, url, "idv.fournier") as page:
            page.goto(url + "/")
            item = page.get_by_role("link", name="document reçu par MSSanté à rattacher")
            item.wait_for(timeout=WAIT_MS)
            item.click()
            page.wait_for_url(url + "/mssante/reception", timeout=WAIT_MS)
            page.get_by_role("link", name="Compte rendu de consultation").click()
            page.get_by_role("heading", name="Rattacher à un patient").wait_for(timeout=WAIT_MS)
            assert "Le message ne porte pas d'INS" in page.inner_text("main")
            page.get_by_role("button", name="Rattacher à ce patient").first.click()
            page.get_by_text("Document rattaché au dossier du patient.").wait_for(timeout=WAIT_MS)
            assert "Aucun message en attente" in page.inner_text("main")
