"""Assisted and escorted teleconsultations in the browser, on a demo server of their own (the specialist's ranges
are rewritten here):

- the EHPAD flow: ide.leroy books an assisted consultation (TLS) for a resident, with herself beside the patient;
  from her own browser (fake camera) she records the resident's consent and opens the consultation; dr.martin admits
  them; both pages reach a connected peer connection and decode the other's video (getStats); dr.martin ends and
  signs: the nurse's TLS (10 €) is recorded today beside the TCG;
- the USMP flow: ide.usmp opens the unit's room for today, books it for the detainee (TLL); no link exists for the
  patient (the route that gives one refuses); the nurse opens the patient's side, dr.martin admits, ends, signs; the
  report is addressed to the unit's physician and the nurse reads its PDF."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PdfReader

from maillage.kit.clock import PARIS
from tests.e2e.conftest import LiveServer, signed_in, start_server
from tests.e2e.test_teleconsultation import frames_decoded, media_browser, next_range

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("teleconsultation-assisted")]

__all__ = ["media_browser"]  # the fixture, used by the tests below


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("assisted") / "var")
    yield live
    live.process.terminate()
    live.process.wait(10)


def publish_next_range(doctor: Any, url: str) -> None:
    """dr.martin withdraws her ranges and publishes a one-off range from the next five minutes, 5-minute slots."""
    start, end = next_range()
    doctor.goto(url + "/teleconsultation/disponibilites")
    while doctor.get_by_role("button", name="Retirer").count():
        doctor.get_by_role("button", name="Retirer").first.click()
        doctor.wait_for_load_state()
    doctor.get_by_role("radio", name="Ajout ponctuel").check()
    doctor.get_by_label("Date (ajout ponctuel ou absence)").fill(start.date().isoformat())
    doctor.get_by_label("Début").fill(start.strftime("%H:%M"))
    doctor.get_by_label("Fin", exact=True).fill("24:00" if end.date() != start.date() else end.strftime("%H:%M"))
    doctor.get_by_label("Durée d'un créneau (minutes)").fill("5")
    doctor.get_by_role("button", name="Publier la plage").click()
    doctor.wait_for_load_state()
    assert "1 plage publiée" in doctor.content()


def book_assisted(nurse: Any, url: str, room: str | None = None) -> str:
    """The nurse books the first free slot of dr.martin for her first patient; the patient's name."""
    nurse.goto(url + "/teleconsultation/assistee/reserver")
    nurse.locator("#patient_id").select_option(index=1)
    name = nurse.locator("#patient_id option:checked").inner_text().split(" (")[0]
    nurse.locator("#line_id").select_option(label="Dermatologie : avis sur photographies")
    if room:
        nurse.locator("#place_id").select_option(label=room)
    nurse.get_by_role("button", name="Voir les créneaux libres").click()
    nurse.wait_for_load_state()
    nurse.locator("fieldset", has_text="Martin").locator("input[type=radio]").first.check()
    nurse.get_by_label("Motif de la téléconsultation").fill("Lésion cutanée à examiner")
    nurse.get_by_role("button", name="Réserver ce créneau").click()
    nurse.wait_for_url("**/teleconsultation/rdv/**")
    return name


def consent_and_wait(nurse: Any) -> None:
    nurse.get_by_label("Le patient accepte de réaliser cette consultation par vidéo").check()
    nurse.get_by_role("button", name="Ouvrir la consultation").click()
    nurse.wait_for_selector("#room[data-socket='open']")
    assert "salle d'attente avec le patient" in nurse.locator("#room-message").inner_text()


def admit_and_connect(doctor: Any, nurse: Any, url: str, patient: str) -> None:
    doctor.goto(url + "/teleconsultation")
    admit = doctor.get_by_role("button", name=f"Admettre {patient}")
    admit.wait_for(timeout=15_000)
    admit.click()
    doctor.wait_for_url("**/teleconsultation/rdv/**")
    doctor.wait_for_selector("#room[data-connection='connected']", timeout=30_000)
    nurse.wait_for_selector("#room[data-connection='connected']", timeout=30_000)


def end_and_sign(doctor: Any, nurse: Any, text: str) -> str:
    doctor.get_by_role("button", name="Terminer la consultation").click()
    doctor.wait_for_load_state()
    nurse.wait_for_selector("#room[data-status='done']", timeout=15_000)
    doctor.get_by_label("Compte rendu de la consultation").fill(text)
    doctor.get_by_role("button", name="Signer le compte rendu").click()
    doctor.wait_for_load_state()
    return doctor.locator("section[aria-labelledby='compte-rendu']").inner_text()


class TestAssistedInTheBrowser:
    def test_the_ehpad_nurse_opens_the_consultation_from_her_account_and_tls_is_recorded(
            self, server, media_browser):
        url = server.url
        with signed_in(media_browser, url, "dr.martin") as doctor, \
                signed_in(media_browser, url, "ide.leroy") as nurse:
            publish_next_range(doctor, url)
            patient = book_assisted(nurse, url)
            assert "Sophie Leroy (infirmière, EHPAD) auprès du patient" in nurse.locator("#assistance").inner_text()
            assert "(TLS)" in nurse.locator("#assistance").inner_text()
            assert "/tc/" not in nurse.content(), "the patient has no link"

            consent_and_wait(nurse)
            admit_and_connect(doctor, nurse, url, patient)
            assert frames_decoded(doctor) > 0, "the dermatologist receives the video of the nurse's device"
            assert frames_decoded(nurse) > 0, "the nurse's device receives the dermatologist's video"

            recorded = end_and_sign(doctor, nurse, "Lésion bénigne à l'examen assisté ; surveillance simple.")
            today = dt.datetime.now(PARIS).date().strftime("%d/%m/%Y")
            assert re.search(rf"TLS — 10,00\s€ — {today}", recorded), recorded
            assert "TCG" in recorded

    def test_the_usmp_nurse_books_the_units_room_no_link_exists_and_the_report_goes_to_the_usmp_physician(
            self, server, media_browser):
        url = server.url
        with signed_in(media_browser, url, "dr.martin") as doctor, \
                signed_in(media_browser, url, "ide.usmp") as nurse:
            publish_next_range(doctor, url)
            # The unit opens a room of its own for the test, all day today (the demo's room holds the demo's
            # escorted consultation of the day, whatever the hour the test runs).
            nurse.goto(url + "/teleconsultation/salles")
            nurse.get_by_label("Nom de la salle").fill("Salle d'essai")
            nurse.get_by_role("button", name="Créer la salle").click()
            nurse.wait_for_load_state()
            room = nurse.locator("section", has_text="Salle d'essai").first
            room.get_by_role("radio", name="Ajout ponctuel").check()
            room.get_by_label("Date (ajout ponctuel ou fermeture)").fill(dt.datetime.now(PARIS).date().isoformat())
            room.get_by_label("Heure d'ouverture").fill("00:00")
            room.get_by_label("Heure de fermeture").fill("24:00")
            room.get_by_role("button", name="Ajouter la plage").click()
            nurse.wait_for_load_state()
            label = nurse.locator("h2", has_text="Salle d'essai").first.inner_text()
            unit = nurse.locator("section", has_text=label).locator("p").first.inner_text()

            patient = book_assisted(nurse, url, room=f"{label} — {unit}")
            assert "(TLL)" in nurse.locator("#assistance").inner_text()
            assert nurse.get_by_role("button", name="Donner un nouveau lien au patient").count() == 0
            token = nurse.locator("input[name=csrf_token]").first.input_value()
            refused = nurse.request.post(nurse.url + "/lien", form={"csrf_token": token})
            assert refused.status == 409 and "pas de lien" in refused.text(), "no link can be issued"

            consent_and_wait(nurse)
            admit_and_connect(doctor, nurse, url, patient)
            recorded = end_and_sign(doctor, nurse, "Éruption d'allure eczématiforme : émollients, revoir si besoin.")
            assert "TLL — 12,00" in recorded and "TCG" in recorded
            recipients = doctor.locator("#report-recipients").inner_text()
            assert "Unité sanitaire" in recipients and recipients.startswith("Dr ")

            nurse.goto(doctor.url)
            href = nurse.get_by_role("link", name="Compte rendu (PDF)").get_attribute("href")
            pdf = nurse.request.get(url + href)
            assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
            text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
            assert "Compte rendu adressé aussi à" in text and recipients.split(" (")[0] in text
