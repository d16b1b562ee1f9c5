"""The room, through the application: the patient's place and estimated wait (from the practitioner's held
consultations), the late notice (live, audited, no text), the quality figures kept from the browsers' samples and
summarised after the consultation, and the third participant (by link or by account): they consent, the patient
accepts them, and only then does their media pass."""

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
from maillage.models.teleconsultation import (
    TeleconsultationAppointment,
    TeleconsultationGuest,
    TeleconsultationLateNotice,
    TeleconsultationQualitySample,
)
from maillage.teleconsultation import booking, patient_link
from maillage.teleconsultation.signalling import GUEST_COOKIE, PATIENT_COOKIE
from tests.fixtures.teleconsultation import FIRST_SLOT, book, clinic
from tests.fixtures.teleexpertise import actor
from tests.fixtures.web import csrf_token, sign_in

HTML = {"accept": "text/html"}
ORIGIN = {"origin": "http://testserver"}
MIN = dt.timedelta(minutes=1)


def receive_until(ws: Any, kind: str, limit: int = 12) -> dict[str, Any]:
    for _ in range(limit):
        message = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def history(db: Any, c: Any, *durations: int) -> None:
    """Consultations the specialist held on earlier days, of these lengths in minutes."""
    for n, length in enumerate(durations):
        start = FIRST_SLOT - dt.timedelta(days=7 * (n + 1))
        db.add(TeleconsultationAppointment(
            patient_id=c.patient_id, practitioner_id=c.specialist.id, line_id=c.line.id, requester_id=c.gp.id,
            starts_at=start, ends_at=start + 20 * MIN, status="done", admitted_at=start,
            ended_at=start + length * MIN))
    db.flush()


def arrive(db: Any, token: str) -> str:
    """The patient opens the link and consents: the link session's secret."""
    _, secret = patient_link.open_link(db, token)
    patient_link.consent(db, secret, teleconsultation=True, third_party=False)
    return secret


def day_of_three(db: Any) -> tuple[Any, list[Any], list[str]]:
    """Three appointments at 10:00, 10:20 and 10:40; at 10:45 the first is in consultation since 10:40, the two
    others wait. The specialist's last held consultations lasted 10, 12 and 30 minutes (median 12)."""
    with frozen(FIRST_SLOT - dt.timedelta(hours=1)):
        c = clinic(db)
        history(db, c, 10, 12, 30)
        booked = [book(db, c, starts_at=FIRST_SLOT + 20 * MIN * k) for k in range(3)]
        db.commit()
    secrets = []
    with frozen(FIRST_SLOT + 30 * MIN):
        for b in booked:
            secrets.append(arrive(db, b.link))
        db.commit()
    with frozen(FIRST_SLOT + 40 * MIN):
        booking.admit(db, actor(db, c.specialist), booked[0].appointment.id)
        db.commit()
    return c, [b.appointment for b in booked], secrets


def as_patient(client: Any, secret: str) -> None:
    client.cookies.clear()
    client.cookies.set(PATIENT_COOKIE, secret, path="/teleconsultation")


def as_user(client: Any, db: Any, user: Any) -> None:
    client.cookies.clear()
    sign_in(client, db, user)


class TestWaitingRoom:
    def test_the_patient_sees_their_place_and_wait_then_the_late_notice_live(self, client, db):
        c, appts, secrets = day_of_three(db)
        with frozen(FIRST_SLOT + 45 * MIN):
            as_patient(client, secrets[2])
            with client.websocket_connect(f"/teleconsultation/signal/{appts[2].id}", headers=ORIGIN) as patient:
                receive_until(patient, "welcome")
                queue = receive_until(patient, "queue")
                # One patient ahead; the consultation in course (since 10:40) has 12 - 5 = 7 minutes left.
                assert (queue["place"], queue["minutes"]) == (2, 7 + 12)
                assert queue["text"] == "1 patient passe avant vous. Attente estimée : environ 19 minutes."
                as_user(client, db, c.specialist)
                sent = client.post("/teleconsultation/retard", headers=HTML, follow_redirects=False,
                                   data={"csrf_token": csrf_token(client), "minutes": "15"})
                assert sent.status_code == 303 and sent.headers["location"] == "/teleconsultation?retard=2"
                notice = receive_until(patient, "notice")
                assert notice["minutes"] == 15
                assert notice["text"].startswith("Votre médecin a environ 15 minutes de retard.")
                patient.send_json({"type": "queue"})  # asked again within five seconds: not answered
                patient.send_json({"type": "shout"})
                assert receive_until(patient, "error")["type"] == "error"
            # The notice reached the two appointments still to hold (the one in consultation is not told), audited.
            audited = db.scalars(select(AuditEntry).where(AuditEntry.action == "late_notice")).all()
            assert sorted(e.object_id for e in audited) == sorted(str(a.id) for a in appts[1:])
            assert all(e.actor_id == str(c.specialist.id) and e.details == {"minutes": 15} for e in audited)
            # The next patient to arrive sees it too, and the estimate now waits for the announced delay.
            as_patient(client, secrets[1])
            with client.websocket_connect(f"/teleconsultation/signal/{appts[1].id}", headers=ORIGIN) as patient:
                receive_until(patient, "welcome")
                queue = receive_until(patient, "queue")
                assert (queue["place"], queue["minutes"]) == (1, 15)
                assert receive_until(patient, "notice")["minutes"] == 15
            as_user(client, db, c.specialist)
            page = html.unescape(client.get("/teleconsultation", headers=HTML).text)
            assert "Retard annoncé" not in page and "Dernier retard annoncé aujourd'hui : 15 minutes" in page

    @pytest.mark.parametrize("value", ["7", "", "abc", "600"])
    def test_a_delay_outside_the_list_is_refused_in_french_and_changes_nothing(self, client, db, value):
        with frozen(FIRST_SLOT):
            c = clinic(db)
            db.commit()
            as_user(client, db, c.specialist)
            refused = client.post("/teleconsultation/retard", headers=HTML, follow_redirects=False,
                                  data={"csrf_token": csrf_token(client), "minutes": value})
            assert refused.status_code == 422
            assert "Choisissez le retard dans la liste." in html.unescape(refused.text)
            assert db.scalars(select(TeleconsultationLateNotice)).all() == []


class TestQuality:
    def test_samples_during_the_consultation_are_kept_bounded_and_summarised_for_the_practitioner(self, client, db):
        c, appts, secrets = day_of_three(db)
        url = f"/teleconsultation/signal/{appts[0].id}"
        with frozen(FIRST_SLOT + 45 * MIN) as clock:
            as_user(client, db, c.specialist)
            with client.websocket_connect(url, headers=ORIGIN) as doctor:
                receive_until(doctor, "welcome")
                doctor.send_json({"type": "stats", "rtt_ms": 40, "loss_pct": 0.5, "jitter_ms": 3, "width": 640,
                                  "height": 480})
                doctor.send_json({"type": "stats", "rtt_ms": 900})  # within two seconds: not kept
                doctor.send_json({"type": "shout"})  # the socket's messages are handled in order: once answered,
                receive_until(doctor, "error")  # the two samples before it were handled at this time
                clock.advance(dt.timedelta(seconds=5))
                doctor.send_json({"type": "stats", "rtt_ms": 60, "loss_pct": 1.5, "jitter_ms": 5, "width": 640,
                                  "height": 480})
                doctor.send_json({"type": "stats", "rtt_ms": -3})  # no figure in range: refused
                assert receive_until(doctor, "error")["message"] == "Message non reconnu."
            # The waiting patient's samples are not kept: nothing is in consultation for them.
            as_patient(client, secrets[2])
            with client.websocket_connect(f"/teleconsultation/signal/{appts[2].id}", headers=ORIGIN) as patient:
                receive_until(patient, "welcome")
                patient.send_json({"type": "stats", "rtt_ms": 10})
                patient.send_json({"type": "shout"})
                receive_until(patient, "error")
            kept = db.scalars(select(TeleconsultationQualitySample)).all()
            assert sorted(s.rtt_ms for s in kept) == [40.0, 60.0]
            assert {s.appointment_id for s in kept} == {appts[0].id}
            booking.end(db, actor(db, c.specialist), appts[0].id)
            db.commit()
            as_user(client, db, c.specialist)
            page = html.unescape(client.get(f"/teleconsultation/rdv/{appts[0].id}", headers=HTML).text)
            assert "2 mesures prises par les navigateurs" in page
            assert "médiane 40 ms" in page and "1.0 % en moyenne, 1.5 % au pire" in page
            assert "640 × 480" in page
            as_user(client, db, c.gp)  # the requester sees the appointment, not the connection's figures
            page = html.unescape(client.get(f"/teleconsultation/rdv/{appts[0].id}", headers=HTML).text)
            assert "Qualité de la connexion" not in page


def guest_link(page_text: str) -> str:
    found = re.search(r'id="guest-link" readonly value="[^"]*(/tc/invite/mlg_tg_[A-Za-z0-9_-]+)"', page_text)
    assert found, "the guest's link is shown"
    return found.group(1)


def invite(client: Any, db: Any, c: Any, appt: Any, **fields: str) -> Any:
    as_user(client, db, c.specialist)
    return client.post(f"/teleconsultation/rdv/{appt.id}/inviter", headers=HTML, follow_redirects=False,
                       data={"csrf_token": csrf_token(client), **fields})


def denied_guest(db: Any, refusal: str) -> bool:
    db.expire_all()
    return any(refusal in str(e.details) for e in db.scalars(
        select(AuditEntry).where(AuditEntry.outcome == "denied", AuditEntry.actor_role == "guest")))


class TestThirdParticipant:
    def test_by_link_the_guest_consents_the_patient_accepts_then_three_peers_exchange(self, client, db):
        c, appts, secrets = day_of_three(db)
        appt = appts[0]
        url = f"/teleconsultation/signal/{appt.id}"
        with frozen(FIRST_SLOT + 45 * MIN):
            invited = invite(client, db, c, appt, capacity="interpreter", mode="lien")
            assert invited.status_code == 200
            link = guest_link(html.unescape(invited.text))
            again = invite(client, db, c, appt, capacity="family", mode="lien")
            assert again.status_code == 409 and "Un tiers est déjà invité" in html.unescape(again.text)

            client.cookies.clear()
            opened = client.get(link, headers=HTML, follow_redirects=False)
            assert opened.status_code == 303 and opened.headers["location"] == "/teleconsultation/invite"
            guest_secret = client.cookies[GUEST_COOKIE]
            client.cookies.clear()
            reused = client.get(link, headers=HTML, follow_redirects=False)
            assert reused.status_code == 410 and "déjà été ouvert" in html.unescape(reused.text)
            assert denied_guest(db, "used")
            tampered = client.get(link[:-3] + "xyz", headers=HTML, follow_redirects=False)
            assert tampered.status_code == 403 and denied_guest(db, "unknown")

            client.cookies.set(GUEST_COOKIE, guest_secret, path="/teleconsultation")
            page = html.unescape(client.get("/teleconsultation/invite", headers=HTML).text)
            assert "en tant que un ou une interprète" in page
            view = db.get(TeleconsultationAppointment, appt.id)
            assert view is not None
            with pytest.raises(WebSocketDisconnect) as refused:  # not consented yet: refused before the handshake
                client.websocket_connect(url, headers=ORIGIN).__enter__()
            assert refused.value.code == 4403
            assert denied_guest(db, "no_consent")
            no = client.post("/teleconsultation/invite/consentement", headers=HTML, follow_redirects=False,
                             data={"csrf_token": csrf_token(client)})
            assert no.status_code == 422 and "cochez votre accord" in html.unescape(no.text)
            yes = client.post("/teleconsultation/invite/consentement", headers=HTML, follow_redirects=False,
                              data={"csrf_token": csrf_token(client), "consent": "oui"})
            assert yes.status_code == 303
            # Another appointment's room stays closed to this guest.
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(
                    f"/teleconsultation/signal/{appts[1].id}", headers=ORIGIN):
                pass
            assert denied_guest(db, "other_appointment")

            with client.websocket_connect(url, headers=ORIGIN) as guest:
                welcome = receive_until(guest, "welcome")
                assert (welcome["role"], welcome["guest_state"]) == ("guest", "asking")
                guest_id = welcome["id"]
                as_patient(client, secrets[0])
                with client.websocket_connect(url, headers=ORIGIN) as patient:
                    receive_until(patient, "welcome")
                    asking = receive_until(patient, "third-party")
                    assert asking["state"] == "asking" and asking["capacity"] == "un ou une interprète"
                    as_user(client, db, c.specialist)
                    with client.websocket_connect(url, headers=ORIGIN) as doctor:
                        doctor_id = receive_until(doctor, "welcome")["id"]
                        guest.send_json({"type": "offer", "to": doctor_id, "n": 1, "sdp": "v=0 too early"})
                        patient.send_json({"type": "third-party", "guest": asking["guest"], "accept": True})
                        assert receive_until(guest, "third-party")["state"] == "admitted"
                        assert receive_until(doctor, "third-party")["state"] == "admitted"
                        guest.send_json({"type": "offer", "to": doctor_id, "n": 2, "sdp": "v=0 guest"})
                        offer = receive_until(doctor, "offer")
                        assert (offer["sdp"], offer["role"], offer["from"]) == ("v=0 guest", "guest", guest_id)
                        # Addressed: the doctor's answer reaches the guest only.
                        doctor.send_json({"type": "answer", "to": guest_id, "n": 2, "sdp": "v=0 to guest"})
                        doctor.send_json({"type": "present"})
                        assert receive_until(guest, "answer")["sdp"] == "v=0 to guest"
                        assert receive_until(patient, "present")["role"] == "practitioner"
            decided = db.scalars(select(AuditEntry).where(AuditEntry.action == "third_party")).all()
            assert len(decided) == 1 and decided[0].details["decision"] == "accepted"
            assert decided[0].actor_role == "patient"

    def test_a_guest_the_patient_refuses_never_enters(self, client, db):
        c, appts, secrets = day_of_three(db)
        appt = appts[0]
        with frozen(FIRST_SLOT + 45 * MIN):
            link = guest_link(html.unescape(invite(client, db, c, appt, capacity="family", mode="lien").text))
            client.cookies.clear()
            client.get(link, headers=HTML)
            client.post("/teleconsultation/invite/consentement", headers=HTML,
                        data={"csrf_token": csrf_token(client), "consent": "oui"})
            guest_secret = client.cookies[GUEST_COOKIE]
            as_patient(client, secrets[0])
            url = f"/teleconsultation/signal/{appt.id}"
            with client.websocket_connect(url, headers=ORIGIN) as patient:
                asking = receive_until(patient, "third-party")
                patient.send_json({"type": "third-party", "guest": asking["guest"], "accept": False})
                assert receive_until(patient, "third-party")["state"] == "refused"
                patient.send_json({"type": "third-party", "guest": asking["guest"], "accept": True})
                assert receive_until(patient, "error")["message"] == "Invitation introuvable."
            client.cookies.clear()
            client.cookies.set(GUEST_COOKIE, guest_secret, path="/teleconsultation")
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(url, headers=ORIGIN):
                pass
            assert denied_guest(db, "closed")
            row = db.scalars(select(TeleconsultationGuest)).one()
            assert row.patient_decision == "refused" and row.patient_decision_at is not None

    def test_by_account_a_professional_of_the_directory_joins_from_their_page(self, client, db):
        c, appts, _ = day_of_three(db)
        appt = appts[0]
        with frozen(FIRST_SLOT + 45 * MIN):
            unknown = invite(client, db, c, appt, capacity="specialist", mode="compte", username="personne")
            assert unknown.status_code == 422 and "n'a pas de compte actif" in html.unescape(unknown.text)
            invited = invite(client, db, c, appt, capacity="specialist", mode="compte",
                             username=c.colleague.username)
            assert invited.status_code == 200 and "guest-link" not in invited.text
            as_user(client, db, c.outsider)
            assert client.get(f"/teleconsultation/invitations/{appt.id}", headers=HTML).status_code == 403
            as_user(client, db, c.colleague)
            home = html.unescape(client.get("/teleconsultation", headers=HTML).text)
            assert "Téléconsultations où je suis invité" in home and f"/teleconsultation/invitations/{appt.id}" in home
            page = client.get(f"/teleconsultation/invitations/{appt.id}", headers=HTML)
            assert page.status_code == 200 and "un second spécialiste" in html.unescape(page.text)
            client.post(f"/teleconsultation/invitations/{appt.id}/consentement", headers=HTML,
                        data={"csrf_token": csrf_token(client), "consent": "oui"})
            with client.websocket_connect(f"/teleconsultation/signal/{appt.id}", headers=ORIGIN) as guest:
                welcome = receive_until(guest, "welcome")
                assert (welcome["role"], welcome["guest_state"]) == ("guest", "asking")
            joined = db.scalars(select(AuditEntry).where(AuditEntry.action == "join",
                                                         AuditEntry.actor_role == "guest")).all()
            assert [e.actor_id for e in joined] == [str(c.colleague.id)]
            # Withdrawn, the invitation opens nothing more.
            guest_row = db.scalars(select(TeleconsultationGuest)).one()
            as_user(client, db, c.specialist)
            client.post(f"/teleconsultation/rdv/{appt.id}/invites/{guest_row.id}/retirer", headers=HTML,
                        data={"csrf_token": csrf_token(client)})
            as_user(client, db, c.colleague)
            assert client.get(f"/teleconsultation/invitations/{appt.id}", headers=HTML).status_code == 403
