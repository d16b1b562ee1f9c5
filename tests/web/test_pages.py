"""The shell's pages: the home per role and the components reference page (development only)."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from maillage.config import Settings
from tests.fixtures.factories import make_user
from tests.fixtures.teleexpertise import submitted, world
from tests.fixtures.web import sign_in

HTML = {"accept": "text/html"}


class TestHome:
    def test_signed_out_the_home_presents_maillage_and_links_the_login(self, client):
        page = client.get("/", headers=HTML)
        assert page.status_code == 200 and "Bienvenue sur Maillage" in page.text and 'href="/connexion"' in page.text

    def test_the_specialist_sees_what_waits_each_a_link_with_its_count(self, client, db):
        w = world(db)
        submitted(db, w)
        db.commit()
        sign_in(client, db, w.expert)
        text = html.unescape(client.get("/", headers=HTML).text)
        assert "Ce qui vous attend" in text
        assert f'href="/teleexpertise/lignes/{w.line.id}"' in text and "demande à traiter" in text

    def test_nothing_waiting_says_what_to_do(self, client, db):
        sign_in(client, db, make_user(db, "identity_officer"))
        text = html.unescape(client.get("/", headers=HTML).text)
        assert "Aucune paire d'identités n'attend votre examen" in text and 'class="empty-state"' in text
        assert 'href="/identitovigilance"' in text

    def test_a_role_with_nothing_waiting_is_told_what_it_can_do_today(self, client, db):
        sign_in(client, db, make_user(db, "billing_officer"))
        text = html.unescape(client.get("/", headers=HTML).text)
        assert "Ce que vous pouvez faire aujourd'hui" in text and 'class="empty-state"' not in text
        for href in ("/facturation", "/annuaire", "/offre", "/compte"):
            assert f'href="{href}"' in text
        assert client.get("/facturation", headers=HTML).status_code in (200, 404), "the link has its page"

    def test_no_page_nor_menu_mentions_a_capability_without_pages(self, client, db):
        sign_in(client, db, make_user(db, "physician"))
        home = client.get("/", headers=HTML).text.lower()
        assert "ordonnance" not in home
        assert 'href="/teleconsultation"' in home
        assert client.get("/teleconsultation", headers=HTML).status_code == 200, "the menu's entry has its pages"
        assert 'href="/messagerie"' in home
        assert client.get("/messagerie", headers=HTML).status_code == 200, "the menu's entry has its pages"


class TestComponents:
    def test_the_reference_page_is_served_in_development(self, tmp_path, sessions):
        from maillage.app import create_app

        settings = Settings(environment="development", var_dir=tmp_path / "var", log_json=True, secret_key="t" * 40)
        with TestClient(create_app(settings, sessions), base_url="http://127.0.0.1") as c:
            page = c.get("/composants", headers=HTML)
            searched = c.get("/composants", params={"c_commune_q": "ambazac", "chercher": "c_commune"},
                             headers=HTML)
        assert page.status_code == 200
        for marker in ('class="danger"', 'class="secondary"', "<caption>", 'class="empty-state"', 'class="check"',
                       'class="field-error"', 'class="picker"'):
            assert marker in page.text
        assert 'value="87002"' in searched.text and "Ambazac (Haute-Vienne)" in searched.text  # without JavaScript

    def test_the_reference_page_is_missing_outside_development(self, client):
        assert client.get("/composants", headers=HTML).status_code == 404
