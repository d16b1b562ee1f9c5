"""Rescheduling and the report sent to the GP, end to end in the browser, on the demo territory: dr.martin publishes
a one-off range; dr.dupont books its first slot for a patient, then reschedules it to the next slot with a reason and
lands on the new appointment; dr.martin's notices say it was rescheduled; the patient opens the link given before the
rescheduling (it followed), consents and waits; dr.martin admits, ends, signs the report and orders a follow-up; the
page says the report was sent; dr.dupont's notices say the report is addressed to them, the appointment's page opens
the PDF and offers to book the follow-up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from maillage.kit.clock import PARIS
from tests.conftest import CHROMIUM_FLAGS, chromium_path
from tests.e2e.conftest import sign_in, signed_in

pytestmark = pytest.mark.e2e

MEDIA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def media_browser(browser: Any) -> Iterator[Any]:
    media = browser.browser_type.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS + MEDIA_FLAGS
    )
    yield media
    media.close()


def next_range() -> tuple[dt.datetime, dt.datetime]:
    """A one-off range from the next multiple of 5 minutes (Paris), 30 minutes long, within its day."""
    now = dt.datetime.now(PARIS).replace(second=0, microsecond=0)
    start = now + dt.timedelta(minutes=5 - now.minute % 5)
    midnight = dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(), PARIS)
    return start, min(start + dt.timedelta(minutes=30), midnight)


class TestRescheduleAndReportSent:
    def test_gp_reschedules_the_link_follows_the_report_is_sent_to_the_gp_with_a_follow_up(
        self, live_server, page, media_browser
    ):
        url = live_server.url
        start, end = next_range()
        with signed_in(media_browser, url, "dr.martin") as doctor:
            doctor.goto(url + "/teleconsultation/disponibilites")
            while doctor.get_by_role("button", name="Retirer").count():
                doctor.get_by_role("button", name="Retirer").first.click()
                doctor.wait_for_load_state()
            doctor.get_by_role("radio", name="Ajout ponctuel").check()
            doctor.get_by_label("Date (ajout ponctuel ou absence)").fill(start.date().isoformat())
            doctor.get_by_label("Début").fill(start.strftime("%H:%M"))
            doctor.get_by_label("Fin", exact=True).fill(
                "24:00" if end.date() != start.date() else end.strftime("%H:%M")
            )
            doctor.get_by_label("Durée d'un créneau (minutes)").fill("5")
            doctor.get_by_role("button", name="Publier la plage").click()
            doctor.wait_for_load_state()

            # The GP books the first free slot and gets the link, then reschedules to the next slot with a reason.
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
            link = page.locator("#patient-link").input_value()
            page.locator("#starts_at").select_option(index=0)
            page.get_by_label("Motif du report").fill("Le patient sera joignable un peu plus tard")
            page.get_by_role("button", name="Reporter le rendez-vous").click()
            page.wait_for_load_state()
            assert "remplace un rendez-vous reporté" in page.content()
            assert "Nouveau créneau d'un rendez-vous reporté" in page.locator("#historique + ol").inner_text()
            new_appointment = page.url

            # The dermatologist is told.
            doctor.goto(url + "/teleconsultation/avis")
            assert "Une téléconsultation a été reportée" in doctor.locator("main").inner_text()

            # The patient's link followed: it opens the new slot's waiting room.
            patient_context = media_browser.new_context(locale="fr-FR")
            try:
                patient = patient_context.new_page()
                patient.goto(link)
                patient.get_by_label("J'accepte de réaliser cette consultation par vidéo").check()
                patient.get_by_role("button", name="Entrer en salle d'attente").click()
                patient.wait_for_load_state()

                doctor.goto(url + "/teleconsultation")
                admit = doctor.get_by_role("button", name=f"Admettre {patient_name}")
                admit.wait_for(timeout=15_000)
                admit.click()
                doctor.wait_for_url("**/teleconsultation/rdv/**")
                assert doctor.url == new_appointment
                doctor.get_by_role("button", name="Terminer la consultation").click()
                doctor.wait_for_load_state()
                doctor.get_by_label("Compte rendu de la consultation").fill(
                    "Eczéma en nette amélioration sous dermocorticoïde ; poursuite huit jours puis arrêt."
                )
                doctor.get_by_role("button", name="Signer le compte rendu").click()
                doctor.wait_for_load_state()
                assert (
                    "au médecin traitant du patient et au médecin demandeur"
                    in doctor.locator("#report-sent").inner_text()
                )
                doctor.get_by_label("Nouvelle téléconsultation à programmer").check()
                doctor.get_by_label("Précision pour le médecin demandeur").fill("Revoir dans un mois.")
                doctor.get_by_role("button", name="Demander cette suite").click()
                doctor.wait_for_load_state()
                assert "Nouvelle téléconsultation à programmer" in doctor.locator("#follow-up").inner_text()
            finally:
                patient_context.close()

            # The GP's notices: the report addressed to them; the page opens the PDF and offers the follow-up.
            page.goto(url + "/teleconsultation/avis")
            notices = page.locator("main").inner_text()
            assert "Le compte rendu d'une téléconsultation vous est adressé" in notices
            assert "Une suite est demandée après une téléconsultation" in notices
            page.goto(new_appointment)
            href = page.get_by_role("link", name="Compte rendu (PDF)").get_attribute("href")
            pdf = page.request.get(url + href)
            assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
            assert page.get_by_role("link", name="Réserver la téléconsultation de suivi").count() == 1
