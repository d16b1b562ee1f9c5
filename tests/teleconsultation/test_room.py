"""The patient's link and the room, through the application: the link opens once, within its window, for its
appointment only; refusals (tampered, reused, expired, too early, another appointment) answer a French page, open
nothing and are audited; the consent is recorded before the room; the signalling WebSocket admits the appointment's
practitioner and patient only, and relays the media messages only once the patient is admitted."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pytest
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from maillage.kit.clock import frozen
from maillage.models.audit import AuditEntry
from maillage.models.teleconsultation import TeleconsultationAppointment
from maillage.teleconsultation.signalling import PATIENT_COOKIE
from tests.fixtures.teleconsultation import FIRST_SLOT, book, clinic
from tests.fixtures.web import csrf_token, sign_in, sign_out

HTML = {"accept": "text/html"}
ORIGIN = {"origin": "http://testserver"}
OPENS = FIRST_SLOT - dt.timedelta(minutes=10)  # within the link's window (15 minutes before)


def text_of(response: Any) -> str:
    return html.unescape(response.text)


def denied(db: Any, refusal: str) -> list[AuditEntry]:
    db.expire_all()
    return [e for e in db.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied",
                                                           AuditEntry.actor_role == "patient"))
            if refusal in str(e.details)]


def booked(db: Any) -> tuple[Any, Any]:
    with frozen(OPENS - dt.timedelta(hours=1)):
        c = clinic(db)
        b = book(db, c)
        db.commit()
    return c, b


def open_link(client: Any, token: str) -> Any:
    return client.get(f"/tc/{token}", headers=HTML, follow_redirects=False)


def consent(client: Any, **fields: str) -> Any:
    return client.post("/teleconsultation/patient/consentement", headers=HTML, follow_redirects=False,
                       data={"csrf_token": csrf_token(client), **fields})


class TestLink:
    def test_the_link_opens_once_then_the_consent_leads_to_the_waiting_room(self, client, db):
        _, b = booked(db)
        with frozen(OPENS):
            opened = open_link(client, b.link)
            assert opened.status_code == 303 and opened.headers["location"] == "/teleconsultation/patient"
            assert PATIENT_COOKIE in client.cookies
            page = client.get("/teleconsultation/patient", headers=HTML)
            assert "J'accepte de réaliser cette consultation par vidéo" in text_of(page)
            assert "room.js" not in page.text, "no camera before consent"
            refused = consent(client)
            assert refused.status_code == 422 and "acceptez la téléconsultation" in text_of(refused)
            assert consent(client, consent="oui", third_party="oui").status_code == 303
            waiting = client.get("/teleconsultation/patient", headers=HTML)
            assert "Salle d'attente" in text_of(waiting) and "/static/teleconsultation/room.js" in waiting.text
            db.expire_all()
            appt = db.get(TeleconsultationAppointment, b.appointment.id)
            assert appt.status == "waiting" and appt.consent_at is not None and appt.third_party_present is True
            actions = db.scalars(select(AuditEntry.action).where(AuditEntry.actor_role == "patient",
                                                                 AuditEntry.outcome == "success")).all()
            assert {"open", "consent", "read"} <= set(actions)

    def test_a_reused_link_is_refused_in_french_and_audited(self, client, db):
        _, b = booked(db)
        with frozen(OPENS):
            assert open_link(client, b.link).status_code == 303
            client.cookies.clear()
            again = open_link(client, b.link)
            assert again.status_code == 410 and "déjà été ouvert" in text_of(again)
            assert PATIENT_COOKIE not in client.cookies
            assert denied(db, "used")

    def test_a_tampered_link_is_refused_and_audited(self, client, db):
        _, b = booked(db)
        with frozen(OPENS):
            tampered = b.link[:-2] + ("AA" if not b.link.endswith("AA") else "BB")
            answer = open_link(client, tampered)
            assert answer.status_code == 403 and "n'est pas valide" in text_of(answer)
            assert PATIENT_COOKIE not in client.cookies and denied(db, "unknown")
            assert client.get("/teleconsultation/patient", headers=HTML).status_code == 403

    def test_too_early_and_expired_links_open_nothing(self, client, db):
        _, b = booked(db)
        with frozen(FIRST_SLOT - dt.timedelta(minutes=16)):
            early = open_link(client, b.link)
            assert early.status_code == 403 and "trop tôt" in text_of(early)
        with frozen(FIRST_SLOT + dt.timedelta(minutes=51)):
            late = open_link(client, b.link)
            assert late.status_code == 410 and "expiré" in text_of(late)
        assert denied(db, "too_early") and denied(db, "expired")
        with frozen(OPENS):
            assert open_link(client, b.link).status_code == 303, "the refused attempts did not use the link"

    def test_a_cancelled_appointment_closes_its_link(self, client, db):
        c, b = booked(db)
        with frozen(OPENS):
            sign_in(client, db, c.gp)
            client.post(f"/teleconsultation/rdv/{b.appointment.id}/annuler", headers=HTML, follow_redirects=False,
                        data={"csrf_token": csrf_token(client), "reason": "Patient hospitalisé"})
            sign_out(client)
            answer = open_link(client, b.link)
            assert answer.status_code == 403 and "n'est pas valide" in text_of(answer)


def receive_until(ws: Any, kind: str, limit: int = 10) -> dict[str, Any]:
    for _ in range(limit):
        message = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


class TestSignalling:
    def test_the_practitioner_and_the_patient_meet_and_media_flows_only_after_admission(self, client, db):
        c, b = booked(db)
        appt_id = b.appointment.id
        url = f"/teleconsultation/signal/{appt_id}"
        with frozen(OPENS):
            open_link(client, b.link)
            consent(client, consent="oui")
            patient_secret = client.cookies[PATIENT_COOKIE]
            client.cookies.clear()
            sign_in(client, db, c.specialist)
            with client.websocket_connect(url, headers=ORIGIN) as doctor:
                assert receive_until(doctor, "welcome")["role"] == "practitioner"
                client.cookies.clear()
                client.cookies.set(PATIENT_COOKIE, patient_secret, path="/teleconsultation")
                with client.websocket_connect(url, headers=ORIGIN) as patient:
                    welcome = receive_until(patient, "welcome")
                    patient_id = welcome.pop("id")
                    assert welcome == {"type": "welcome", "role": "patient", "status": "waiting", "ice_servers": []}
                    assert len(patient_id) == 32, "a random connection id: the peers address each other by it"
                    assert receive_until(doctor, "peer-joined")["role"] == "patient"
                    patient.send_json({"type": "offer", "n": 1, "sdp": "v=0 waiting"})
                    patient.send_json({"type": "present"})
                    assert receive_until(doctor, "present")["role"] == "patient", "the offer was not relayed"
                    client.cookies.clear()
                    sign_in(client, db, c.specialist)
                    admitted = client.post(f"/teleconsultation/rdv/{appt_id}/admettre", headers=HTML,
                                           follow_redirects=False, data={"csrf_token": csrf_token(client)})
                    assert admitted.status_code == 303
                    assert receive_until(patient, "state")["status"] == "in_consultation"
                    assert receive_until(doctor, "state")["status"] == "in_consultation"
                    doctor.send_json({"type": "offer", "n": 2, "sdp": "v=0 doctor", "extra": "dropped"})
                    offer = receive_until(patient, "offer")
                    assert offer == {"type": "offer", "n": 2, "sdp": "v=0 doctor", "role": "practitioner",
                                     "from": offer["from"]}
                    assert offer["from"] != patient_id
                    patient.send_json({"type": "candidate", "n": 2, "candidate": {"candidate": "c", "x": {"y": 1}}})
                    assert receive_until(doctor, "candidate")["candidate"] == {"candidate": "c"}
                    patient.send_json({"type": "shout"})
                    assert receive_until(patient, "error")["message"] == "Message non reconnu."

    def test_strangers_other_appointments_and_other_origins_are_refused(self, client, db):
        c, b = booked(db)
        with frozen(OPENS):
            other = book(db, c, starts_at=FIRST_SLOT + dt.timedelta(minutes=20)).appointment
            db.commit()
            url = f"/teleconsultation/signal/{b.appointment.id}"
            for user in (c.colleague, c.gp):  # another specialist of the line; the requester is not in the room
                client.cookies.clear()
                sign_in(client, db, user)
                with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url, headers=ORIGIN):
                    pass
                assert closed.value.code == 4403
            client.cookies.clear()
            sign_in(client, db, c.specialist)
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(
                    url, headers={"origin": "http://evil.example"}):
                pass
            client.cookies.clear()
            open_link(client, b.link)
            secret = client.cookies[PATIENT_COOKIE]
            client.cookies.clear()  # the test client keeps a Secure cookie from its WebSocket: set it plainly
            client.cookies.set(PATIENT_COOKIE, secret, path="/teleconsultation")
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(
                    f"/teleconsultation/signal/{other.id}", headers=ORIGIN):
                pass
            refused = db.scalars(select(AuditEntry.actor_id).where(AuditEntry.outcome == "denied",
                                                                   AuditEntry.action == "join",
                                                                   AuditEntry.actor_role == "physician")).all()
            assert sorted(refused) == sorted([str(c.colleague.id), str(c.gp.id)]), "both refusals audited"
            assert denied(db, "other_appointment")
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(url, headers=ORIGIN):
                pass  # its own room, but the patient has not consented yet
            assert denied(db, "no_consent")
