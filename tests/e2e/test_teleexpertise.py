"""Tele-expertise end to end in the browser, on the demo territory: dr.dupont (GP) sends a request with a photo to
the dermatology line; dr.martin (dermatologist) claims it and asks a question; the GP replies; the dermatologist
answers with an urgent transfer; the GP reads the opinion, downloads the PDF report, sees the admission request and
the acts recorded at today's tariffs (TE2 23 €, RQD 10 €, DOMAIN.md §2.3); the dermatologist accepts the admission
with a date on the line's admissions page and the GP follows it on the request."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from maillage.kit.clock import today_paris
from tests.e2e.conftest import sign_in, signed_in

pytestmark = pytest.mark.e2e


def photo_file(folder: Path) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (180, 110, 90)).save(out, format="JPEG", quality=85)
    path = folder / "lesion.jpg"
    path.write_bytes(out.getvalue())
    return path


class TestTeleexpertiseInTheBrowser:
    def test_gp_request_with_photo_to_dermatology_answered_with_a_transfer(self, live_server, page, browser,
                                                                           tmp_path):
        url = live_server.url
        # The GP drafts the request, attaches a photo and sends it, attesting the patient's consent.
        sign_in(page, url, "dr.dupont")
        page.goto(url + "/teleexpertise/nouvelle")
        page.locator("#patient_id").select_option(index=1)
        page.locator("#line_id").select_option(label="Dermatologie : avis sur photographies")
        page.get_by_label("Question posée au spécialiste").fill("Lésion pigmentée du dos, bords irréguliers : avis ?")
        page.get_by_role("button", name="Créer le brouillon").click()
        page.wait_for_url("**/teleexpertise/demandes/**")
        request_url = page.url
        page.locator("#file").set_input_files(str(photo_file(tmp_path)))
        page.get_by_role("button", name="Joindre").click()
        page.wait_for_load_state()
        assert page.locator("img[alt='lesion.jpg']").count() == 1
        page.get_by_label("J'atteste avoir informé le patient").check()
        page.get_by_role("button", name="Envoyer la demande").click()
        page.wait_for_load_state()
        assert "En attente d'un spécialiste" in page.content()

        # The dermatologist claims it and asks a question.
        with signed_in(browser, url, "dr.martin") as expert:
            expert.goto(request_url)
            expert.get_by_role("button", name="Prendre en charge").click()
            expert.wait_for_load_state()
            expert.get_by_label("Demander un complément au requérant").fill("Depuis quand la lésion a-t-elle changé ?")
            expert.get_by_role("button", name="Demander un complément").click()
            expert.wait_for_load_state()

            # The GP replies.
            page.goto(request_url)
            page.get_by_label("Votre réponse au spécialiste").fill("Depuis environ deux mois.")
            page.get_by_role("button", name="Répondre").click()
            page.wait_for_load_state()

            # The dermatologist signs an urgent transfer.
            expert.goto(request_url)
            expert.get_by_label("Avis", exact=True).fill("Suspicion de mélanome : transfert en dermatologie.")
            expert.locator("#orientation").select_option("urgent_transfer")
            expert.get_by_role("button", name="Signer et rendre l'avis").click()
            expert.wait_for_load_state()

        # The GP reads the opinion, the admission request and the acts at today's tariffs.
        page.goto(request_url)
        text = page.locator("main").inner_text() if page.locator("main").count() else page.content()
        today = today_paris().strftime("%d/%m/%Y")
        assert "Suspicion de mélanome" in text and "Transfert urgent" in text
        assert "Demande d'admission" in text and "demandée" in text
        assert f"TE2 — 23,00\u202f€ — {today} — facturable" in text or f"TE2 — 23,00 € — {today} — facturable" in text
        assert f"RQD — 10,00\u202f€ — {today} — facturable" in text or f"RQD — 10,00 € — {today} — facturable" in text

        # The GP downloads the compte rendu from the link on the request page (same session cookie).
        href = page.get_by_role("link", name="Compte rendu (PDF)").get_attribute("href")
        assert href is not None
        answer = page.request.get(url + href)
        assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
        report = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.body())).pages)
        report = " ".join(report.split())
        assert "Suspicion de mélanome" in report and "Transfert urgent" in report
        assert "Depuis quand la lésion a-t-elle changé ?" in report
        assert "23,00 €" in report.replace("\u202f", " ")

        # The dermatologist accepts the admission with a date on the line's admissions page...
        planned = today_paris() + dt.timedelta(days=2)
        with signed_in(browser, url, "dr.martin") as expert:
            expert.goto(request_url)
            expert.get_by_role("link", name="Suivre les admissions de la ligne").click()
            expert.wait_for_url("**/admissions")
            card = expert.locator("li.card", has=expert.locator(f"a[href$='{request_url.rsplit('/', 1)[1]}']"))
            card.get_by_label("Date d'admission prévue").fill(planned.isoformat())
            card.get_by_label("Heure").fill("10:30")
            card.get_by_role("button", name="Accepter").click()
            expert.wait_for_load_state()

        # ...and the GP follows it on the request page.
        page.goto(request_url)
        admission = page.locator("#admission").inner_text()
        assert "acceptée" in admission.lower()
        assert f"{planned.strftime('%d/%m/%Y')} à 10:30" in admission or planned.strftime("%d/%m/%Y") in admission
