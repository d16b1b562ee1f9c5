"""Patient documents end to end in the browser, on the demo territory: the GP (dr.dupont) opens a patient's
documents from the patient's record, opens the discharge summary (already in its second version), uploads a third
version, and sees it inline: the PDF comes from a sandboxed response (Content-Security-Policy: sandbox, no script)
inside the page's frame; a physician of the territory without a relationship with that patient gets 404 on the
document and on its content."""

from __future__ import annotations

import re
from typing import Any

import pytest

from maillage.demo.documents import demo_pdf
from tests.e2e.conftest import signed_in
from tests.e2e.test_messaging import OUTSIDER, create_outsider

pytestmark = pytest.mark.e2e

DISCHARGE = "Compte rendu d'hospitalisation — cardiologie"


def patient_with_documents(page: Any, url: str) -> str:
    """The GP's demo patient whose record holds the discharge summary (pages show no identifiers: read the API)."""
    for patient in page.request.get(f"{url}/api/patients/mine").json():
        docs = page.request.get(f"{url}/api/patients/{patient['id']}/documents").json()["items"]
        if any(d["type_code"] == "18842-5" for d in docs):
            return str(patient["id"])
    raise AssertionError("no demo patient of dr.dupont has the discharge summary")


class TestDocumentsInTheBrowser:
    def test_gp_opens_the_documents_uploads_a_new_version_views_the_pdf_and_an_outsider_gets_404(
            self, live_server, browser, tmp_path):
        url = live_server.url
        create_outsider(live_server)
        new_file = tmp_path / "compte-rendu-v3.pdf"
        new_file.write_bytes(demo_pdf(DISCHARGE, ("Kaliémie de contrôle normale.",), version=3))
        with signed_in(browser, url, "dr.dupont") as gp:
            patient_id = patient_with_documents(gp, url)
            gp.goto(f"{url}/patients/{patient_id}")
            gp.get_by_role("link", name="Documents du patient").click()
            gp.wait_for_url(re.compile(r"/patients/[0-9a-f-]{36}/documents$"))
            assert "patient-banner" in gp.content()
            table = gp.locator("table.documents")
            assert "Ordonnance de sortie" in table.inner_text()
            table.get_by_role("link", name=DISCHARGE).click()
            gp.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}$"))
            assert "Version 2" in gp.inner_text("main") and "Version 1" in gp.inner_text("main")

            gp.set_input_files("#v-file", str(new_file))
            gp.get_by_role("button", name="Déposer la nouvelle version").click()
            gp.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}\?info=version$"))
            assert "Nouvelle version déposée" in gp.inner_text("main")
            assert "Version 3" in gp.inner_text("main")
            document_url = gp.url.split("?")[0]
            with gp.expect_response(lambda r: r.url == document_url + "/contenu", timeout=30_000) as viewed:
                gp.goto(document_url)

            # The page's frame asked for the content (headless Chromium hands a PDF to its viewer, whose response
            # object carries no headers: read them again through the same signed-in context).
            assert viewed.value.url == document_url + "/contenu"
            response = gp.request.get(document_url + "/contenu")
            assert response.status == 200
            headers = response.headers
            assert headers["content-type"] == "application/pdf"
            assert headers["content-disposition"].startswith("inline;")
            assert "sandbox" in headers["content-security-policy"]
            assert "script-src" not in headers["content-security-policy"]
            assert response.body().startswith(b"%PDF")
            frame = gp.locator("iframe.document-viewer")
            assert frame.get_attribute("src") == document_url.removeprefix(url) + "/contenu"

        with signed_in(browser, url, OUTSIDER) as outsider:
            answer = outsider.goto(document_url)
            assert answer is not None and answer.status == 404
            assert DISCHARGE not in outsider.inner_text("body")
            content = outsider.request.get(f"{document_url}/contenu")
            assert content.status == 404
