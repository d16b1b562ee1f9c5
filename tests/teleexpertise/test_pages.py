"""Pages of tele-expertise in French: mes demandes, a new request, the request page and its steps, the worklist and
the coordinator's board, each with its authorization triplet."""

from __future__ import annotations

import html
import re

import pytest

from maillage.patient import service as patients
from tests.fixtures.factories import make_user
from tests.fixtures.teleexpertise import OPINION, claimed, photo, submitted, world
from tests.fixtures.web import assert_triplet, csrf_token, sign_in

HTML = {"accept": "text/html"}


def body(response) -> str:
    """The page's text with HTML entities decoded (Jinja escapes apostrophes)."""
    return html.unescape(response.text)


def post_form(client, url, data=None, files=None):
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, files=files, headers=HTML,
                       follow_redirects=False)


class TestHome:
    def test_the_requester_sees_their_requests_and_the_specialist_their_lines(self, client, db):
        w = world(db)
        submitted(db, w)
        db.commit()
        sign_in(client, db, w.requester)
        page = client.get("/teleexpertise", headers=HTML)
        assert page.status_code == 200 and "Mes demandes" in body(page) and "En attente d'un spécialiste" in body(page)
        assert "envoyée le" in body(page) and " , " not in body(page), "no space before a comma"
        sign_in(client, db, w.expert)
        expert_home = body(client.get("/teleexpertise", headers=HTML))
        assert "Dermatologie" in expert_home and "Nouvelle demande qui vous est adressée" in expert_home
        assert 'aria-label="1 non lue"' in expert_home, "the count agrees: one unread notification"

    def test_the_home_page_has_its_triplet(self, client, db):
        assert_triplet(client, db, "GET", "/teleexpertise", wrong_role_user=make_user(db, "analyst"),
                       outsider_user=None, page=True)


class TestNewRequest:
    def test_a_requester_creates_a_draft_attaches_a_photo_and_sends_it_from_the_pages(self, client, db):
        w = world(db)
        db.commit()
        sign_in(client, db, w.requester)
        form = client.get("/teleexpertise/nouvelle", headers=HTML)
        assert form.status_code == 200 and str(w.patient_id) in form.text
        created = post_form(client, "/teleexpertise/nouvelle", {
            "patient_id": str(w.patient_id), "line_id": str(w.line.id), "urgency": "routine",
            "question": "Lésion du dos qui saigne : avis ?"})
        assert created.status_code == 303, created.text[:500]
        url = created.headers["location"]
        refused = post_form(client, f"{url}/envoyer", {"consent": "1"})
        assert refused.status_code == 422 and "au moins 1 photographie ; 0 jointe à ce jour" in body(refused)
        attached = post_form(client, f"{url}/piece-jointe", files={"file": ("dos.png", photo(), "image/png")})
        assert attached.status_code == 303, attached.text[:500]
        sent = post_form(client, f"{url}/envoyer", {"consent": "1"})
        assert sent.status_code == 303
        page = client.get(url, headers=HTML)
        assert "En attente d'un spécialiste" in body(page) and "<img" in body(page)

    def test_a_missing_choice_is_explained_in_french(self, client, db):
        w = world(db)
        db.commit()
        sign_in(client, db, w.requester)
        page = post_form(client, "/teleexpertise/nouvelle", {"question": "Question sans patient"})
        assert page.status_code == 422 and "Choisissez un patient" in body(page)


class TestRequestPage:
    def test_the_specialist_claims_then_signs_and_the_requester_reads_the_opinion(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        url = f"/teleexpertise/demandes/{req.id}"
        sign_in(client, db, w.expert)
        page = client.get(url, headers=HTML)
        assert "Prendre en charge" in body(page) and "L'identité du patient s'affiche" in body(page)
        assert post_form(client, f"{url}/prendre").status_code == 303
        incomplete = post_form(client, f"{url}/avis", {"body": "court", "orientation": "advice_only"})
        assert incomplete.status_code == 422 and "Rédigez l'avis" in body(incomplete)
        assert post_form(client, f"{url}/avis", {"body": OPINION.answer, "orientation": "urgent_transfer"}
                         ).status_code == 303
        sign_in(client, db, w.requester)
        page = client.get(url, headers=HTML)
        assert OPINION.answer in body(page) and "Transfert urgent" in body(page) and "demandée" in body(page)

    def test_a_declined_request_shows_its_reason_to_the_requester(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        url = f"/teleexpertise/demandes/{req.id}"
        sign_in(client, db, w.colleague)
        assert post_form(client, f"{url}/refuser", {"reason": "Hors champ de la ligne"}).status_code == 303
        sign_in(client, db, w.requester)
        assert "Hors champ de la ligne" in body(client.get(url, headers=HTML))

    def test_the_request_page_has_its_triplet(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        assert_triplet(client, db, "GET", f"/teleexpertise/demandes/{req.id}",
                       wrong_role_user=make_user(db, "billing_officer"), outsider_user=w.outsider, page=True)

    def test_a_step_has_its_triplet(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        assert_triplet(client, db, "POST", f"/teleexpertise/demandes/{req.id}/prendre",
                       wrong_role_user=make_user(db, "analyst"), outsider_user=w.outsider, page=True)


def patient_of(db, w):
    return patients.get_patient(db, w.a(db, w.requester), w.patient_id)


class TestListsSayWhoAndWhat:
    def test_mes_demandes_shows_the_patient_the_specialty_the_status_and_the_date(self, client, db):
        w = world(db)
        submitted(db, w)
        view = patient_of(db, w)
        db.commit()
        sign_in(client, db, w.requester)
        text = body(client.get("/teleexpertise", headers=HTML))
        mine = text[text.index("Mes demandes"):]
        row = mine[mine.index("<tbody>"):mine.index("</tbody>")]
        first = view.patient.used_given_name or view.patient.given_names.split(" ")[0]
        assert view.patient.birth_name.upper() in row and first in row
        assert w.line.title in row and "En attente d'un spécialiste" in row and "envoyée le" in row
        assert f"{view.sex_label}, {view.age_label}" in row

    def test_the_worklist_shows_the_requester_the_establishment_the_patient_s_age_and_sex_and_urgency(
            self, client, db):
        w = world(db)
        req = submitted(db, w, urgency="urgent")
        view = patient_of(db, w)
        db.commit()
        sign_in(client, db, w.expert)
        text = body(client.get(f"/teleexpertise/lignes/{w.line.id}", headers=HTML))
        row = text[text.index("<tbody>"):text.index("</tbody>")]
        assert w.requester.display_name in row and f"{view.sex_label}, {view.age_label}" in row
        assert "Urgent" in row and f"/teleexpertise/demandes/{req.id}" in row
        assert view.patient.birth_name.upper() not in row  # no identity before the request is taken

    def test_the_request_page_shows_the_banner_to_the_parties_and_age_and_sex_before_it_is_taken(self, client, db):
        w = world(db)
        req = submitted(db, w)
        view = patient_of(db, w)
        db.commit()
        url = f"/teleexpertise/demandes/{req.id}"
        sign_in(client, db, w.expert)
        before = body(client.get(url, headers=HTML))
        assert 'class="patient-banner"' not in before and f"{view.sex_label.lower()}, {view.age_label}" in before
        assert w.requester.display_name in before
        post_form(client, f"{url}/prendre")
        page = body(client.get(url, headers=HTML))
        banner = page[page.index('class="patient-banner"'):page.index("</section>")]
        assert view.display_name in banner and view.age_label in banner and view.identity_status_label in banner
        assert ("Née le" if view.patient.sex == "F" else "Né le") in banner and "né(e)" not in page
        assert str(w.patient_id) not in banner and "Statut FHIR" not in page

    def test_the_specialist_has_one_primary_button_and_confirmed_destructive_actions(self, client, db):
        w = world(db)
        req = claimed(db, w)
        db.commit()
        sign_in(client, db, w.expert)
        page = body(client.get(f"/teleexpertise/demandes/{req.id}", headers=HTML))
        primaries = re.findall(r'<button type="submit" class="primary">([^<]*)</button>', page)
        assert primaries == ["Signer et rendre l'avis"]
        assert '<details class="confirm">\n    <summary>Refuser la demande…</summary>' in page
        assert '<details class="confirm">\n    <summary>Remettre la demande dans la file…</summary>' in page
        assert 'class="danger">Confirmer le refus</button>' in page

    def test_the_consent_box_stays_checked_after_a_refused_sending(self, client, db):
        w = world(db)
        db.commit()
        sign_in(client, db, w.requester)
        created = post_form(client, "/teleexpertise/nouvelle", {
            "patient_id": str(w.patient_id), "line_id": str(w.line.id), "urgency": "routine",
            "question": "Lésion du dos qui saigne : avis ?"})
        refused = post_form(client, f"{created.headers['location']}/envoyer", {"consent": "1"})
        assert refused.status_code == 422
        assert re.search(r'name="consent" value="1" checked', refused.text)
        fresh = client.get(created.headers["location"], headers=HTML)
        assert not re.search(r'name="consent" value="1" checked', fresh.text)


class TestWorklistAndBoard:
    def test_the_worklist_shows_the_line_s_open_requests(self, client, db):
        w = world(db)
        submitted(db, w, question="Première question de la file")
        db.commit()
        sign_in(client, db, w.expert)
        page = client.get(f"/teleexpertise/lignes/{w.line.id}", headers=HTML)
        assert page.status_code == 200 and "Première question de la file" in body(page)

    def test_the_worklist_has_its_triplet(self, client, db):
        w = world(db)
        db.commit()
        assert_triplet(client, db, "GET", f"/teleexpertise/lignes/{w.line.id}",
                       wrong_role_user=make_user(db, "nurse"), outsider_user=w.outsider, page=True)

    def test_the_board_counts_volume_delays_and_orientations(self, client, db):
        from maillage.teleexpertise import service

        w = world(db)
        req = claimed(db, w)
        service.answer(db, w.a(db, w.expert), req.id, OPINION)
        submitted(db, w)
        db.commit()
        sign_in(client, db, w.backup)
        page = client.get("/teleexpertise/coordination", headers=HTML)
        assert page.status_code == 200
        assert "2 (dont 1 ouvertes, 1 avec avis)" in body(page) and "Conseil, sans autre suite : 1" in body(page)

    def test_the_board_shows_each_requesting_establishment_of_a_line(self, client, db):
        import datetime as dt
        import re

        from maillage.kit.clock import now
        from maillage.models.directory import Establishment
        from maillage.models.teleexpertise import TeleexpertiseRequest

        w = world(db)
        ehpad = Establishment(kind="ehpad", name="EHPAD Les Tilleuls")
        db.add(ehpad)
        db.flush()
        at = now()
        for hours, establishment in ((2, ehpad.id), (6, ehpad.id), (10, None)):
            submitted_at = at - dt.timedelta(days=1)
            db.add(TeleexpertiseRequest(
                patient_id=w.patient_id, line_id=w.line.id, requester_id=w.requester.id, status="completed",
                urgency="routine", question="Question de test suffisamment longue.", submitted_at=submitted_at,
                due_at=submitted_at + dt.timedelta(hours=48), signed_at=submitted_at + dt.timedelta(hours=hours),
                closed_at=at, orientation="consultation", requester_establishment_id=establishment))
        db.commit()
        sign_in(client, db, w.backup)
        page = body(client.get("/teleexpertise/coordination", headers=HTML))
        assert "Par établissement demandeur" in page and re.search(r"Chiffres calculés à \d\d:\d\d", page)
        rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>"
                          r"<td>(.*?)</td><td>(.*?)</td><td>(\d+)</td><td>(.*?)</td></tr>", page)
        assert rows == [("EHPAD Les Tilleuls", "2", "0", "2", "2 h", "6 h", "0", "Consultation en présentiel : 2"),
                        ("Sans établissement de rattachement", "1", "0", "1", "10 h", "10 h", "0",
                         "Consultation en présentiel : 1")]
        other = client.get(f"/teleexpertise/coordination?ligne={w.other_line.id}", headers=HTML)
        assert other.status_code == 404  # a line the coordinator is not part of

    def test_the_board_has_its_triplet(self, client, db):
        assert_triplet(client, db, "GET", "/teleexpertise/coordination", wrong_role_user=make_user(db, "nurse"),
                       outsider_user=None, page=True)


def transferred(db, w):
    """A signed opinion with an urgent transfer: its admission request is open for the line's team."""
    from maillage.teleexpertise import service
    from maillage.teleexpertise.schemas import OpinionIn

    req = claimed(db, w)
    service.answer(db, w.a(db, w.expert), req.id, OpinionIn(answer=OPINION.answer, orientation="urgent_transfer"))
    return req


def timeline(db, w, req):
    from maillage.teleexpertise import service

    return [e.action for e in service.get_request(db, w.a(db, w.expert), req.id).events]


class TestAdmissionFollowUp:
    def test_the_team_accepts_with_a_date_then_records_the_arrival_and_the_requester_follows(self, client, db):
        w = world(db)
        req = transferred(db, w)
        db.commit()
        page_url = f"/teleexpertise/lignes/{w.line.id}/admissions"
        sign_in(client, db, w.colleague)
        page = client.get(page_url, headers=HTML)
        assert page.status_code == 200
        assert "Transfert urgent" in body(page) and "Demandée" in body(page) and "Accepter" in body(page)
        assert "Patient arrivé</button>" not in body(page)
        step = f"{page_url}/{req.id}"
        accepted = post_form(client, f"{step}/accepter", {"planned_date": "2026-12-03", "planned_time": "14:30"})
        assert accepted.status_code == 303 and accepted.headers["location"] == page_url
        after = body(client.get(page_url, headers=HTML))
        assert "Acceptée" in after and "prévue le 03/12/2026 14:30" in after and "Patient arrivé</button>" in after
        sign_in(client, db, w.requester)
        mine = body(client.get(f"/teleexpertise/demandes/{req.id}", headers=HTML))
        assert "acceptée" in mine and "admission prévue le 03/12/2026 14:30" in mine
        sign_in(client, db, w.colleague)
        assert post_form(client, f"{step}/arrivee").status_code == 303
        sign_in(client, db, w.requester)
        assert "patient arrivé" in body(client.get(f"/teleexpertise/demandes/{req.id}", headers=HTML))
        assert timeline(db, w, req)[-2:] == ["admission_accepted", "admission_arrived"]

    def test_a_refusal_needs_a_reason_and_the_requester_reads_it(self, client, db):
        w = world(db)
        req = transferred(db, w)
        db.commit()
        step = f"/teleexpertise/lignes/{w.line.id}/admissions/{req.id}"
        sign_in(client, db, w.colleague)
        short = post_form(client, f"{step}/refuser", {"reason": "non"})
        assert short.status_code == 422 and "motif" in body(short).lower()
        assert post_form(client, f"{step}/refuser", {"reason": "Pas de lit en réanimation"}).status_code == 303
        sign_in(client, db, w.requester)
        mine = body(client.get(f"/teleexpertise/demandes/{req.id}", headers=HTML))
        assert "refusée" in mine and "Pas de lit en réanimation" in mine

    def test_accepting_without_a_date_or_skipping_a_step_is_explained_in_french(self, client, db):
        w = world(db)
        req = transferred(db, w)
        db.commit()
        step = f"/teleexpertise/lignes/{w.line.id}/admissions/{req.id}"
        sign_in(client, db, w.colleague)
        no_date = post_form(client, f"{step}/accepter")
        assert no_date.status_code == 422 and "Indiquez la date d'admission prévue" in body(no_date)
        bad_date = post_form(client, f"{step}/accepter", {"planned_date": "2026-13-45"})
        assert bad_date.status_code == 422 and "Date ou heure d'admission invalide" in body(bad_date)
        too_soon = post_form(client, f"{step}/arrivee")
        assert too_soon.status_code == 409 and "ne peut pas passer" in body(too_soon)
        assert post_form(client, f"{step}/inconnue").status_code == 404

    def test_the_admissions_page_has_its_triplet(self, client, db):
        w = world(db)
        db.commit()
        assert_triplet(client, db, "GET", f"/teleexpertise/lignes/{w.line.id}/admissions",
                       wrong_role_user=make_user(db, "nurse"), outsider_user=w.outsider, page=True)

    def test_an_admission_step_has_its_triplet(self, client, db):
        w = world(db)
        req = transferred(db, w)
        db.commit()
        assert_triplet(client, db, "POST", f"/teleexpertise/lignes/{w.line.id}/admissions/{req.id}/arrivee",
                       wrong_role_user=make_user(db, "nurse"), outsider_user=w.outsider, page=True)


class TestAssignmentFromTheWorklist:
    def test_a_coordinator_gives_a_pool_request_to_a_specialist_of_the_line(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        url = f"/teleexpertise/lignes/{w.line.id}"
        sign_in(client, db, w.colleague)
        page = body(client.get(url, headers=HTML))
        assert "Attribuer" in page and w.expert.display_name in page and str(w.expert.person_id) in page
        assert w.outsider.display_name not in page
        done = post_form(client, f"{url}/attribuer/{req.id}", {"to_professional_id": str(w.expert.person_id)})
        assert done.status_code == 303 and done.headers["location"] == url
        from maillage.teleexpertise import service

        db.expire_all()
        d = service.get_request(db, w.a(db, w.expert), req.id)
        assert d.request.assignee_id == w.expert.id and d.events[-1].action == "assign"

    def test_a_specialist_outside_the_line_or_no_choice_is_refused_in_french(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        url = f"/teleexpertise/lignes/{w.line.id}/attribuer/{req.id}"
        sign_in(client, db, w.colleague)
        empty = post_form(client, url, {"to_professional_id": ""})
        assert empty.status_code == 422 and "Choisissez un spécialiste de la ligne" in body(empty)
        outside = post_form(client, url, {"to_professional_id": str(w.outsider.person_id)})
        assert outside.status_code == 422 and "ne répond pas aux demandes de cette ligne" in body(outside)

    def test_the_assignment_has_its_triplet(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        assert_triplet(client, db, "POST", f"/teleexpertise/lignes/{w.line.id}/attribuer/{req.id}",
                       data={"to_professional_id": str(w.expert.person_id)},
                       wrong_role_user=make_user(db, "nurse"), outsider_user=w.outsider, page=True)


def post_forms_without_token(html: str) -> list[str]:
    """The POST forms of a page that do not carry a non-empty ``csrf_token`` field (a browser would get a 403)."""
    forms = re.findall(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", html, flags=re.S | re.I)
    assert forms, "la page ne contient aucun formulaire POST"
    return [f[:120] for f in forms if not re.search(r'name="csrf_token" value="[^"]+"', f)]


class TestEveryFormCarriesTheCsrfToken:
    """The page tests post the token themselves; a browser only sends what the page rendered (issue 5's e2e test
    found the admissions and assignment forms rendered without it)."""

    @pytest.mark.parametrize(("state", "page_suffix"), [(transferred, "/admissions"), (submitted, "")],
                             ids=["admissions", "worklist"])
    def test_the_line_pages_forms_carry_it(self, client, db, state, page_suffix):
        w = world(db)
        state(db, w)
        db.commit()
        sign_in(client, db, w.colleague)
        page = client.get(f"/teleexpertise/lignes/{w.line.id}{page_suffix}", headers=HTML)
        assert post_forms_without_token(body(page)) == []
