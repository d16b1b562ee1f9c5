"""A transaction Bundle of Observations at the FHIR base, from a telesurveillance device: the readings go through
the ingestion service (the device's assignment decides the patient), all or nothing; a batch goes entry by entry;
people's bundles are not taken (403) and anonymous callers get 401, as OperationOutcome."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select

from maillage.models.monitoring import MonitoringReading
from maillage.monitoring import service
from tests.fhir.test_endpoints import outcome
from tests.fixtures.factories import make_user
from tests.fixtures.fhir import bearer
from tests.monitoring.conftest import World, actor, backdate, enrol_patient, register
from tests.monitoring.test_endpoints import iso


@pytest.fixture
def world(db: Any) -> World:
    """A telesurveillance team with a registered scale assigned to an enrolled patient (as tests/monitoring)."""
    users = {"admin": make_user(db, "administrator"), "physician": make_user(db, "physician"),
             "nurse": make_user(db, "coordinating_nurse"), "outsider_nurse": make_user(db, "nurse")}
    admin = actor(db, users["admin"])
    team = service.create_team(db, admin, establishment_id=uuid.uuid4(), name="Télésurveillance cardiologie",
                               ars_declaration="ARS-2026-001")
    service.add_member(db, admin, team.id, users["physician"].id, "physician")
    physician = actor(db, users["physician"])
    device, secret = register(db, physician, team, "SCALE-FHIR")
    enrolment = backdate(db, enrol_patient(db, physician, team, devices=["SCALE-FHIR"]), 10)
    db.commit()
    return World(admin, physician, actor(db, users["nurse"]), actor(db, users["outsider_nurse"]), team, device,
                 secret, enrolment.patient_id, enrolment, users)


def observation(ident: str, value: float, days: float) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "identifier": [{"system": "urn:scale", "value": ident}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, "effectiveDateTime": iso(days),
            "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}


def bundle(kind: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind,
            "entry": [{"resource": e, "request": {"method": "POST", "url": "Observation"}} for e in entries]}


def readings(db: Any, w: World) -> int:
    return db.scalar(select(func.count()).select_from(MonitoringReading)
                     .where(MonitoringReading.enrolment_id == w.enrolment.id))


def post(client, body, headers):
    return client.post("/fhir", json=body, headers={**headers, "content-type": "application/fhir+json"})


class TestTransactionBundle:
    def test_a_transaction_of_observations_is_stored_whole(self, client, db, world: World) -> None:
        headers = {"authorization": f"Bearer {world.secret}"}
        body = bundle("transaction", [observation(f"t-{i}", 78.0 + i / 10, 3 - i / 2) for i in range(5)])
        response = post(client, body, headers)
        assert response.status_code == 200, response.text
        reply = response.json()
        Bundle.model_validate(reply)
        assert reply["type"] == "transaction-response" and len(reply["entry"]) == 5
        assert readings(db, world) == 5
        again = post(client, body, headers)  # replayed: the device's identifiers make it idempotent
        assert again.status_code == 200 and readings(db, world) == 5

    def test_one_bad_entry_refuses_the_whole_transaction(self, client, db, world: World) -> None:
        headers = {"authorization": f"Bearer {world.secret}"}
        body = bundle("transaction", [observation("t-1", 78.0, 2), observation("t-2", 9000.0, 1)])
        response = post(client, body, headers)
        assert response.status_code == 422 and "rien n'a été enregistré" in outcome(response)
        assert readings(db, world) == 0

    def test_a_batch_goes_entry_by_entry(self, client, db, world: World) -> None:
        headers = {"authorization": f"Bearer {world.secret}"}
        body = bundle("batch", [observation("b-1", 78.0, 2), observation("b-2", 9000.0, 1)])
        reply = post(client, body, headers).json()
        assert [e["response"]["status"] for e in reply["entry"]] == ["201 Created", "422 Unprocessable Entity"]
        assert readings(db, world) == 1

    def test_people_and_anonymous_callers_are_refused(self, client, db, world: World) -> None:
        body = bundle("transaction", [observation("p-1", 78.0, 2)])
        assert post(client, body, {}).status_code == 401
        refused = post(client, body, bearer(db, world.users["physician"], ["user/*.cruds"]))
        assert refused.status_code == 403 and "appareils" in outcome(refused)
        assert readings(db, world) == 0
