"""Pages of scheduling and after-care in French: reschedule from the appointment's page (a French error without a
reason), the follow-up, the yearly share with its declaration, the coordinator's view; with their triplets."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlalchemy import select

from maillage.authz import service as authz
from maillage.kit.clock import frozen
from maillage.models.directory import SpecialtyLineMember
from maillage.models.teleconsultation import TeleconsultationAppointment
from tests.fixtures.factories import make_user
from tests.fixtures.teleconsultation import MONDAY_9H, book, clinic
from tests.fixtures.teleexpertise import professional_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in

HTML = {"accept": "text/html"}


def body(response) -> str:
    return html.unescape(response.text)


def post_form(client, url, data=None):
    return client.post(
        url, data={**(data or {}), "csrf_token": csrf_token(client)}, headers=HTML, follow_redirects=False
    )


class TestReschedulePage:
    def test_the_gp_reschedules_with_a_reason_and_lands_on_the_new_appointment(self, client, db):
        with frozen(MONDAY_9H) as clock:
            c = clinic(db)
            appt = book(db, c).appointment
            db.commit()
            clock.advance(dt.timedelta(minutes=1))
            sign_in(client, db, c.gp)
            page = body(client.get(f"/teleconsultation/rdv/{appt.id}", headers=HTML))
            assert "Reporter le rendez-vous" in page
            slot = re.findall(r'<option value="([^"]+)">02/03/2026 à 10:40', page)[0]
            refused = post_form(client, f"/teleconsultation/rdv/{appt.id}/reporter", {"starts_at": slot})
            assert refused.status_code == 422 and "motif" in body(refused)
            moved = post_form(
                client,
                f"/teleconsultation/rdv/{appt.id}/reporter",
                {"starts_at": slot, "reason": "Le patient travaille à 10 h"},
            )
            assert moved.status_code == 303
            new_page = body(client.get(moved.headers["location"], headers=HTML))
            assert (
                "remplace un rendez-vous reporté" in new_page and "Nouveau créneau d'un rendez-vous reporté" in new_page
            )
            old_page = body(client.get(f"/teleconsultation/rdv/{appt.id}", headers=HTML))
            assert "Reportée" in old_page and "voir le nouveau rendez-vous" in old_page
            assert (
                db.scalar(select(TeleconsultationAppointment.status).where(TeleconsultationAppointment.id == appt.id))
                == "rescheduled"
            )

    def test_the_reschedule_route_has_its_triplet(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            appt = book(db, c).appointment
            db.commit()
            assert_triplet(
                client,
                db,
                "POST",
                f"/api/teleconsultation/appointments/{appt.id}/reschedule",
                wrong_role_user=make_user(db, "analyst"),
                outsider_user=c.outsider,
                json={"starts_at": "2026-03-02T09:40:00+00:00", "reason": "Autre horaire"},
            )


class TestSharePage:
    def test_the_practitioner_declares_the_activity_and_reads_the_share(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            db.commit()
            sign_in(client, db, c.specialist)
            page = body(client.get("/teleconsultation/activite", headers=HTML))
            assert "Déclarez votre activité" in page and "20 %" in page
            bad = post_form(client, "/teleconsultation/activite", {"in_person": "beaucoup"})
            assert bad.status_code == 422 and "nombres entiers" in body(bad)
            ok = post_form(client, "/teleconsultation/activite", {"in_person": "120"})
            assert ok.status_code == 303
            assert "0.0 %" in body(client.get("/teleconsultation/activite", headers=HTML))


class TestCoordinationPage:
    def test_the_coordinator_sees_the_lines_appointments_and_others_an_empty_state(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            book(db, c)
            boss = professional_user(db)
            db.add(SpecialtyLineMember(line_id=c.line.id, professional_id=boss.person_id, role="coordinator"))
            authz.grant_relationship(db, user_id=boss.id, patient_id=c.patient_id, kind="care_unit")
            db.commit()
            sign_in(client, db, boss)
            page = body(client.get("/teleconsultation/coordination", headers=HTML))
            assert "Dermatologie" in page and "02/03/2026 à 10:00" in page and "Patient pas encore arrivé" in page
            sign_in(client, db, c.gp)
            assert "ne coordonnez aucune ligne" in body(client.get("/teleconsultation/coordination", headers=HTML))
            other = client.get(f"/teleconsultation/coordination?ligne={c.line.id}", headers=HTML)
            assert other.status_code == 404


class TestCoordinatorBookingAndRanges:
    def coordinator(self, db, c):
        boss = professional_user(db)
        db.add(SpecialtyLineMember(line_id=c.line.id, professional_id=boss.person_id, role="coordinator"))
        authz.grant_relationship(db, user_id=boss.id, patient_id=c.patient_id, kind="care_unit")
        return boss

    def test_the_coordinator_books_a_slot_of_the_line_and_gets_the_link_once(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            boss = self.coordinator(db, c)
            db.commit()
            sign_in(client, db, boss)
            page = body(client.get(f"/teleconsultation/coordination/reserver?ligne={c.line.id}"
                                   f"&patient_id={c.patient_id}", headers=HTML))
            slot = re.search(r'name="slot" value="([^"]+)"', page).group(1)
            refused = post_form(client, "/teleconsultation/coordination/reserver",
                                {"ligne": str(c.line.id), "patient_id": str(c.patient_id)})
            assert refused.status_code == 409 and "Choisissez un patient et un créneau" in body(refused)
            done = post_form(client, "/teleconsultation/coordination/reserver",
                             {"ligne": str(c.line.id), "patient_id": str(c.patient_id), "slot": slot,
                              "reason": "Contrôle"})
            assert done.status_code == 201 and "/tc/mlg_tc_" in done.text and "le praticien en est averti" in body(done)
            sign_in(client, db, c.gp)
            other = client.get(f"/teleconsultation/coordination/reserver?ligne={c.line.id}", headers=HTML)
            assert other.status_code == 404

    def test_the_coordinator_publishes_and_withdraws_a_practitioners_range(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            boss = self.coordinator(db, c)
            db.commit()
            sign_in(client, db, boss)
            url = f"/teleconsultation/coordination/praticiens/{c.specialist.id}"
            assert "1 plage publiée" in body(client.get(url, headers=HTML))
            bad = post_form(client, url, {"kind": "weekly", "weekday": "1", "start": "15:00", "end": "14:00",
                                          "slot_minutes": "20", "line_id": str(c.line.id)})
            assert bad.status_code == 422 and "L'heure de fin doit suivre" in body(bad)
            ok = post_form(client, url, {"kind": "weekly", "weekday": "1", "start": "14:00", "end": "15:00",
                                         "slot_minutes": "20", "line_id": str(c.line.id)})
            assert ok.status_code == 303
            page = body(client.get(url, headers=HTML))
            assert "2 plages publiées" in page
            range_id = re.findall(r"/plages/([0-9a-f-]{36})/retirer", page)[-1]
            assert post_form(client, f"{url}/plages/{range_id}/retirer").status_code == 303
            assert client.get(f"/teleconsultation/coordination/praticiens/{c.outsider.id}",
                              headers=HTML).status_code == 404

    def test_the_coordination_pages_have_their_triplet(self, client, db):
        with frozen(MONDAY_9H):
            c = clinic(db)
            db.commit()
            assert_triplet(client, db, "GET", f"/teleconsultation/coordination/praticiens/{c.specialist.id}",
                           wrong_role_user=make_user(db, "analyst"), outsider_user=c.gp, page=True)
            assert_triplet(client, db, "GET", f"/api/teleconsultation/lines/{c.line.id}/appointments",
                           wrong_role_user=make_user(db, "analyst"), outsider_user=c.gp)
