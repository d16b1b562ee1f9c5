"""Directory pages: search (with its HTMX results), establishment, professional, lines, the administrator's import
page, and the public offer catalogue readable without an account."""

from __future__ import annotations

import html
import uuid

import pytest
from sqlalchemy import select

from maillage.directory import admin_service
from maillage.kit.clock import now
from maillage.models.directory import Professional, SpecialtyLine
from maillage.models.monitoring import MonitoringTeam
from tests.fixtures.directory import RPPS_FILE, admin, hospital, line_data, professional
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in, sign_out

HTML = {"accept": "text/html"}


@pytest.fixture
def territory(db):
    e = hospital(db, name="Centre hospitalier de Limoges")
    p = professional(db, establishment_id=e.id)
    view = admin_service.save_line(db, admin(db), line_data(e.id, answering=[p.id]))
    user = make_user(db, "physician")
    admin_service.link_account(db, user, professional_id=p.id, establishment_ids=[e.id])
    db.commit()
    return {"establishment": e, "professional": p, "line": view, "user": user}


class TestAuthorization:
    @pytest.mark.parametrize("path", ["/annuaire", "/annuaire/lignes", "/annuaire/lignes/{id}",
                                      "/annuaire/etablissements/{id}", "/annuaire/professionnels/{id}"])
    def test_directory_pages_need_an_account_and_missing_objects_are_404(self, client, db, path):
        concrete = path.format(id=uuid.uuid4())
        assert_triplet(client, db, "GET", concrete, page=True, wrong_role_user=None,
                       outsider_user=make_user(db, "analyst") if "{id}" in path else None)

    def test_the_import_page_is_for_administrators(self, client, db):
        assert_triplet(client, db, "GET", "/admin/annuaire/import", page=True,
                       wrong_role_user=make_user(db, "physician"), outsider_user=None)


class TestSearchPage:
    def test_the_specialist_sees_the_lines_they_answer(self, client, db, territory):
        sign_in(client, db, territory["user"])
        page = client.get("/annuaire", headers=HTML)
        assert page.status_code == 200 and "Mes lignes d'avis" in page.text
        assert "Dermatologie : avis sur photo" in page.text

    def test_htmx_gets_only_the_results(self, client, db, territory):
        sign_in(client, db, make_user(db, "nurse"))
        page = client.get("/annuaire", params={"q": "limoges", "type": "etablissements"},
                          headers={**HTML, "hx-request": "true"})
        assert page.text.lstrip().startswith('<div id="resultats"')
        assert "Centre hospitalier de Limoges" in page.text and "<html" not in page.text

    def test_professionals_are_found_by_name(self, client, db, territory):
        sign_in(client, db, make_user(db, "nurse"))
        page = client.get("/annuaire", params={"q": "martin", "type": "professionnels"}, headers=HTML)
        assert "Dr Claire MARTIN" in page.text and territory["professional"].rpps in page.text


class TestDetailPages:
    def test_the_establishment_page_lists_lines_and_staff(self, client, db, territory):
        sign_in(client, db, make_user(db, "pharmacist"))
        page = client.get(f"/annuaire/etablissements/{territory['establishment'].id}", headers=HTML)
        assert page.status_code == 200
        assert "Établissement support" in page.text and "Dr Claire MARTIN" in page.text

    def test_the_line_page_shows_delays_requirements_and_who_answers(self, client, db, territory):
        sign_in(client, db, make_user(db, "nurse"))
        page = client.get(f"/annuaire/lignes/{territory['line'].id}", headers=HTML)
        assert "7 jours" in page.text and "48 h" in page.text and "au moins 1" in page.text
        assert "Dr Claire MARTIN" in page.text

    def test_the_professional_page_shows_the_derived_national_identifier(self, client, db, territory):
        sign_in(client, db, make_user(db, "nurse"))
        p = territory["professional"]
        page = client.get(f"/annuaire/professionnels/{p.id}", headers=HTML)
        assert p.national_id in page.text and "répond aux demandes" in page.text


class TestImportPage:
    def test_an_administrator_imports_an_extract_and_sees_the_bad_line(self, client, db):
        sign_in(client, db, make_user(db, "administrator"))
        with open(RPPS_FILE, "rb") as handle:
            page = client.post("/admin/annuaire/import", files={"fichier": ("rpps.txt", handle)},
                               data={"kind": "rpps", "seuil": "1", "csrf_token": csrf_token(client)}, headers=HTML)
        assert page.status_code == 200 and "Ligne 90" in page.text and "créé(s)" in page.text

    def test_a_refused_extract_imports_nothing(self, client, db):
        sign_in(client, db, make_user(db, "administrator"))
        with open(RPPS_FILE, "rb") as handle:
            page = client.post("/admin/annuaire/import", files={"fichier": ("rpps.txt", handle)},
                               data={"kind": "rpps", "seuil": "0.1", "csrf_token": csrf_token(client)}, headers=HTML)
        assert page.status_code == 422 and "Rien n'a été importé" in page.text and "Ligne 90" in page.text
        assert db.query(Professional).count() == 0


class TestPublicOffer:
    def test_the_offer_is_readable_without_an_account(self, client, db, territory):
        sign_out(client)
        page = client.get("/offre", headers=HTML)
        assert page.status_code == 200
        assert "Dermatologie : avis sur photo" in page.text and "Comment adresser une demande" in page.text
        assert "Dr Claire MARTIN" not in page.text
        detail = client.get(f"/offre/{territory['line'].id}", headers=HTML)
        assert detail.status_code == 200 and "réponse sous 48 h" in detail.text

    def test_the_offer_is_filtered_for_a_kind_of_requester(self, client, db, territory):
        admin_service.save_line(db, admin(db), line_data(territory["establishment"].id, specialty_code="SM42",
                                                   title="Psychiatrie", requirements=[], min_photos=0,
                                                   accepts_ehpad=False))
        db.commit()
        page = client.get("/offre", params={"pour": "ehpad"}, headers=HTML)
        assert "Dermatologie : avis sur photo" in page.text and "Psychiatrie" not in page.text

    def test_nothing_is_announced_before_it_exists(self, client, db, territory):
        """Issue 17: the public offer names what a visitor can be sent to: a line's declared teleconsultation stays in
        the directory and its API (teleconsultations are booked by professionals, on a practitioner's availability);
        without a telesurveillance team, the offer names no telesurveillance."""
        admin_service.save_line(db, admin(db), line_data(territory["establishment"].id, specialty_code="SM42",
                                                   title="Psychiatrie", requirements=[], min_photos=0,
                                                   teleconsultation=True))
        db.commit()
        sign_out(client)
        for path in ("/offre", *(f"/offre/{line.id}" for line in db.scalars(select(SpecialtyLine)))):
            page = client.get(path, headers=HTML)
            assert page.status_code == 200
            assert "consultation" not in page.text.lower(), path
            assert "télésurveillance" not in page.text.lower(), path

    def test_the_telesurveillance_programmes_are_offered_once_a_team_runs_them(self, client, db, territory):
        db.add(MonitoringTeam(establishment_id=territory["establishment"].id, name="Unité de télésurveillance",
                              active=True, created_at=now()))
        db.commit()
        sign_out(client)
        text = html.unescape(client.get("/offre", headers=HTML).text)
        assert "Télésurveillance : les programmes" in text
        assert "Unité de télésurveillance (Centre hospitalier de Limoges)" in text
        assert "Insuffisance cardiaque chronique" in text and "poids (quotidienne)" in text
        assert "JORF" not in text

    def test_an_unpublished_or_unknown_line_is_404(self, client, db, territory):
        assert client.get(f"/offre/{uuid.uuid4()}", headers=HTML).status_code == 404
