"""JSON and FHIR routes of telesurveillance, through the real application and middleware."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from maillage.kit.clock import now
from maillage.models.monitoring import MonitoringAlert, MonitoringReading
from maillage.monitoring import ingest as pipeline
from tests.fixtures.factories import make_patient_id, make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in, sign_out
from tests.monitoring.conftest import World, weights


def bearer(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.secret}"}


def iso(days: float = 0) -> str:
    return (now() - dt.timedelta(days=days, minutes=5)).isoformat()


def count_readings(db: Any, world: World) -> int:
    return db.scalar(select(func.count()).select_from(MonitoringReading)
                     .where(MonitoringReading.enrolment_id == world.enrolment.id))


def observation(ident: str, value: float, days: float, unit: str = "kg", code: str = "29463-7") -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:scale", "value": ident}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "effectiveDateTime": iso(days),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


class TestPostBatch:
    def test_a_device_posts_a_batch_and_gets_each_readings_outcome(self, client, db, world: World) -> None:
        body = {"readings": [
            {"id": "b-1", "code": "29463-7", "value": 78.0, "unit": "kg", "at": iso(3)},
            {"id": "b-2", "code": "weight", "value": 180.0, "unit": "[lb_av]", "at": iso(0)},
            {"id": "b-3", "code": "weight", "value": 7000, "unit": "kg", "at": iso(0)},
        ]}
        response = client.post("/api/monitoring/readings", json=body, headers=bearer(world))
        assert response.status_code == 200, response.text
        reply = response.json()
        assert (reply["accepted"], reply["rejected"]) == (2, 1)
        assert [r["outcome"] for r in reply["results"]] == ["stored", "stored", "rejected"]
        assert reply["results"][2]["code"] == "value_impossible"
        assert count_readings(db, world) == 2
        alert = db.scalar(select(MonitoringAlert).where(MonitoringAlert.condition == "weight_gain_3d"))
        assert alert is not None and alert.severity == "red"  # 180 lb = 81.6 kg: +3.6 kg in 3 days

    def test_a_retried_batch_is_acknowledged_and_stored_once(self, client, db, world: World) -> None:
        body = {"readings": [{"id": "r-1", "code": "weight", "value": 80.0, "unit": "kg", "at": iso(1)}]}
        first = client.post("/api/monitoring/readings", json=body, headers=bearer(world)).json()
        second = client.post("/api/monitoring/readings", json=body, headers=bearer(world)).json()
        assert first["accepted"] == 1 and second["duplicates"] == 1 and count_readings(db, world) == 1

    def test_a_malformed_batch_is_refused_whole_and_changes_nothing(self, client, db, world: World) -> None:
        body = {"readings": [{"id": "r-1", "code": "weight", "value": 80.0, "unit": "kg", "at": iso(1)},
                             {"code": "weight", "value": 80.0}]}
        response = client.post("/api/monitoring/readings", json=body, headers=bearer(world))
        assert response.status_code == 422 and count_readings(db, world) == 0

    def test_a_document_that_is_not_json_is_refused_with_where_it_breaks(self, client, db, world: World) -> None:
        """The compact batch is parsed from its bytes (``BatchRunner.ingest_compact``): a syntax error, a document of
        another shape or another content type is refused 422 as FastAPI refuses a body, and nothing is stored."""
        reading = b'{"readings": [{"id": "r-1", "code": "weight", "value": 80.0, "unit": "kg", "at": "%s"}]}' % (
            iso(1).encode())
        cases = [(reading[:-3], "application/json", "body", "json_invalid"),
                 (b'[{"id": "r-1"}]', "application/json", "body", "dict_type"),
                 (reading, "text/plain", "body", "content_type")]
        for content, content_type, field, kind in cases:
            response = client.post("/api/monitoring/readings", content=content,
                                    headers={**bearer(world), "Content-Type": content_type})
            assert response.status_code == 422, response.text
            details = response.json()["error"]["details"]
            assert [(d["field"], d["type"]) for d in details] == [(field, kind)], details
        assert count_readings(db, world) == 0
        accepted = client.post("/api/monitoring/readings", content=reading,
                               headers={**bearer(world), "Content-Type": "application/json; charset=utf-8"})
        assert accepted.status_code == 200 and accepted.json()["accepted"] == 1

    def test_the_openapi_document_describes_the_batch(self, client) -> None:
        operation = client.get("/api/openapi.json").json()["paths"]["/api/monitoring/readings"]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert operation["requestBody"]["required"] is True
        assert schema["required"] == ["readings"] and schema["properties"]["readings"]["maxItems"] == 5000
        assert set(schema["properties"]["readings"]["items"]["required"]) == {"id", "code", "value", "at"}

    def test_utf8_behind_a_byte_order_mark_is_read_utf16_is_refused(self, client, db, world: World) -> None:
        """RFC 8259 §8.1: networked JSON is UTF-8, and a parser MAY ignore a byte order mark."""
        text = '{"readings": [{"id": "r-%s", "code": "weight", "value": 80.0, "unit": "kg", "at": "%s"}]}'
        headers = {**bearer(world), "Content-Type": "application/json"}
        marked = client.post("/api/monitoring/readings", content=b"\xef\xbb\xbf" + (text % (1, iso(1))).encode(),
                             headers=headers)
        assert marked.status_code == 200 and marked.json()["accepted"] == 1, marked.text
        wide = client.post("/api/monitoring/readings", content=(text % (2, iso(1))).encode("utf-16"), headers=headers)
        assert wide.status_code == 422
        assert [(d["field"], d["type"]) for d in wide.json()["error"]["details"]] == [("body", "json_encoding")]
        assert count_readings(db, world) == 1

    def test_anonymous_callers_get_401(self, client) -> None:
        response = client.post("/api/monitoring/readings", json={"readings": []})
        assert response.status_code == 401
        # Authentication is decided before the body is read: a broken document changes nothing to the answer.
        broken = client.post("/api/monitoring/readings", content=b'{"readings": [',
                             headers={"Content-Type": "application/json"})
        assert broken.status_code == 401

    def test_a_professional_gets_403(self, client, db, world: World) -> None:
        sign_in(client, db, world.users["nurse"])
        response = client.post("/api/monitoring/readings", headers={"x-csrf-token": csrf_token(client)},
                               json={"readings": [{"id": "x", "code": "weight", "value": 80, "at": iso()}]})
        assert response.status_code == 403
        broken = client.post("/api/monitoring/readings", content=b"{", headers={
            "x-csrf-token": csrf_token(client), "Content-Type": "text/plain"})
        assert broken.status_code == 403

    def test_a_personal_token_cannot_ingest(self, client, db, world: World) -> None:
        from maillage.auth import tokens

        issued = tokens.create_personal_token(db, world.users["nurse"], name="t", scopes=[])
        response = client.post("/api/monitoring/readings", headers={"Authorization": f"Bearer {issued.secret}"},
                               json={"readings": [{"id": "x", "code": "weight", "value": 80, "at": iso()}]})
        assert response.status_code == 403


class TestPostObservation:
    def test_created_then_recognised_as_a_duplicate(self, client, db, world: World) -> None:
        body = observation("o-1", 80.0, 1)
        first = client.post("/api/monitoring/fhir/Observation", json=body, headers=bearer(world))
        second = client.post("/api/monitoring/fhir/Observation", json=body, headers=bearer(world))
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.headers["content-type"].startswith("application/fhir+json")
        assert count_readings(db, world) == 1

    def test_without_the_devices_identifier_it_is_refused(self, client, db, world: World) -> None:
        body = observation("o-1", 80.0, 1)
        del body["identifier"]
        response = client.post("/api/monitoring/fhir/Observation", json=body, headers=bearer(world))
        assert response.status_code == 422
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "identifiant" in response.json()["issue"][0]["diagnostics"]

    def test_an_invalid_fhir_resource_is_refused(self, client, world: World) -> None:
        body = observation("o-1", 80.0, 1)
        body["status"] = "not-a-status"
        response = client.post("/api/monitoring/fhir/Observation", json=body, headers=bearer(world))
        assert response.status_code == 422

    def test_an_impossible_value_is_refused(self, client, db, world: World) -> None:
        response = client.post("/api/monitoring/fhir/Observation", json=observation("o-9", 900.0, 1),
                               headers=bearer(world))
        assert response.status_code == 422 and count_readings(db, world) == 0

    def test_a_blood_pressure_panel_gives_one_reading_per_component(self, client, db, world: World) -> None:
        body = {
            "resourceType": "Observation", "status": "final", "identifier": [{"value": "bp-1"}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, "effectiveDateTime": iso(1),
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": 135, "unit": "mmHg", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                 "valueQuantity": {"value": 85, "unit": "mmHg", "code": "mm[Hg]"}},
            ],
        }
        response = client.post("/api/monitoring/fhir/Observation", json=body, headers=bearer(world))
        assert response.status_code == 201, response.text
        keys = set(db.scalars(select(MonitoringReading.external_id)))
        assert keys == {"bp-1#8480-6", "bp-1#8462-4"}


class TestPostBundle:
    def bundle(self, kind: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": kind,
                "entry": [{"resource": e, "request": {"method": "POST", "url": "Observation"}} for e in entries]}

    def test_a_batch_bundle_answers_entry_by_entry(self, client, db, world: World) -> None:
        body = self.bundle("batch", [observation("e-1", 78.0, 3), observation("e-2", 900.0, 2),
                                     observation("e-3", 80.5, 0)])
        response = client.post("/api/monitoring/fhir", json=body, headers=bearer(world))
        assert response.status_code == 200, response.text
        reply = response.json()
        assert reply["type"] == "batch-response"
        assert [e["response"]["status"] for e in reply["entry"]] == ["201 Created", "422 Unprocessable Entity",
                                                                     "201 Created"]
        assert count_readings(db, world) == 2

    def test_a_transaction_bundle_is_all_or_nothing(self, client, db, world: World) -> None:
        body = self.bundle("transaction", [observation("t-1", 78.0, 3), observation("t-2", 900.0, 2)])
        response = client.post("/api/monitoring/fhir", json=body, headers=bearer(world))
        assert response.status_code == 422 and count_readings(db, world) == 0

    def test_a_replayed_bundle_answers_200_per_entry(self, client, db, world: World) -> None:
        body = self.bundle("batch", [observation("e-1", 78.0, 3)])
        client.post("/api/monitoring/fhir", json=body, headers=bearer(world))
        reply = client.post("/api/monitoring/fhir", json=body, headers=bearer(world)).json()
        assert reply["entry"][0]["response"]["status"] == "200 OK" and count_readings(db, world) == 1

    def test_other_bundle_types_are_refused(self, client, world: World) -> None:
        body = self.bundle("collection", [observation("e-1", 78.0, 3)])
        assert client.post("/api/monitoring/fhir", json=body, headers=bearer(world)).status_code == 422


class TestAlertRoutes:
    def make_alert(self, db: Any, world: World) -> MonitoringAlert:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        db.commit()
        return db.scalar(select(MonitoringAlert).where(MonitoringAlert.condition == "weight_gain_3d"))

    def test_the_worklist_lists_red_first(self, client, db, world: World) -> None:
        self.make_alert(db, world)
        sign_in(client, db, world.users["nurse"])
        body = client.get("/api/monitoring/alerts").json()
        assert [a["condition"] for a in body["red"]] == ["weight_gain_3d"]
        sign_out(client)
        sign_in(client, db, world.users["outsider_nurse"])
        assert client.get("/api/monitoring/alerts").json()["red"] == []

    def test_acknowledge_triplet_and_success(self, client, db, world: World) -> None:
        alert = self.make_alert(db, world)
        url = f"/api/monitoring/alerts/{alert.id}/acknowledge"
        assert_triplet(client, db, "POST", url, json={"comment": "vu"},
                       wrong_role_user=make_user(db, "pharmacist"), outsider_user=world.users["outsider_nurse"])
        sign_in(client, db, world.users["nurse"])
        response = client.post(url, json={"comment": "Appel du patient"}, headers={"x-csrf-token": csrf_token(client)})
        assert response.status_code == 200 and response.json()["status"] == "closed"

    def test_escalate_triplet(self, client, db, world: World) -> None:
        alert = self.make_alert(db, world)
        assert_triplet(client, db, "POST", f"/api/monitoring/alerts/{alert.id}/escalate", json={"comment": ""},
                       wrong_role_user=make_user(db, "analyst"), outsider_user=world.users["outsider_nurse"])

    def test_acknowledge_all_green(self, client, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((0, 80.1)))
        db.commit()
        sign_in(client, db, world.users["nurse"])
        reply = client.post("/api/monitoring/alerts/acknowledge-green", headers={"x-csrf-token": csrf_token(client)})
        assert reply.status_code == 200 and reply.json()["count"] == 1


class TestEnrolmentRoutes:
    def test_enrol_through_the_api(self, client, db, world: World) -> None:
        from maillage.authz import service as authz

        pid = make_patient_id(db)
        authz.grant_relationship(db, user_id=world.physician.user_id, patient_id=pid, kind="attending")
        db.commit()
        sign_in(client, db, world.users["physician"])
        body = {"patient_id": str(pid), "team_id": str(world.team.id), "programme": "diabetes",
                "prescribed_on": now().date().isoformat(), "duration_months": 3, "consent": True,
                "references": {"hypo_threshold": 60}}
        response = client.post("/api/monitoring/enrolments", json=body, headers={"x-csrf-token": csrf_token(client)})
        assert response.status_code == 201, response.text
        assert response.json()["reference_values"] == {"hypo_threshold": 60.0}

    def test_a_prescription_date_given_as_a_number_is_refused_and_nothing_is_enrolled(self, client, db,
                                                                                       world: World) -> None:
        """Pydantic's lax mode would read 0 as 1 January 1970 (issue 8: dates are ISO 8601 strings, never numbers)."""
        from maillage.authz import service as authz
        from maillage.models.monitoring import MonitoringEnrolment

        pid = make_patient_id(db)
        authz.grant_relationship(db, user_id=world.physician.user_id, patient_id=pid, kind="attending")
        db.commit()
        sign_in(client, db, world.users["physician"])
        body = {"patient_id": str(pid), "team_id": str(world.team.id), "programme": "diabetes",
                "prescribed_on": 0, "duration_months": 3, "consent": True}
        response = client.post("/api/monitoring/enrolments", json=body, headers={"x-csrf-token": csrf_token(client)})
        assert response.status_code == 422, response.text
        assert "ISO 8601" in response.text
        assert db.query(MonitoringEnrolment).filter_by(patient_id=pid).count() == 0

    def test_enrolment_read_triplet(self, client, db, world: World) -> None:
        db.commit()
        assert_triplet(client, db, "GET", f"/api/monitoring/enrolments/{world.enrolment.id}",
                       wrong_role_user=make_user(db, "billing_officer"), outsider_user=world.users["outsider_nurse"])

    def test_pause_triplet(self, client, db, world: World) -> None:
        db.commit()
        from maillage.authz import service as authz

        other = make_user(db, "physician")
        authz.grant_relationship(db, user_id=other.id, patient_id=make_patient_id(db), kind="attending")
        assert_triplet(client, db, "POST", f"/api/monitoring/enrolments/{world.enrolment.id}/pause",
                       json={"reason": "holidays"}, wrong_role_user=world.users["outsider_nurse"],
                       outsider_user=other)

    def test_programmes_are_listed_with_their_sources(self, client, db, world: World) -> None:
        sign_in(client, db, world.users["nurse"])
        body = client.get("/api/monitoring/programmes").json()
        heart = next(p for p in body if p["key"] == "heart_failure")
        assert heart["forfait_cents"] == 2800 and all(r["source"] for r in heart["rules"])
        assert heart["data"][0] == {"measure": "weight", "required": True, "frequency": "quotidienne",
                                    "code": "29463-7", "system": "http://loinc.org", "unit": "kg"}
