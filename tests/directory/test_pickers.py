"""Pickers: the communes' and physicians' choices a form shows as one types (issue 17: names, not codes, for
people). Communes are open data, served to anyone; the directory's physicians only to a signed-in professional."""

from __future__ import annotations

import html

from maillage.directory import communes, pickers
from tests.fixtures.directory import hospital, professional
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, sign_in

HTML = {"accept": "text/html"}


class TestCommuneSearch:
    def test_a_name_typed_without_accents_or_hyphens_finds_the_commune_first(self):
        assert [c.insee for c in communes.search_communes("st junien")][:1] == ["87154"]
        assert communes.search_communes("Limoges")[0].insee == "87085"
        assert communes.commune_label(communes.get_commune("87002")) == "Ambazac (Haute-Vienne)"

    def test_too_short_or_a_number_finds_nothing(self):
        assert communes.search_communes("l") == [] and communes.search_communes("87000") == []

    def test_the_public_endpoint_lists_choices_with_the_code_as_value_and_the_name_as_label(self, client):
        page = client.get("/communes/choix", params={"champ": "commune_insee", "commune_insee_q": "ambazac"},
                          headers=HTML)
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert 'name="commune_insee" value="87002"' in text and "Ambazac (Haute-Vienne)" in text
        assert "87002<" not in text  # the code is the value, never the text shown

    def test_the_chosen_commune_stays_checked_when_the_search_changes(self, client):
        page = client.get("/communes/choix", params={"champ": "commune_insee", "commune_insee_q": "limoges",
                                                     "commune_insee": "87002"}, headers=HTML)
        text = html.unescape(page.text)
        assert 'value="87002" checked' in text and "Ambazac (Haute-Vienne)" in text and "Limoges" in text

    def test_nothing_found_says_so(self, client):
        page = client.get("/communes/choix", params={"champ": "commune_insee", "commune_insee_q": "zzzzqq"},
                          headers=HTML)
        assert page.status_code == 200 and "Aucun résultat" in page.text

    def test_an_unknown_field_name_is_refused(self, client):
        page = client.get("/communes/choix", params={"champ": "x\"><script>", "q": "lim"}, headers=HTML)
        assert page.status_code == 422 and "<script>" not in page.text


class TestPhysicianSearch:
    def test_the_physicians_choices_need_an_account(self, client, db):
        assert_triplet(client, db, "GET", "/annuaire/choix/medecins?champ=attending_rpps&attending_rpps_q=martin",
                       page=True, wrong_role_user=None, outsider_user=None)

    def test_a_physician_is_found_by_name_with_the_rpps_as_value_and_where_he_practises(self, client, db):
        place = hospital(db, name="Centre hospitalier de Saint-Junien")
        gp = professional(db, last_name="Lacombe", first_name="Henri", specialty_code="SM54",
                          establishment_id=place.id)
        professional(db, last_name="Lacombe", first_name="Rose", profession_code="60", specialty_code=None)  # nurse
        db.commit()
        sign_in(client, db, make_user(db, "nurse"))
        page = client.get("/annuaire/choix/medecins", params={"champ": "attending_rpps",
                                                              "attending_rpps_q": "lacombe"}, headers=HTML)
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert f'name="attending_rpps" value="{gp.rpps}"' in text and "Dr Henri Lacombe" in text.replace("LACOMBE",
                                                                                                        "Lacombe")
        assert "Centre hospitalier de Saint-Junien" in text and "Rose" not in text  # physicians only
        assert f">{gp.rpps}" not in text

    def test_a_number_is_not_searched(self, db):
        gp = professional(db, last_name="Vidal")
        assert pickers.professional_choices(db, gp.rpps) == []
