"""Teleconsultation end to end in the browser, on the demo territory: dr.martin (dermatologist) publishes a one-off
range; dr.dupont (GP) books its first slot for one of their patients and gets the patient's link; the patient opens
it in a browser of their own, consents and waits; the dermatologist's day shows them waiting (live) and admits them;
both pages reach a connected RTCPeerConnection and each receives video frames (getStats: framesDecoded > 0, from
Chromium's fake camera); the dermatologist invites an interpreter by a one-time link: the interpreter, in a third
browser, consents, the patient accepts their presence in the room, and the three peers connect (the interpreter
receives the video of both others); the dermatologist ends the consultation (the patient's page says so), writes and
signs the report: TCG 25 € recorded today, with the connection's quality figures, and the GP reads the PDF."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PdfReader

from maillage.kit.clock import PARIS
from tests.conftest import CHROMIUM_FLAGS, chromium_path
from tests.e2e.conftest import sign_in, signed_in

pytestmark = pytest.mark.e2e

MEDIA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

FRAMES = """async () => {
  const room = window.maillageRoom; const pc = room && room.peer();
  if (!pc) { return 0; }
  const stats = await pc.getStats(); let frames = 0;
  stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") { frames += r.framesDecoded || 0; } });
  return frames;
}"""


@pytest.fixture(scope="module")
def media_browser(browser: Any) -> Iterator[Any]:
    """A Chromium whose camera and microphone are the fake devices (a test pattern and a beep), allowed at once;
    launched by the session's Playwright (one per process)."""
    media = browser.browser_type.launch(executable_path=chromium_path(), headless=True,
                                        args=CHROMIUM_FLAGS + MEDIA_FLAGS)
    yield media
    media.close()


FRAMES_EACH = """async () => {
  const room = window.maillageRoom; const peers = room ? room.peers() : [];
  const counts = [];
  for (const pc of peers) {
    const stats = await pc.getStats(); let frames = 0;
    stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") { frames += r.framesDecoded || 0; } });
    counts.push(frames);
  }
  return counts;
}"""


def frames_from_each(page: Any, peers: int, within: float = 30.0) -> list[int]:
    """The video frames decoded from each peer, once ``peers`` peers each gave some (or the last counts)."""
    deadline = time.monotonic() + within
    counts: list[int] = []
    while time.monotonic() < deadline:
        counts = list(page.evaluate(FRAMES_EACH))
        if len(counts) >= peers and all(n > 0 for n in counts):
            return counts
        time.sleep(0.5)
    return counts


def frames_decoded(page: Any, within: float = 30.0) -> int:
    deadline = time.monotonic() + within
    frames = 0
    while time.monotonic() < deadline:
        frames = int(page.evaluate(FRAMES))
        if frames > 0:
            return frames
        time.sleep(0.5)
    return frames


def next_range() -> tuple[dt.datetime, dt.datetime]:
    """A one-off range starting at the next multiple of 5 minutes (Paris), 30 minutes long, within its day."""
    now = dt.datetime.now(PARIS).replace(second=0, microsecond=0)
    start = now + dt.timedelta(minutes=5 - now.minute % 5)
    midnight = dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(), PARIS)
    return start, min(start + dt.timedelta(minutes=30), midnight)


class TestTeleconsultationInTheBrowser:
    def test_gp_books_the_patient_joins_by_link_the_specialist_admits_and_both_see_video(
            self, live_server, page, media_browser):
        url = live_server.url
        start, end = next_range()
        with signed_in(media_browser, url, "dr.martin") as doctor:
            # The dermatologist withdraws the demo's weekly ranges and publishes a one-off range from the next five
            # minutes.
            doctor.goto(url + "/teleconsultation/disponibilites")
            while doctor.get_by_role("button", name="Retirer").count():
                doctor.get_by_role("button", name="Retirer").first.click()
                doctor.wait_for_load_state()
            doctor.get_by_role("radio", name="Ajout ponctuel").check()
            doctor.get_by_label("Date (ajout ponctuel ou absence)").fill(start.date().isoformat())
            doctor.get_by_label("Début").fill(start.strftime("%H:%M"))
            end_text = "24:00" if end.date() != start.date() else end.strftime("%H:%M")
            doctor.get_by_label("Fin", exact=True).fill(end_text)
            doctor.get_by_label("Durée d'un créneau (minutes)").fill("5")
            doctor.get_by_role("button", name="Publier la plage").click()
            doctor.wait_for_load_state()
            assert "1 plage publiée" in doctor.content()

            # The GP books the first free slot for one of their patients and gets the patient's link, once.
            sign_in(page, url, "dr.dupont")
            page.goto(url + "/teleconsultation/reserver")
            page.locator("#patient_id").select_option(index=1)
            patient_name = page.locator("#patient_id option:checked").inner_text().split(" (")[0]
            page.locator("#line_id").select_option(label="Dermatologie : avis sur photographies")
            page.get_by_role("button", name="Voir les créneaux libres").click()
            page.wait_for_load_state()
            page.locator("fieldset", has_text="Martin").locator("input[type=radio]").first.check()
            page.get_by_label("Motif de la téléconsultation").fill("Contrôle d'un eczéma traité")
            page.get_by_role("button", name="Réserver ce créneau").click()
            page.wait_for_load_state()
            assert "Rendez-vous réservé" in page.content()
            link = page.locator("#patient-link").input_value()
            assert "/tc/mlg_tc_" in link

            # The dermatologist's day, live: the patient is not there yet.
            doctor.goto(url + "/teleconsultation")
            doctor.wait_for_selector("#day[data-live='on']")
            assert "Patient pas encore arrivé" in doctor.locator("#day").inner_text()

            # The patient, in a browser of their own, opens the link, consents and waits.
            patient_context = media_browser.new_context(locale="fr-FR")
            try:
                patient = patient_context.new_page()
                patient.goto(link)
                assert "J'accepte de réaliser cette consultation par vidéo" in patient.content()
                patient.get_by_label("J'accepte de réaliser cette consultation par vidéo").check()
                patient.get_by_role("button", name="Entrer en salle d'attente").click()
                patient.wait_for_selector("#room[data-socket='open']")
                assert "Vous êtes en salle d'attente" in patient.locator("#room-message").inner_text()

                # The day shows them waiting without a reload; the dermatologist admits them.
                admit = doctor.get_by_role("button", name=f"Admettre {patient_name}")
                admit.wait_for(timeout=15_000)
                assert "En salle d'attente" in doctor.locator("#day").inner_text()
                admit.click()
                doctor.wait_for_url("**/teleconsultation/rdv/**")

                # Both reach a connected peer connection and decode the other's video.
                doctor.wait_for_selector("#room[data-connection='connected']", timeout=30_000)
                patient.wait_for_selector("#room[data-connection='connected']", timeout=30_000)
                assert frames_decoded(doctor) > 0, "the dermatologist receives the patient's video"
                assert frames_decoded(patient) > 0, "the patient receives the dermatologist's video"
                assert "Vous êtes en consultation" in patient.locator("#room-message").inner_text()

                # The dermatologist invites an interpreter by a one-time link, without leaving the room.
                doctor.get_by_label("À quel titre").select_option("interpreter")
                doctor.get_by_role("button", name="Inviter").click()
                guest_link = doctor.locator("#guest-link")
                guest_link.wait_for(timeout=15_000)
                assert "/tc/invite/mlg_tg_" in guest_link.input_value()
                guest_context = media_browser.new_context(locale="fr-FR")
                try:
                    guest = guest_context.new_page()
                    guest.goto(guest_link.input_value())
                    assert "interprète" in guest.content() and patient_name not in guest.content()
                    guest.get_by_label("J'accepte de participer à cette consultation").check()
                    guest.get_by_role("button", name="Rejoindre la consultation").click()
                    guest.wait_for_selector("#room[data-guest='asking']", timeout=15_000)

                    # The patient is asked in the room, and accepts; the three peers connect.
                    accept = patient.get_by_role("button", name="Accepter sa présence")
                    accept.wait_for(timeout=15_000)
                    assert "un ou une interprète" in patient.locator("#third-party").inner_text()
                    accept.click()
                    guest.wait_for_selector("#room[data-peers='2']", timeout=30_000)
                    assert all(n > 0 for n in frames_from_each(guest, 2)), "the interpreter sees both others"
                    doctor.wait_for_selector("#room[data-peers='2']", timeout=30_000)
                    assert len(frames_from_each(doctor, 2)) == 2
                    time.sleep(6)  # a quality sample (every five seconds) reaches the server
                finally:
                    guest_context.close()

                # The dermatologist ends the consultation; the patient's page says so.
                doctor.get_by_role("button", name="Terminer la consultation").click()
                doctor.wait_for_load_state()
                assert "Terminée" in doctor.locator("#appointment-status").inner_text()
                patient.wait_for_selector("#room[data-status='done']", timeout=15_000)
                assert "La consultation est terminée" in patient.locator("#room-message").inner_text()

                # The dermatologist writes and signs the report: a PDF in the patient's file, TCG recorded today.
                doctor.get_by_label("Compte rendu de la consultation").fill(
                    "Eczéma en nette amélioration sous dermocorticoïde ; poursuite huit jours puis arrêt.")
                doctor.get_by_label("Actes et prescriptions").fill("Émollient matin et soir.")
                doctor.get_by_role("button", name="Signer le compte rendu").click()
                doctor.wait_for_load_state()
                today = dt.datetime.now(PARIS).date().strftime("%d/%m/%Y")
                recorded = doctor.locator("section[aria-labelledby='compte-rendu']").inner_text()
                assert "TCG" in recorded and "25,00" in recorded and today in recorded
                figures = doctor.locator("section[aria-labelledby='qualite']").inner_text()
                assert "mesure" in figures and "Temps aller-retour" in figures

                # The GP reads the PDF from the appointment's page.
                page.goto(doctor.url)
                href = page.get_by_role("link", name="Compte rendu (PDF)").get_attribute("href")
                pdf = page.request.get(url + href)
                assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
                text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
                assert "Compte rendu de téléconsultation" in text and "Eczéma en nette amélioration" in text

                # The link opened once: opening it again opens nothing.
                again = patient_context.new_page()
                again.goto(link)
                assert "déjà été ouvert" in again.content()
            finally:
                patient_context.close()
