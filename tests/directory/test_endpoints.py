"""The directory JSON API and the public catalogue JSON: every professional reads the directory, administrators
change it, anonymous callers get 401 except on the public catalogue."""

from __future__ import annotations

import uuid

import pytest

from maillage.models.directory import Professional
from tests.fixtures.directory import RPPS_FILE, admin, hospital, line_data, professional
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in


def post(client, url, json):
    return client.post(url, json=json, headers={"x-csrf-token": csrf_token(client)})


class TestReadRoutes:
    @pytest.mark.parametrize("path", ["/api/directory/establishments/{id}", "/api/directory/professionals/{id}",
                                      "/api/directory/specialty-lines/{id}"])
    def test_anonymous_callers_get_401_and_a_missing_object_404(self, client, db, path):
        """Directory reads are open to every professional role (directory.read): no wrong role exists; a missing
        object answers 404."""
        assert_triplet(client, db, "GET", path.format(id=uuid.uuid4()), wrong_role_user=None,
                       outsider_user=make_user(db, "billing_officer"))

    def test_a_line_is_read_with_its_delays_members_and_ans_code_system(self, client, db):
        from maillage.directory import admin_service

        e = hospital(db)
        p = professional(db)
        view = admin_service.save_line(db, admin(db), line_data(e.id, answering=[p.id]))
        sign_in(client, db, make_user(db, "nurse"))
        line = client.get(f"/api/directory/specialty-lines/{view.id}").json()
        assert line["specialty_code"] == "SM15" and line["specialty_system"].endswith("TRE-R38-SpecialiteOrdinale")
        assert [(c["urgency"], c["response_minutes"]) for c in line["commitments"]] == [("urgent", 2880),
                                                                                      ("routine", 10080)]
        assert [m["display_name"] for m in line["members"]] == ["Dr Claire MARTIN"]
        found = client.get("/api/directory/specialty-lines", params={"q": "dermatologie", "audience": "ehpad"}).json()
        assert [x["id"] for x in found] == [str(view.id)]

    def test_professionals_carry_the_derived_national_identifier(self, client, db):
        p = professional(db)
        sign_in(client, db, make_user(db, "pharmacist"))
        payload = client.get(f"/api/directory/professionals/{p.id}").json()
        assert payload["national_id"] == "8" + p.rpps and payload["profession_label"] == "Médecin"
        assert [x["id"] for x in client.get("/api/directory/professionals", params={"q": p.rpps}).json()] == [
            str(p.id)]

    def test_the_specialty_table_is_served(self, client, db):
        sign_in(client, db, make_user(db, "analyst"))
        codes = {s["code"]: s["label"] for s in client.get("/api/directory/specialties").json()}
        assert codes["SM15"] == "Dermatologie et Vénéréologie" and codes["SM54"] == "Médecine générale"

    def test_an_unknown_kind_is_a_french_422(self, client, db):
        sign_in(client, db, make_user(db, "physician"))
        answer = client.get("/api/directory/establishments", params={"kind": "castle"})
        assert answer.status_code == 422 and "Type d'établissement" in answer.json()["error"]["message"]


class TestAdministrationRoutes:
    def test_creating_an_establishment_follows_the_triplet(self, client, db):
        assert_triplet(client, db, "POST", "/api/directory/establishments",
                       json={"name": "Clinique", "kind": "hospital"}, wrong_role_user=make_user(db, "physician"),
                       outsider_user=None)

    def test_an_administrator_creates_a_professional_and_a_line(self, client, db):
        e = hospital(db)
        sign_in(client, db, make_user(db, "administrator"))
        created = post(client, "/api/directory/professionals", {
            "rpps": "99900000057", "last_name": "Durand", "first_name": "Alix", "profession_code": "10",
            "specialty_code": "SM04", "establishment_id": str(e.id)})
        assert created.status_code == 201, created.text
        assert created.json()["national_id"] == "899900000057"
        line = post(client, "/api/directory/specialty-lines", {
            "establishment_id": str(e.id), "specialty_code": "SM04", "title": "Cardiologie : lecture d'ECG",
            "requirements": ["ecg"], "commitments": {"routine": 4320, "very_urgent": 120},
            "answering": [created.json()["id"]]})
        assert line.status_code == 201, line.text
        assert line.json()["commitments"][0] == {"urgency": "very_urgent", "urgency_label": "Très urgent",
                                                 "response_minutes": 120, "response_label": "2 h"}
        changed = client.put(f"/api/directory/specialty-lines/{line.json()['id']}", headers={
            "x-csrf-token": csrf_token(client)}, json={**line_data(e.id).model_dump(mode="json")})
        assert changed.status_code == 200 and changed.json()["specialty_code"] == "SM15"

    def test_an_uploaded_extract_is_imported_by_an_administrator(self, client, db):
        sign_in(client, db, make_user(db, "administrator"))
        with open(RPPS_FILE, "rb") as handle:
            answer = client.post("/api/directory/imports/rpps", files={"file": ("rpps.txt", handle)},
                                 data={"threshold": "0.01"}, headers={"x-csrf-token": csrf_token(client)})
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["valid"] == 119 and result["errors"][0]["line"] == 90 and result["created"] > 0
        assert db.query(Professional).count() == result["created"]

    def test_an_uploaded_extract_over_the_threshold_is_refused_whole(self, client, db):
        sign_in(client, db, make_user(db, "administrator"))
        with open(RPPS_FILE, "rb") as handle:
            answer = client.post("/api/directory/imports/rpps", files={"file": ("rpps.txt", handle)},
                                 data={"threshold": "0.001"}, headers={"x-csrf-token": csrf_token(client)})
        assert answer.status_code == 422
        assert answer.json()["error"]["details"][0]["line"] == 90
        assert db.query(Professional).count() == 0


class TestPublicCatalogue:
    def test_the_catalogue_is_public_and_names_no_professional(self, client, db):
        from maillage.directory import admin_service

        e = hospital(db)
        p = professional(db, last_name="Secretname")
        admin_service.save_line(db, admin(db), line_data(e.id, answering=[p.id]))
        db.commit()
        answer = client.get("/offre/catalogue.json")
        assert answer.status_code == 200
        catalogue = answer.json()
        assert [line["specialty_code"] for line in catalogue["lines"]] == ["SM15"]
        assert "SECRETNAME" not in answer.text.upper()
        assert catalogue["lines"][0]["commitments"][0]["response_label"] == "48 h"
