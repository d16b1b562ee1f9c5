"""A real FHIR client library (fhirpy) over HTTP against a live ``maillage serve`` on PostgreSQL: read, search with
paging followed by the client, 404 on another's patient, OperationOutcome on a bad request, and the
CapabilityStatement as the client reads it. Every resource the client gets back validates with ``fhir.resources``.

The server runs on a database of its own (the configured test database's name + ``_fhirlive``), migrated and seeded
here before it starts, with this session's key folder (the vault and audit keys must agree)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound
from sqlalchemy.engine import make_url

from maillage.kit.db import make_engine, make_sessionmaker
from tests.conftest import _administer, postgres_url, run_migrations, skip_or_fail
from tests.e2e.conftest import start_server
from tests.fhir.test_endpoints import valid
from tests.fixtures.fhir import bearer, fhir_world


@dataclass
class Live:
    url: str
    token: str
    patient_id: str
    other_patient_id: str
    readings: int


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = postgres_url()
    if base is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    assert base is not None
    name = f"{make_url(base).database}_fhirlive"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    _administer(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            run_migrations(conn)
        with make_sessionmaker(engine)() as db:
            w = fhir_world(db, readings=12)
            headers = bearer(db, w.physician, ["user/Patient.rs", "user/Observation.rs"])
            seeded = Live("", headers["authorization"].removeprefix("Bearer "), str(w.patient.id),
                          str(w.other_patient.id), len(w.readings))
    finally:
        engine.dispose()
    var_dir = os.environ["MAILLAGE_VAR_DIR"]  # the session's keys (tests/conftest.py), shared with the server
    root = tmp_path_factory.mktemp("fhirlive")
    server = start_server(root / "var", extra_env={"MAILLAGE_DATABASE_URL": url, "MAILLAGE_VAR_DIR": var_dir,
                                                   "MAILLAGE_RATE_LIMIT_ENABLED": "false"}, demo=False)
    try:
        seeded.url = f"{server.url}/fhir"
        yield seeded
    finally:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
        _administer(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def client(live: Live) -> SyncFHIRClient:
    return SyncFHIRClient(live.url, authorization=f"Bearer {live.token}")


class TestWithFhirpy:
    def test_read_a_patient(self, live):
        patient = client(live).reference("Patient", live.patient_id).to_resource()
        assert patient["name"][0]["family"] == "Martin"
        valid(patient.serialize())

    def test_search_with_paging_follows_the_next_links(self, live):
        search = client(live).resources("Observation").search(patient=f"Patient/{live.patient_id}").limit(5)
        first_page = search.fetch()
        assert len(first_page) == 5
        everything = search.fetch_all()
        ids = [o.id for o in everything]
        assert len(ids) == len(set(ids)) == live.readings
        for observation in everything:
            valid(observation.serialize())
        dates = [o["effectiveDateTime"] for o in everything]
        assert dates == sorted(dates, reverse=True)

    def test_search_by_date_prefix_and_code(self, live):
        found = client(live).resources("Observation").search(
            patient=live.patient_id, date="ge2026-11-02T10:00:00Z", code="http://loinc.org|29463-7").fetch_all()
        assert len(found) == live.readings - 2

    def test_another_physicians_patient_is_not_found(self, live):
        with pytest.raises(ResourceNotFound):
            client(live).reference("Patient", live.other_patient_id).to_resource()
        assert client(live).resources("Observation").search(patient=live.other_patient_id).fetch() == []

    def test_a_bad_request_is_an_operation_outcome(self, live):
        with pytest.raises(OperationOutcome) as caught:
            client(live).resources("Observation").search(date="hier").fetch()
        assert "Date" in str(caught.value)

    def test_the_capability_statement_as_the_client_reads_it(self, live):
        raw = client(live).execute("metadata", method="get")
        CapabilityStatement.model_validate(raw)
        assert {"Patient", "Observation"} <= {r["type"] for r in raw["rest"][0]["resource"]}
