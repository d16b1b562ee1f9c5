"""Pages of teleconsultation in French: availability, booking (the link shown once), the appointment page and its
steps, the day view; each with its authorization triplet."""

from __future__ import annotations

import datetime as dt
import html
import re

from maillage.kit.clock import frozen
from tests.fixtures.factories import make_user
from tests.fixtures.teleconsultation import MONDAY_9H, book, clinic
from tests.fixtures.web import assert_triplet, csrf_token, sign_in

HTML = {"accept": "text/html"}


def body(response) -> str:
    return html.unescape(response.text)


def post_form(client, url, data=None):
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, headers=HTML,
                       follow_redirects=False)


class TestAvailability:
    def test_the_specialist_publishes_and_withdraws_ranges_with_french_errors(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            db.commit()
            sign_in(client, db, c.specialist)
            page = body(client.get("/teleconsultation/disponibilites", headers=HTML))
            assert "1 plage publiée" in page and "Chaque lundi" in page and "10:00 – 12:00" in page
            bad = post_form(client, "/teleconsultation/disponibilites", {
                "kind": "weekly", "weekday": "1", "start": "11:00", "end": "10:00", "slot_minutes": "20",
                "line_id": str(c.line.id)})
            assert bad.status_code == 422 and "L'heure de fin doit suivre l'heure de début" in body(bad)
            added = post_form(client, "/teleconsultation/disponibilites", {
                "kind": "absence", "day": "2026-03-02", "start": "10:00", "end": "24:00"})
            assert added.status_code == 303
            page = body(client.get("/teleconsultation/disponibilites", headers=HTML))
            assert "2 plages publiées" in page and "Absence" in page
            range_id = re.findall(r"/teleconsultation/disponibilites/([0-9a-f-]{36})/retirer", page)[-1]
            assert post_form(client, f"/teleconsultation/disponibilites/{range_id}/retirer").status_code == 303
            assert "1 plage publiée" in body(client.get("/teleconsultation/disponibilites", headers=HTML))


class TestBooking:
    def test_the_gp_sees_free_slots_books_one_and_gets_the_link_once(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            db.commit()
            sign_in(client, db, c.gp)
            page = body(client.get(f"/teleconsultation/reserver?patient_id={c.patient_id}&line_id={c.line.id}",
                                   headers=HTML))
            assert "02/03/2026 à 10:00 (20 min, à distance)" in page
            slot = re.search(r'name="slot" value="([^"]+)"', page).group(1)
            created = post_form(client, "/teleconsultation/reserver", {
                "patient_id": str(c.patient_id), "line_id": str(c.line.id), "slot": slot,
                "reason": "Contrôle d'un eczéma"})
            assert created.status_code == 201 and "Rendez-vous réservé" in body(created)
            link = re.search(r'id="patient-link" readonly value="([^"]+)"', created.text).group(1)
            assert "/tc/mlg_tc_" in link
            again = post_form(client, "/teleconsultation/reserver", {
                "patient_id": str(c.patient_id), "line_id": str(c.line.id), "slot": slot})
            assert again.status_code == 409 and "plus libre" in body(again)
            home = body(client.get("/teleconsultation", headers=HTML))
            assert "1 rendez-vous à venir" in home and "Contrôle" not in home
            appt_url = re.search(r'href="(/teleconsultation/rdv/[0-9a-f-]{36})"', home).group(1)
            detail = body(client.get(appt_url, headers=HTML))
            assert "Contrôle d'un eczéma" in detail and "Patient pas encore arrivé" in detail
            assert "mlg_tc_" not in detail, "the link is shown once"
            renewed = post_form(client, f"{appt_url}/lien")
            assert renewed.status_code == 200 and "/tc/mlg_tc_" in renewed.text and link not in renewed.text

    def test_the_specialist_day_lists_it_and_cancels_with_a_reason(self, client, db):
        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            appt = book(db, c).appointment
            db.commit()
            clock.advance(dt.timedelta(minutes=5))
            sign_in(client, db, c.specialist)
            day = body(client.get("/teleconsultation", headers=HTML))
            assert "1 rendez-vous aujourd'hui" in day and "10:00" in day
            refused = post_form(client, f"/teleconsultation/rdv/{appt.id}/annuler", {"reason": ""})
            assert refused.status_code == 422 and "Indiquez un motif pour annuler" in body(refused)
            done = post_form(client, f"/teleconsultation/rdv/{appt.id}/annuler", {"reason": "Absente ce jour-là"})
            assert done.status_code == 303
            assert "Annulée" in body(client.get(f"/teleconsultation/rdv/{appt.id}", headers=HTML))

    def test_the_appointment_page_has_its_triplet(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            db.commit()
            assert_triplet(client, db, "GET", f"/teleconsultation/rdv/{appt.id}",
                           wrong_role_user=make_user(db, "analyst"), outsider_user=c.colleague, page=True)
            assert_triplet(client, db, "GET", f"/api/teleconsultation/appointments/{appt.id}",
                           wrong_role_user=make_user(db, "analyst"), outsider_user=c.outsider)


class TestFromTheRequestPage:
    def test_the_request_page_offers_the_booking_and_then_shows_it(self, client, db):
        from tests.teleconsultation.test_booking import opinion

        with frozen(MONDAY_9H):
            c = clinic(db)
            req = opinion(db, c)
            db.commit()
            sign_in(client, db, c.gp)
            page = body(client.get(f"/teleexpertise/demandes/{req.id}", headers=HTML))
            link = f"/teleconsultation/reserver?patient_id={c.patient_id}&line_id={c.line.id}&demande={req.id}"
            assert f'href="{link}"' in page and "Réserver la téléconsultation" in page
            offered = body(client.get(link, headers=HTML))
            assert "rattaché à la demande" in offered
            slot = re.search(r'name="slot" value="([^"]+)"', offered).group(1)
            created = post_form(client, "/teleconsultation/reserver", {
                "patient_id": str(c.patient_id), "line_id": str(c.line.id), "slot": slot, "demande": str(req.id)})
            assert created.status_code == 201 and "Avis de téléexpertise" in body(created)
            page = body(client.get(f"/teleexpertise/demandes/{req.id}", headers=HTML))
            assert "Téléconsultation du 02/03/2026 10:00 : <strong>réservée" in page
            assert "Réserver la téléconsultation" not in page
