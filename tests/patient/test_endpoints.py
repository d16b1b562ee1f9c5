"""The patient JSON API: authorization triplet on every route, 409 proposal instead of a duplicate, masking of the
INS matricule below a qualified identity, identity vigilance for the identity officer only, audit entries."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from maillage.kit import clock
from maillage.models.audit import AuditEntry
from maillage.models.authz import CareRelationship
from maillage.models.patient import Patient
from tests.fixtures.factories import make_user
from tests.fixtures.patients import IDENTITIES, REASON, create, ins_of, insert_record, physician, qualified, traits
from tests.fixtures.web import assert_triplet, csrf_token, sign_in


def body(index: int = 0, **changes):
    t = traits(index, **changes)
    return {**t, "birth_date": t["birth_date"].isoformat()}


def without_request_id(payload):
    return {**payload, "error": {k: v for k, v in payload["error"].items() if k != "request_id"}}


def post(client, url, json):
    return client.post(url, json=json, headers={"x-csrf-token": csrf_token(client)})


class TestPatientRoutesAuthorization:
    @pytest.mark.parametrize(("method", "path", "json"), [
        ("GET", "", None),
        ("PATCH", "", {"phone": "0102030405"}),
        ("GET", "/consents", None),
        ("POST", "/consents", {"purpose": "teleexpertise", "decision": "consent"}),
        ("POST", "/identity-checks", {"insi_checked": False, "identity_document": "passport"}),
    ])
    def test_anonymous_wrong_role_and_outsider_are_refused(self, client, db, method, path, json):
        """Triplet (CONVENTIONS "Tests"): 401 anonymous, 403 a role without the permission, 404 without a care
        relationship."""
        owner = physician(db)
        view = create(db, owner)
        wrong = make_user(db, "analyst" if method == "GET" else "pharmacist")
        assert_triplet(client, db, method, f"/api/patients/{view.patient.id}{path}", json=json,
                       wrong_role_user=wrong, outsider_user=physician(db))

    def test_the_attach_route_refuses_other_traits_as_not_found(self, client, db):
        create(db, physician(db))
        assert_triplet(client, db, "POST", "/api/patients/attach",
                       json={**body(0, birthplace="75115"), "reason": REASON},
                       wrong_role_user=make_user(db, "pharmacist"), outsider_user=physician(db))

    def test_identity_vigilance_routes_refuse_other_roles(self, client, db):
        assert_triplet(client, db, "GET", "/api/patients/identity-vigilance/duplicates",
                       wrong_role_user=physician(db), outsider_user=None)
        assert_triplet(client, db, "PUT", f"/api/patients/{uuid.uuid4()}/identity-attributes",
                       json={"attributes": ["DOUT"]}, wrong_role_user=physician(db), outsider_user=None)


class TestCreateRoute:
    def test_a_new_patient_is_created_and_readable_by_its_creator(self, client, db):
        user = physician(db)
        sign_in(client, db, user)
        created = post(client, "/api/patients", body(0))
        assert created.status_code == 201, created.text
        read = client.get(f"/api/patients/{created.json()['id']}")
        assert read.status_code == 200
        assert read.json()["identity_status"] == "PROV"

    def test_the_same_traits_answer_a_neutral_409_and_the_refusal_is_audited(self, client, db):
        existing = create(db, physician(db))
        requester = physician(db)
        sign_in(client, db, requester)
        answer = post(client, "/api/patients", body(0))
        assert answer.status_code == 409
        error = answer.json()["error"]
        assert error["code"] == "identity_exists" and "déjà enregistrée" in error["message"]
        assert str(existing.patient.id) not in answer.text and "PROV" not in answer.text
        assert not error.get("details")
        assert db.scalar(select(Patient.id).where(Patient.id != existing.patient.id)) is None
        proposal = db.scalars(select(AuditEntry).where(AuditEntry.action == "propose")).one()
        assert (proposal.actor_id, proposal.patient_id, proposal.outcome, proposal.details) == (
            str(requester.id), str(existing.patient.id), "denied", {"match": "same_traits"})

    def test_an_ins_with_other_traits_answers_exactly_like_traits_that_match(self, client, db):
        """The INS oracle over HTTP: the body says nothing the caller did not send (no id, no status), and is the
        same, request id aside, as the refusal of a creation whose five traits match."""
        owner, prober = physician(db), physician(db)
        existing = qualified(db, owner, 0)
        create(db, owner, 2)
        db.commit()
        sign_in(client, db, prober)
        by_ins = post(client, "/api/patients", {**body(1), **ins_of(0)})
        by_traits = post(client, "/api/patients", body(2))
        assert by_ins.status_code == by_traits.status_code == 409
        assert without_request_id(by_ins.json()) == without_request_id(by_traits.json())
        assert str(existing.patient.id) not in by_ins.text and "QUAL" not in by_ins.text
        joined = post(client, "/api/patients/attach", {**body(1), "reason": REASON})
        nobody = post(client, "/api/patients/attach", {**body(7), "reason": REASON})
        assert joined.status_code == nobody.status_code == 404
        assert without_request_id(joined.json()) == without_request_id(nobody.json())

    def test_an_ins_probed_through_an_identity_check_is_audited_against_the_record_it_matched(self, client, db):
        """The INS oracle's side door: on a record of their own, a physician records an INSi check with someone
        else's INS. The refusal tells that the INS is carried in the GHT, like a refused creation; like it, the
        probe must leave an audit entry on the matched record (it left none: the refusal rolled everything back)."""
        owner, prober = physician(db), physician(db)
        existing = qualified(db, owner, 0)
        own = create(db, prober, 1)
        db.commit()
        sign_in(client, db, prober)
        answer = post(client, f"/api/patients/{own.patient.id}/identity-checks", {"insi_checked": True, **ins_of(0)})
        assert answer.status_code == 409
        assert str(existing.patient.id) not in answer.text and "QUAL" not in answer.text
        db.expire_all()
        probe = db.scalars(select(AuditEntry).where(AuditEntry.action == "propose")).one()
        assert (probe.actor_id, probe.patient_id, probe.outcome, probe.details) == (
            str(prober.id), str(existing.patient.id), "denied", {"match": "same_ins"})

    def test_the_trait_knowing_physician_gets_only_a_flagged_time_limited_access(self, client, db, settings):
        existing = create(db, physician(db))
        pid = existing.patient.id
        db.commit()
        intruder = physician(db)
        sign_in(client, db, intruder)
        assert post(client, "/api/patients", body(0)).status_code == 409
        vague = post(client, "/api/patients/attach", {**body(0), "reason": "urgence"})
        assert vague.status_code == 422
        assert client.get(f"/api/patients/{pid}").status_code == 404
        with clock.frozen(clock.now()) as c:
            attached = post(client, "/api/patients/attach", {**body(0), "reason": REASON})
            assert attached.status_code == 200 and attached.json()["id"] == str(pid)
            assert client.get(f"/api/patients/{pid}/consents").status_code == 200
            c.advance(dt.timedelta(minutes=settings.break_glass_minutes, seconds=1))
            sign_in(client, db, intruder)  # the session lapsed too: a fresh one, to test the access alone
            for path in ("", "/consents"):
                assert client.get(f"/api/patients/{pid}{path}").status_code == 404
        assert db.scalars(select(CareRelationship).where(CareRelationship.user_id == intruder.id)).all() == []
        flagged = db.scalars(select(AuditEntry).where(AuditEntry.action == "attach")).one()
        assert (flagged.break_glass, flagged.reason, flagged.actor_id) == (True, REASON, str(intruder.id))

    @pytest.mark.parametrize("changes", [
        {"birth_name": "<script>alert(1)</script>"},
        {"given_names": "Jeanne <img src=x onerror=alert(1)>"},
        {"used_name": "<b>DUPONT</b>"},
        {"used_given_name": "Jo;--"},
    ])
    def test_markup_in_a_name_is_refused_and_nothing_is_created(self, client, db, changes):
        """Names follow the INS character rules (patient.rules.name_problem)."""
        sign_in(client, db, physician(db))
        answer = post(client, "/api/patients", {**body(0), **changes})
        assert answer.status_code == 422, answer.text
        assert "n'est pas permis" in answer.json()["error"]["message"]
        assert db.scalar(select(Patient.id)) is None

    def test_markup_in_a_used_name_is_refused_on_update_and_nothing_changes(self, client, db):
        user = physician(db)
        view = create(db, user, used_name="Dupont")
        db.commit()
        sign_in(client, db, user)
        answer = client.patch(f"/api/patients/{view.patient.id}", json={"used_name": "<i>x</i>", "phone": "0600000000"},
                              headers={"x-csrf-token": csrf_token(client)})
        assert answer.status_code == 422
        db.expire_all()
        stored = db.get(Patient, view.patient.id)
        assert (stored.used_name, stored.phone) == ("Dupont", None)

    def test_invalid_traits_answer_422_in_french(self, client, db):
        sign_in(client, db, physician(db))
        answer = post(client, "/api/patients", body(0, birthplace="ABCDE"))
        assert answer.status_code == 422
        assert "lieu de naissance" in answer.json()["error"]["message"]


class TestMatriculeMasking:
    def test_below_a_qualified_identity_the_api_never_carries_the_matricule(self, client, db):
        user = physician(db)
        view = create(db, user, **ins_of(0), insi_checked=True)
        sign_in(client, db, user)
        payload = client.get(f"/api/patients/{view.patient.id}").json()
        assert payload["ins"]["matricule"] is None and payload["ins"]["matricule_shared"] is False
        assert IDENTITIES[0].ins.matricule.value not in client.get(f"/api/patients/{view.patient.id}").text
        found = client.get("/api/patients", params={"ins": IDENTITIES[0].ins.matricule.value}).json()
        assert [p["id"] for p in found] == [str(view.patient.id)]
        assert found[0]["ins"]["matricule"] is None

    def test_a_qualified_identity_carries_its_matricule_and_oid(self, client, db):
        user = physician(db)
        view = qualified(db, user)
        sign_in(client, db, user)
        ins = client.get(f"/api/patients/{view.patient.id}").json()["ins"]
        assert (ins["matricule"], ins["system"]) == (IDENTITIES[0].ins.matricule.value, "urn:oid:1.2.250.1.213.1.4.10")


class TestSearchRoute:
    def test_the_search_only_returns_the_callers_patients(self, client, db):
        mine, other = physician(db), physician(db)
        own = create(db, mine, 0, birth_name="Homonyme")
        create(db, other, 1, birth_name="Homonyme")
        sign_in(client, db, mine)
        found = client.get("/api/patients", params={"name": "homonyme"}).json()
        assert [p["id"] for p in found] == [str(own.patient.id)]

    def test_a_search_without_criteria_answers_422(self, client, db):
        sign_in(client, db, physician(db))
        assert client.get("/api/patients").status_code == 422

    @pytest.mark.parametrize("value", ["0", "20240101", "1.5e9"])
    def test_a_birth_date_given_as_a_number_is_refused_not_read_as_a_timestamp(self, client, db, value):
        """Found by the fuzzer (issue 8): `?birth_date=0` answered 200, the search run for 1 January 1970."""
        sign_in(client, db, physician(db))
        answer = client.get("/api/patients", params={"name": "martin", "birth_date": value})
        assert answer.status_code == 422
        assert "ISO 8601" in answer.text
        assert client.get("/api/patients", params={"name": "martin", "birth_date": "1970-01-01"}).status_code == 200

    def test_a_created_patient_with_a_numeric_birth_date_is_refused(self, client, db):
        sign_in(client, db, physician(db))
        answer = post(client, "/api/patients", {**body(0), "birth_date": 0})
        assert answer.status_code == 422
        assert db.scalars(select(Patient)).first() is None


class TestMineIsNotAPatientId:
    """Found by the fuzzer (issue 8): `/mine` was also matched by the routes of `/{patient_id}`."""

    def test_an_unsupported_method_on_mine_is_405_naming_only_get(self, client, db):
        sign_in(client, db, physician(db))
        answer = client.patch("/api/patients/mine", json={"phone": "0102030405"},
                              headers={"x-csrf-token": csrf_token(client)})
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET"
        assert client.options("/api/patients/mine").headers["allow"] == "GET"

    def test_a_patient_id_that_is_not_a_uuid_is_404_and_a_real_one_still_reads(self, client, db):
        user = physician(db)
        view = create(db, user)
        sign_in(client, db, user)
        assert client.get("/api/patients/pas-un-identifiant").status_code == 404
        assert client.get(f"/api/patients/{view.patient.id}").status_code == 200


class TestConsentRoutes:
    def test_consents_are_recorded_and_read_back_with_the_current_choice(self, client, db):
        user = physician(db)
        view = create(db, user)
        sign_in(client, db, user)
        assert post(client, f"/api/patients/{view.patient.id}/consents",
                    {"purpose": "data_reuse", "decision": "objection"}).status_code == 201
        read = client.get(f"/api/patients/{view.patient.id}/consents").json()
        current = {c["purpose"]: c for c in read["current"]}
        assert current["data_reuse"]["decision"] == "objection"
        assert [h["recorded_by"] for h in read["history"]] == [str(user.id)]


class TestIdentityVigilanceRoutes:
    def test_the_officer_lists_merges_and_undoes(self, client, db):
        first = insert_record(db, 0)
        second = insert_record(db, 0, birth_name=traits(0)["birth_name"].lower())
        officer = make_user(db, "identity_officer")
        sign_in(client, db, officer)
        pairs = client.get("/api/patients/identity-vigilance/duplicates").json()
        assert [p["reason"] for p in pairs] == ["same_traits"]
        merged = post(client, "/api/patients/identity-vigilance/merges",
                      {"kept_patient_id": str(first.id), "merged_patient_id": str(second.id),
                       "reason": "Même personne, vérifié"})
        assert merged.status_code == 201, merged.text
        assert client.get("/api/patients/identity-vigilance/duplicates").json() == []
        undone = post(client, f"/api/patients/identity-vigilance/merges/{merged.json()['id']}/undo",
                      {"reason": "Fusion erronée"})
        assert undone.status_code == 200 and undone.json()["unmerged_at"] is not None
        again = post(client, f"/api/patients/identity-vigilance/merges/{merged.json()['id']}/undo",
                     {"reason": "Fusion erronée"})
        assert again.status_code == 409

    def test_the_officer_reads_an_identity_for_vigilance_and_it_is_audited(self, client, db):
        view = create(db, physician(db))
        officer = make_user(db, "identity_officer")
        sign_in(client, db, officer)
        assert client.get(f"/api/patients/{view.patient.id}").status_code == 404
        read = client.get(f"/api/patients/{view.patient.id}", params={"purpose": "identity_vigilance"})
        assert read.status_code == 200
        purposes = [e.purpose for e in db.scalars(select(AuditEntry).where(
            AuditEntry.actor_id == str(officer.id), AuditEntry.patient_id == str(view.patient.id)))]
        assert sorted(purposes) == ["care", "identity_vigilance"]


class TestOpenApi:
    def test_the_patient_and_directory_routes_are_documented(self, client):
        paths = client.get("/api/openapi.json").json()["paths"]
        assert "/api/patients/{patient_id}" in paths and "/api/patients/identity-vigilance/merges" in paths
        assert "/api/directory/specialty-lines" in paths and "/offre/catalogue.json" in paths
