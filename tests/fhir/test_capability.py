"""The CapabilityStatement is the truth: every interaction and search parameter it declares answers, nothing it does
not declare does; and a hostile pass over every declared parameter never gets a 500.

This is also the schemathesis suite's share of ``/fhir`` (tests/fuzz covers the OpenAPI document, where ``/fhir`` is
not described: FHIR clients read the CapabilityStatement, not OpenAPI, and the door answers with FHIR resources and
OperationOutcome rather than the API's error envelope)."""

from __future__ import annotations

import uuid

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from maillage.config import Settings
from maillage.fhir.registry import PAGING_PARAMS, REGISTRY
from maillage.security.policy import Permission
from tests.fhir.test_endpoints import valid
from tests.fixtures.factories import make_user
from tests.fixtures.fhir import bearer, full_world

SAMPLE = {"token": "x", "date": "ge2026-01-01", "reference": None, "string": "a", "number": "1"}
REFERENCE_TARGETS = {"patient": "Patient", "subject": "Patient", "organization": "Organization",
                     "prescription": "MedicationRequest", "based-on": "ServiceRequest"}
HOSTILE = ["", "|", "||", "eq", "ne2026", "2026-99-99", "\u0000", "é" * 300, "Patient/../../etc", "' OR 1=1 --",
           "-1", "9" * 40, "%", "ge", "urn:oid:|", "gt2026-01-01T99:00", ",,,"]


@pytest.fixture
def settings(tmp_path):
    """No rate limit: the hostile pass sends hundreds of requests a minute from one token, which is the point (the
    limiter answers 429 as an OperationOutcome too, and has its own tests in tests/web)."""
    return Settings(environment="test", var_dir=tmp_path / "var", log_json=True, secret_key="t" * 40,
                    rate_limit_enabled=False)


class Tokens:
    """The caller's token for every type, but an administrator's for the types only an administrator reads (the
    audit trail): the test world has something of each, reachable by one or the other."""

    def __init__(self, db, caller):
        scopes = [f"user/{name}.rs" for name in REGISTRY]
        self.care = bearer(db, caller, scopes)
        self.admin = bearer(db, make_user(db, "administrator"), scopes)

    def of(self, type_name: str) -> dict[str, str]:
        rt = REGISTRY.get(type_name)
        return self.admin if rt is not None and rt.permission == Permission.AUDIT_READ else self.care


@pytest.fixture
def world(client, db):
    w = full_world(db)
    return w, Tokens(db, w.caller)


def statement(client) -> dict:
    return client.get("/fhir/metadata").json()


def first_id(client, headers, type_name: str) -> str:
    bundle = client.get(f"/fhir/{type_name}?_count=1", headers=headers).json()
    assert bundle.get("entry"), f"no {type_name} reachable in the test world"
    return bundle["entry"][0]["resource"]["id"]


class TestEveryDeclaredInteractionAnswers:
    def test_read_and_search_of_every_declared_type_answer_valid_resources(self, client, world):
        _, headers = world
        checked = 0
        for resource in statement(client)["rest"][0]["resource"]:
            name = resource["type"]
            codes = {i["code"] for i in resource["interaction"]}
            if "search-type" in codes:
                response = client.get(f"/fhir/{name}", headers=headers.of(name))
                assert response.status_code == 200, (name, response.text)
                Bundle.model_validate(response.json())
            if "read" in codes:
                found = client.get(f"/fhir/{name}/{first_id(client, headers.of(name), name)}", headers=headers.of(name))
                assert found.status_code == 200 and valid(found.json())["resourceType"] == name
            checked += 1
        assert checked == len(REGISTRY) >= 4

    def test_every_declared_search_parameter_answers(self, client, world):
        w, headers = world
        checked = 0
        for resource in statement(client)["rest"][0]["resource"]:
            name = resource["type"]
            known = first_id(client, headers.of(name), name)
            for param in resource.get("searchParam", []):
                target = REFERENCE_TARGETS.get(param["name"], "Patient")
                value = SAMPLE[param["type"]] or (f"Patient/{w.patient_id}" if target == "Patient"
                                                  else f"{target}/{uuid.uuid4()}")
                if param["name"] == "_id":
                    value = known
                response = client.get(f"/fhir/{name}", params={param["name"]: value}, headers=headers.of(name))
                assert response.status_code == 200, (name, param["name"], response.text)
                Bundle.model_validate(response.json())
                checked += 1
        assert checked >= 12

    def test_the_declared_system_interactions_are_the_device_bundles(self, client, world):
        """transaction and batch at the base take a device's Observations (tests/fhir/test_transaction.py); a
        person's token is told so (403), which shows the route is there."""
        _, headers = world
        codes = {i["code"] for i in statement(client)["rest"][0]["interaction"]}
        assert codes == {"transaction", "batch"}
        for kind in codes:
            response = client.post("/fhir", json={"resourceType": "Bundle", "type": kind, "entry": []},
                                   headers=headers.care)
            assert response.status_code == 403

    def test_the_server_wide_paging_parameters_answer(self, client, world):
        _, headers = world
        assert client.get("/fhir/Observation", params={"_count": "1", "_sort": "-date"},
                          headers=headers.of("Observation")) \
            .status_code == 200


class TestNothingUndeclaredAnswers:
    def test_undeclared_search_parameters_are_refused(self, client, world):
        _, headers = world
        for resource in statement(client)["rest"][0]["resource"]:
            declared = {p["name"] for p in resource.get("searchParam", [])} | set(PAGING_PARAMS)
            for candidate in ("name", "birthdate", "_include", "_summary", "category", "_format", "organization"):
                if candidate in declared:
                    continue
                response = client.get(f"/fhir/{resource['type']}", params={candidate: "x"},
                                      headers=headers.of(resource["type"]))
                assert response.status_code == 400, (resource["type"], candidate)

    def test_undeclared_interactions_and_types_are_refused(self, client, world):
        _, headers = world
        declared = {r["type"]: {i["code"] for i in r["interaction"]} for r in statement(client)["rest"][0]["resource"]}
        for name, codes in declared.items():
            some = first_id(client, headers.of(name), name)
            if "update" not in codes:
                assert client.put(f"/fhir/{name}/{some}", json={"resourceType": name}, headers=headers.of(name)) \
                    .status_code in (404, 405)
            if "delete" not in codes:
                assert client.delete(f"/fhir/{name}/{some}", headers=headers.of(name)).status_code in (404, 405)
            if "create" not in codes:
                assert client.post(f"/fhir/{name}", json={"resourceType": name}, headers=headers.of(name)) \
                    .status_code in (404, 405)
            assert client.get(f"/fhir/{name}/{some}/_history", headers=headers.of(name)).status_code in (404, 405)
        for name in ("Spaceship", "Encounter", "Binary"):
            if name not in declared:
                assert client.get(f"/fhir/{name}", headers=headers.of(name)).status_code == 404


class TestHostileValues:
    def test_no_value_of_any_declared_parameter_gets_a_server_error(self, client, world):
        _, headers = world
        sent = 0
        for resource in statement(client)["rest"][0]["resource"]:
            params = [p["name"] for p in resource.get("searchParam", [])] + list(PAGING_PARAMS)
            for param in params:
                for value in HOSTILE:
                    response = client.get(f"/fhir/{resource['type']}", params={param: value},
                                          headers=headers.of(resource["type"]))
                    assert response.status_code in (200, 400, 422), (resource["type"], param, value, response.text)
                    assert response.headers["content-type"].startswith("application/fhir+json")
                    if response.status_code != 200:
                        OperationOutcome.model_validate(response.json())
                    sent += 1
        for value in [v for v in HOSTILE if v.isprintable() and "/" not in v and "%" not in v]:
            response = client.get(f"/fhir/Patient/{value or uuid.uuid4()}", headers=headers.care)
            assert response.status_code in (404, 405), (value, response.status_code)
        assert sent > 100
