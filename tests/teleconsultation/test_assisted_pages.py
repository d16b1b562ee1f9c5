"""Assisted and escorted teleconsultations through the application: booking with a nurse (pages and JSON), the
appointment page of the nurse (consent recorded for the patient, then the room on the patient's side), no patient
link (the "new link" route refuses), the USMP's rooms and their ranges, the signalling WebSocket admitting the nurse
on the patient's side; each route with its authorization triplet."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from maillage.kit.clock import frozen
from maillage.models.audit import AuditEntry
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationLink
from maillage.security.deps import SESSION_COOKIE
from tests.fixtures.assisted import assisted_clinic, book_assisted
from tests.fixtures.factories import make_user
from tests.fixtures.teleconsultation import FIRST_SLOT, MONDAY_9H, book
from tests.fixtures.web import assert_triplet, csrf_token, sign_in

HTML = {"accept": "text/html"}
ORIGIN = {"origin": "http://testserver"}


def body(response: Any) -> str:
    return html.unescape(response.text)


def post_form(client: Any, url: str, data: dict[str, str] | None = None) -> Any:
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, headers=HTML,
                       follow_redirects=False)


def post_json(client: Any, url: str, json: Any) -> Any:
    return client.post(url, json=json, headers={"x-csrf-token": csrf_token(client), "accept": "application/json"})


def receive_until(ws: Any, kind: str) -> dict[str, Any]:
    for _ in range(20):
        message = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


class TestBookingPage:
    def test_the_gp_books_an_assisted_consultation_with_the_ehpad_nurse(self, client, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            db.commit()
            sign_in(client, db, w.c.gp)
            page = body(client.get(f"/teleconsultation/assistee/reserver?patient_id={w.c.patient_id}"
                                   f"&line_id={w.c.line.id}", headers=HTML))
            assert "Sophie Infirmière" in page and "Karim Infirmier" in page
            assert "Pendant un soin infirmier déjà prévu (TLS)" in page
            slot = re.search(r'name="slot" value="([^"]+)"', page).group(1)
            missing = post_form(client, "/teleconsultation/assistee/reserver", {
                "patient_id": str(w.c.patient_id), "line_id": str(w.c.line.id), "slot": slot,
                "nurse_id": str(w.ehpad_nurse.id)})
            assert missing.status_code == 422 and "type d'accompagnement" in body(missing)
            created = post_form(client, "/teleconsultation/assistee/reserver", {
                "patient_id": str(w.c.patient_id), "line_id": str(w.c.line.id), "slot": slot,
                "nurse_id": str(w.ehpad_nurse.id), "assistance": "TLS", "reason": "Plaie du talon"})
            assert created.status_code == 303
            page = body(client.get(created.headers["location"], headers=HTML))
            assert "Sophie Infirmière auprès du patient · Pendant un soin infirmier déjà prévu (TLS)" in page
            assert "Donner un nouveau lien au patient" not in page
            appt_id = created.headers["location"].rsplit("/", 1)[1]
            refused = post_form(client, f"/teleconsultation/rdv/{appt_id}/lien")
            assert refused.status_code == 409 and "le patient n'a pas de lien" in body(refused)
            assert db.scalar(select(TeleconsultationLink).limit(1)) is None

    def test_the_booking_page_and_its_post_triplet(self, client, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            analyst = make_user(db, "analyst")
            db.commit()
            assert_triplet(client, db, "GET", "/teleconsultation/assistee/reserver", wrong_role_user=analyst,
                           outsider_user=None, page=True)
            sign_in(client, db, w.c.outsider)
            response = post_form(client, "/teleconsultation/assistee/reserver", {
                "patient_id": str(w.c.patient_id), "line_id": str(w.c.line.id), "assistance": "TLS",
                "nurse_id": str(w.ehpad_nurse.id),
                "slot": f"{w.c.specialist.id}|{FIRST_SLOT.isoformat()}"})
            assert response.status_code == 404, "a patient one does not care for is not found"
            assert db.scalar(select(TeleconsultationAppointment).limit(1)) is None


class TestNurseOnTheAppointment:
    def test_the_nurse_records_the_consent_then_sees_the_room_on_the_patients_side(self, client, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            db.commit()
            sign_in(client, db, w.ehpad_nurse)
            home = body(client.get("/teleconsultation", headers=HTML))
            assert "Téléconsultations où j'accompagne le patient" in home and "1 téléconsultation assistée" in home
            early = post_form(client, f"/teleconsultation/rdv/{appt.id}/consentement", {"consent": "oui"})
            assert early.status_code == 409 and "trop tôt" in body(early)
            clock.advance(FIRST_SLOT - clock.now - dt.timedelta(minutes=5))
            sign_in(client, db, w.ehpad_nurse)  # the session idled out meanwhile
            page = body(client.get(f"/teleconsultation/rdv/{appt.id}", headers=HTML))
            assert "Le patient accepte de réaliser cette consultation par vidéo" in page
            assert "Annuler le rendez-vous" not in page, "the nurse does not cancel"
            no = post_form(client, f"/teleconsultation/rdv/{appt.id}/consentement", {})
            assert no.status_code == 422 and "doit accepter" in body(no)
            ok = post_form(client, f"/teleconsultation/rdv/{appt.id}/consentement", {"consent": "oui"})
            assert ok.status_code == 303
            page = body(client.get(f"/teleconsultation/rdv/{appt.id}", headers=HTML))
            assert 'data-role="patient"' in page and "room.js" in page
            assert "Consentement recueilli par" in page and "Sophie Infirmière, pour le patient" in page

    def test_consent_and_naming_routes_triplet(self, client, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            analyst = make_user(db, "analyst")
            db.commit()
            for url in (f"/teleconsultation/rdv/{appt.id}/consentement", f"/teleconsultation/rdv/{appt.id}/infirmier"):
                assert_triplet(client, db, "POST", url, wrong_role_user=analyst, outsider_user=w.c.outsider,
                               data={"consent": "oui"}, page=True)

    def test_the_gp_names_the_nurse_later_from_the_appointment_page(self, client, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            appt = book(db, w.c).appointment
            db.commit()
            sign_in(client, db, w.c.gp)
            page = body(client.get(f"/teleconsultation/rdv/{appt.id}", headers=HTML))
            assert "Un infirmier ou une infirmière sera auprès du patient" in page
            named = post_form(client, f"/teleconsultation/rdv/{appt.id}/infirmier",
                              {"nurse_id": str(w.ehpad_nurse.id), "assistance": "TLD"})
            assert named.status_code == 303
            db.expire_all()
            assert db.get(TeleconsultationAppointment, appt.id).assistance == "TLD"


class TestPlacesPages:
    def test_the_usmp_nurse_creates_a_room_and_opens_it(self, client, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            db.commit()
            sign_in(client, db, w.usmp_nurse)
            page = body(client.get("/teleconsultation/salles", headers=HTML))
            assert "Salle de téléconsultation" in page and "Chaque lundi" in page and "10:00 – 11:00" in page
            short = post_form(client, "/teleconsultation/salles", {"establishment_id": str(w.usmp.id), "name": "X"})
            assert short.status_code == 422 and "Nommez la salle" in body(short)
            created = post_form(client, "/teleconsultation/salles", {"establishment_id": str(w.usmp.id),
                                                                     "name": "Salle 2"})
            assert created.status_code == 303
            page = body(client.get("/teleconsultation/salles", headers=HTML))
            place_id = re.findall(r"/teleconsultation/salles/([0-9a-f-]{36})/plages", page)[-1]
            bad = post_form(client, f"/teleconsultation/salles/{place_id}/plages",
                            {"kind": "weekly", "weekday": "2", "start": "15:00", "end": "14:00"})
            assert bad.status_code == 422 and "L'heure de fin doit suivre" in body(bad)
            added = post_form(client, f"/teleconsultation/salles/{place_id}/plages",
                              {"kind": "extra", "day": "2026-03-03", "start": "14:00", "end": "16:00"})
            assert added.status_code == 303
            page = body(client.get("/teleconsultation/salles", headers=HTML))
            assert "03/03/2026" in page and "14:00 – 16:00" in page

    def test_rooms_pages_triplet(self, client, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            analyst = make_user(db, "analyst")
            db.commit()
            assert_triplet(client, db, "GET", "/teleconsultation/salles", wrong_role_user=analyst,
                           outsider_user=None, page=True)
            assert_triplet(client, db, "POST", f"/teleconsultation/salles/{w.room.id}/plages",
                           wrong_role_user=analyst, outsider_user=w.ehpad_nurse, page=True,
                           data={"kind": "weekly", "weekday": "1", "start": "10:00", "end": "11:00"})


class TestJsonApi:
    def test_the_usmp_books_its_room_for_an_escorted_patient(self, client, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            db.commit()
            sign_in(client, db, w.usmp_nurse)
            rooms = client.get("/api/teleconsultation/places").json()
            assert [r["name"] for r in rooms] == ["Salle de téléconsultation"]
            payload = {"patient_id": str(w.c.patient_id), "practitioner_id": str(w.c.specialist.id),
                       "line_id": str(w.c.line.id), "starts_at": FIRST_SLOT.isoformat(),
                       "nurse_id": str(w.usmp_nurse.id), "assistance": "TLL", "place_id": rooms[0]["id"]}
            created = post_json(client, "/api/teleconsultation/assisted-appointments", payload)
            assert created.status_code == 201, created.text
            data = created.json()
            assert data["assistance"] == "TLL" and data["place_id"] == rooms[0]["id"]
            assert "patient_link_token" not in data
            again = post_json(client, "/api/teleconsultation/assisted-appointments",
                              {**payload, "starts_at": (FIRST_SLOT + dt.timedelta(hours=1)).isoformat()})
            assert again.status_code == 409

    def test_the_json_routes_triplet(self, client, db):
        with frozen(MONDAY_9H):
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            analyst = make_user(db, "analyst")
            db.commit()
            assert_triplet(client, db, "POST", f"/api/teleconsultation/appointments/{appt.id}/assisted-consent",
                           wrong_role_user=analyst, outsider_user=w.c.outsider,
                           json={"teleconsultation": True})
            assert_triplet(client, db, "POST", f"/api/teleconsultation/appointments/{appt.id}/nurse",
                           wrong_role_user=analyst, outsider_user=w.c.outsider,
                           json={"nurse_id": str(w.ehpad_nurse.id), "assistance": "TLS"})
            assert_triplet(client, db, "POST", f"/api/teleconsultation/places/{w.room.id}/ranges",
                           wrong_role_user=analyst, outsider_user=w.ehpad_nurse,
                           json={"kind": "weekly", "weekday": 1, "start": "10:00", "end": "11:00"})


class TestNurseInTheRoom:
    def test_the_nurse_holds_the_patients_side_and_meets_the_practitioner(self, client, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            db.commit()
            clock.advance(FIRST_SLOT - clock.now - dt.timedelta(minutes=5))
            url = f"/teleconsultation/signal/{appt.id}"
            sign_in(client, db, w.ehpad_nurse)
            with pytest.raises(WebSocketDisconnect) as refused:  # no consent yet: refused before the handshake
                client.websocket_connect(url, headers=ORIGIN).__enter__()
            assert refused.value.code == 4403
            assert post_form(client, f"/teleconsultation/rdv/{appt.id}/consentement",
                             {"consent": "oui"}).status_code == 303
            # The practitioner's socket opens first, then the nurse's, as in the room's own tests (the test's session
            # shares its connection with the app's: the sessions are opened before the sockets).
            nurse_cookie = client.cookies.get(SESSION_COOKIE) or ""
            client.cookies.clear()
            sign_in(client, db, w.c.specialist)
            with client.websocket_connect(url, headers=ORIGIN) as doctor:
                assert receive_until(doctor, "welcome")["role"] == "practitioner"
                client.cookies.clear()
                client.cookies.set(SESSION_COOKIE, nurse_cookie)
                with client.websocket_connect(url, headers=ORIGIN) as nurse:
                    assert receive_until(nurse, "welcome")["role"] == "patient"
                    assert receive_until(doctor, "peer-joined")["role"] == "patient"
                    client.cookies.clear()
                    sign_in(client, db, w.c.specialist)
                    admitted = post_form(client, f"/teleconsultation/rdv/{appt.id}/admettre")
                    assert admitted.status_code == 303
                    assert receive_until(nurse, "state")["status"] == "in_consultation"
                    doctor.send_json({"type": "offer", "n": 1, "sdp": "v=0 doctor"})
                    assert receive_until(nurse, "offer")["sdp"] == "v=0 doctor"
            db.expire_all()
            joins = db.scalars(select(AuditEntry.actor_id).where(AuditEntry.object_id == str(appt.id),
                                                                 AuditEntry.action == "join",
                                                                 AuditEntry.outcome == "success")).all()
            assert str(w.ehpad_nurse.id) in joins

    def test_another_nurse_caring_for_the_patient_stays_out_of_the_room(self, client, db):
        with frozen(MONDAY_9H) as clock:
            w = assisted_clinic(db)
            appt = book_assisted(db, w)
            db.commit()
            clock.advance(FIRST_SLOT - clock.now)
            sign_in(client, db, w.usmp_nurse)
            with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(
                    f"/teleconsultation/signal/{appt.id}", headers=ORIGIN):
                pass
            assert closed.value.code == 4403
            refused = db.scalars(select(AuditEntry.actor_id).where(AuditEntry.outcome == "denied",
                                                                   AuditEntry.action == "join")).all()
            assert str(w.usmp_nurse.id) in refused
