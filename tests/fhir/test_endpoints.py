"""The FHIR door over HTTP (TestClient, real migrated database): read and search of the mapped resources, paging by
cursor, scopes and roles, OperationOutcome errors, the out-of-scope patient answered exactly like a missing one, and
the audit trail. Every returned resource is validated with ``fhir.resources`` (R4B: the same structures as R4)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.group import Group
from fhir.resources.R4B.healthcareservice import HealthcareService
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task
from sqlalchemy import select

from maillage.models.audit import AuditEntry
from maillage.models.directory import Establishment, Professional
from tests.fixtures.factories import make_user
from tests.fixtures.fhir import T0, add_enrolment, add_reading, bearer, fhir_world, full_world
from tests.fixtures.teleexpertise import photo
from tests.fixtures.web import sign_in

MODELS: dict[str, Any] = {"Patient": Patient, "Observation": Observation, "Practitioner": Practitioner,
                          "Organization": Organization, "ServiceRequest": ServiceRequest,
                          "EpisodeOfCare": EpisodeOfCare, "HealthcareService": HealthcareService,
                          "DocumentReference": DocumentReference, "Binary": Binary,
                          "MedicationRequest": MedicationRequest, "MedicationDispense": MedicationDispense,
                          "Group": Group, "Task": Task, "Appointment": Appointment, "AuditEvent": AuditEvent,
                          "Communication": Communication, "Consent": Consent, "Device": Device,
                          "Encounter": Encounter, "Flag": Flag, "Location": Location}


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    MODELS[resource["resourceType"]].model_validate(resource)
    return resource


def outcome(response) -> str:
    assert response.headers["content-type"].startswith("application/fhir+json"), response.headers
    body = response.json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]["diagnostics"]


def entries(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    Bundle.model_validate(body)
    return [valid(e["resource"]) for e in body.get("entry", [])]


def next_link(response) -> str | None:
    return next((link["url"] for link in response.json()["link"] if link["relation"] == "next"), None)


class TestMetadata:
    def test_the_capability_statement_is_public_and_valid(self, client):
        response = client.get("/fhir/metadata")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+json")
        statement = response.json()
        CapabilityStatement.model_validate(statement)
        types = {r["type"] for r in statement["rest"][0]["resource"]}
        assert {"Patient", "Observation", "Practitioner", "Organization"} <= types

    def test_the_smart_configuration_is_public_at_both_places(self, client):
        for url in ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"):
            body = client.get(url).json()
            assert "permission-v2" in body["capabilities"] and "user/Observation.rs" in body["scopes_supported"]


class TestPatientRead:
    def test_a_physician_reads_her_patient_and_the_read_is_audited(self, client, db):
        w = fhir_world(db)
        response = client.get(f"/fhir/Patient/{w.patient.id}", headers=bearer(db, w.physician, ["user/Patient.rs"]))
        assert response.status_code == 200, response.text
        patient = valid(response.json())
        assert patient["name"][0] == {"use": "official", "family": "Martin", "given": ["Claire", "Anne"]}
        assert [i["system"] for i in patient["identifier"]] == ["urn:ietf:rfc:3986"]  # not qualified: no INS
        audited = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "patient",
                                                      AuditEntry.patient_id == str(w.patient.id))).all()
        assert [(a.action, a.outcome, a.actor_id) for a in audited] == [("read", "success", str(w.physician.id))]

    def test_the_ins_is_given_only_for_a_qualified_identity(self, client, db):
        w = fhir_world(db)
        w.patient.ins_matricule, w.patient.ins_oid = "248025912345686", "1.2.250.1.213.1.4.10"
        db.commit()
        headers = bearer(db, w.physician, ["user/Patient.rs"])
        ids = client.get(f"/fhir/Patient/{w.patient.id}", headers=headers).json()["identifier"]
        assert "urn:oid:1.2.250.1.213.1.4.10" not in [i["system"] for i in ids]
        w.patient.identity_status = "QUAL"
        db.commit()
        resource = valid(client.get(f"/fhir/Patient/{w.patient.id}", headers=headers).json())
        ins = [i for i in resource["identifier"] if i["system"] == "urn:oid:1.2.250.1.213.1.4.10"]
        assert ins == [{"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.10", "value": "248025912345686",
                        "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                                             "code": "INS-NIR"}]}}]
        assert resource["meta"]["profile"][0].endswith("fr-core-patient-ins")

    def test_another_physicians_patient_is_404_exactly_like_a_missing_one_and_the_attempt_is_audited(self, client, db):
        w = fhir_world(db)
        headers = bearer(db, w.physician, ["user/*.rs"])
        other = client.get(f"/fhir/Patient/{w.other_patient.id}", headers=headers)
        missing = client.get(f"/fhir/Patient/{uuid.uuid4()}", headers=headers)
        assert other.status_code == missing.status_code == 404
        assert other.json() == missing.json()
        assert outcome(other)
        refused = db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(w.other_patient.id),
                                                      AuditEntry.outcome == "denied")).all()
        assert [a.actor_id for a in refused] == [str(w.physician.id)]

    def test_a_malformed_id_is_404(self, client, db):
        w = fhir_world(db)
        assert client.get("/fhir/Patient/pas-un-uuid", headers=bearer(db, w.physician, [])).status_code == 404


class TestScopesAndRoles:
    def test_anonymous_is_401_as_an_operation_outcome(self, client, db):
        fhir_world(db)
        response = client.get("/fhir/Patient")
        assert response.status_code == 401
        assert outcome(response)

    def test_a_token_without_the_scope_is_403(self, client, db):
        w = fhir_world(db)
        headers = bearer(db, w.physician, ["user/Observation.rs"])
        response = client.get(f"/fhir/Patient/{w.patient.id}", headers=headers)
        assert response.status_code == 403
        assert "user/Patient.r" in outcome(response)
        read_only = bearer(db, w.physician, ["user/Observation.r"])
        assert client.get("/fhir/Observation", headers=read_only).status_code == 403

    def test_a_token_with_only_maillage_permissions_has_no_fhir_scope(self, client, db):
        w = fhir_world(db)
        response = client.get("/fhir/Patient", headers=bearer(db, w.physician, ["patient.read"]))
        assert response.status_code == 403

    def test_the_scope_does_not_lift_the_role(self, client, db):
        """An analyst's token may carry user/*.rs: the analyst's role still has no patient reading (403)."""
        w = fhir_world(db)
        response = client.get("/fhir/Patient", headers=bearer(db, w.analyst, ["user/*.rs"]))
        assert response.status_code == 403

    def test_a_personal_token_may_not_carry_a_system_scope(self, client, db):
        w = fhir_world(db)
        sign_in(client, db, w.physician)
        from maillage.auth import tokens
        from maillage.exceptions import ValidationFailed

        try:
            tokens.create_personal_token(db, w.physician, name="x", scopes=["system/*.rs"])
        except ValidationFailed as exc:
            assert "system" in str(exc.details)
        else:
            raise AssertionError("a personal token took a system scope")

    def test_a_browser_session_acts_with_its_role(self, client, db):
        w = fhir_world(db)
        sign_in(client, db, w.physician)
        assert client.get(f"/fhir/Patient/{w.patient.id}").status_code == 200


class TestPatientSearch:
    def test_the_search_returns_only_the_callers_patients_and_audits_them(self, client, db):
        w = fhir_world(db)
        found = entries(client.get("/fhir/Patient", headers=bearer(db, w.physician, ["user/Patient.rs"])))
        assert [p["id"] for p in found] == [str(w.patient.id)]
        listed = db.scalars(select(AuditEntry).where(AuditEntry.action == "search",
                                                     AuditEntry.object_type == "patient")).all()
        assert len(listed) == 1 and listed[0].details["count"] == 1

    def test_by_identifier_local_and_ins(self, client, db):
        w = fhir_world(db)
        w.patient.ins_matricule, w.patient.ins_oid = "248025912345686", "1.2.250.1.213.1.4.10"
        w.patient.identity_status = "QUAL"
        db.commit()
        headers = bearer(db, w.physician, ["user/Patient.rs"])
        local = entries(client.get(f"/fhir/Patient?identifier=urn:ietf:rfc:3986|urn:uuid:{w.patient.id}",
                                   headers=headers))
        ins = entries(client.get("/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|248025912345686",
                                 headers=headers))
        wrong = entries(client.get("/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|248025912345686",
                                   headers=headers))
        assert [p["id"] for p in local] == [p["id"] for p in ins] == [str(w.patient.id)] and wrong == []

    def test_an_unknown_parameter_is_400_with_the_accepted_ones(self, client, db):
        w = fhir_world(db)
        response = client.get("/fhir/Patient?name=Martin", headers=bearer(db, w.physician, ["user/Patient.rs"]))
        assert response.status_code == 400
        assert "identifier" in outcome(response)


class TestObservation:
    def test_read_maps_loinc_and_ucum(self, client, db):
        w = fhir_world(db)
        reading = w.readings[0]
        obs = valid(client.get(f"/fhir/Observation/{reading.id}",
                               headers=bearer(db, w.physician, ["user/Observation.rs"])).json())
        assert obs["code"]["coding"][0] == {"system": "http://loinc.org", "code": "29463-7", "display": "Poids"}
        assert obs["valueQuantity"] == {"value": 70.0, "unit": "kg", "system": "http://unitsofmeasure.org",
                                        "code": "kg"}
        assert obs["subject"] == {"reference": f"Patient/{w.patient.id}"}
        assert obs["effectiveDateTime"] == "2026-11-02T08:00:00Z"

    def test_another_patients_observation_is_404_like_a_missing_one(self, client, db):
        w = fhir_world(db)
        headers = bearer(db, w.physician, ["user/Observation.rs"])
        theirs = db.scalars(select(AuditEntry).where(AuditEntry.id.is_(None))).all()  # none yet
        assert theirs == []
        other_reading = add_reading(db, w.other_patient.id, at=T0)
        db.commit()
        other = client.get(f"/fhir/Observation/{other_reading.id}", headers=headers)
        missing = client.get("/fhir/Observation/999999999", headers=headers)
        assert other.status_code == missing.status_code == 404 and other.json() == missing.json()

    def test_search_by_patient_date_prefixes_code_and_status(self, client, db):
        w = fhir_world(db)
        headers = bearer(db, w.physician, ["user/Observation.rs"])
        base = f"/fhir/Observation?patient=Patient/{w.patient.id}"
        assert len(entries(client.get(base, headers=headers))) == 5
        later = entries(client.get(f"{base}&date=ge2026-11-02T10:00:00Z", headers=headers))
        assert [o["valueQuantity"]["value"] for o in later] == [74.0, 73.0, 72.0]
        before = entries(client.get(f"{base}&date=lt2026-11-02T10:00:00Z&_sort=date", headers=headers))
        assert [o["valueQuantity"]["value"] for o in before] == [70.0, 71.0]
        window = entries(client.get(f"{base}&date=gt2026-11-02T08:00:00Z&date=le2026-11-02T10:00:00Z",
                                    headers=headers))
        assert [o["valueQuantity"]["value"] for o in window] == [72.0, 71.0]
        assert len(entries(client.get(f"{base}&code=http://loinc.org|29463-7", headers=headers))) == 5
        assert len(entries(client.get(f"{base}&code=3141-9", headers=headers))) == 5  # another code of weight
        assert entries(client.get(f"{base}&code=http://loinc.org|8867-4", headers=headers)) == []
        assert len(entries(client.get(f"{base}&status=final", headers=headers))) == 5
        assert entries(client.get(f"{base}&status=preliminary", headers=headers)) == []

    def test_another_patients_observations_never_come_back(self, client, db):
        w = fhir_world(db)
        headers = bearer(db, w.physician, ["user/Observation.rs"])
        assert entries(client.get(f"/fhir/Observation?patient={w.other_patient.id}", headers=headers)) == []
        everything = entries(client.get("/fhir/Observation?_count=100", headers=headers))
        assert {o["subject"]["reference"] for o in everything} == {f"Patient/{w.patient.id}"}

    def test_paging_by_cursor_is_stable_when_readings_arrive(self, client, db):
        w = fhir_world(db, readings=7)
        headers = bearer(db, w.physician, ["user/Observation.rs"])
        first = client.get(f"/fhir/Observation?patient={w.patient.id}&_count=3", headers=headers)
        seen = [o["id"] for o in entries(first)]
        add_reading(db, w.patient.id, at=T0 + dt.timedelta(days=1), value=99.0)  # newer than everything
        add_reading(db, w.patient.id, at=T0 + dt.timedelta(hours=3, minutes=30), value=88.0)  # inside the next page
        db.commit()
        url = next_link(first)
        while url:
            response = client.get(url.removeprefix("http://127.0.0.1"), headers=headers)
            seen.extend(o["id"] for o in entries(response))
            url = next_link(response)
        original = [str(r.id) for r in sorted(w.readings, key=lambda r: r.taken_at, reverse=True)]
        assert [i for i in seen if i in original] == original  # none lost, none twice, in order
        assert len(seen) == len(set(seen)) == 8  # the 88.0 falls after the cursor and is met once

    def test_a_forged_cursor_or_a_cursor_on_another_sort_is_400(self, client, db):
        w = fhir_world(db)
        headers = bearer(db, w.physician, ["user/Observation.rs"])
        assert client.get("/fhir/Observation?_cursor=!!", headers=headers).status_code == 400
        first = client.get("/fhir/Observation?_count=2", headers=headers)
        cursor = next_link(first).split("_cursor=")[1]
        response = client.get(f"/fhir/Observation?_count=2&_sort=date&_cursor={cursor}", headers=headers)
        assert response.status_code == 400 and "Curseur" in outcome(response)

    def test_a_bad_date_or_prefix_is_400_in_french(self, client, db):
        w = fhir_world(db)
        headers = bearer(db, w.physician, ["user/Observation.rs"])
        bad = client.get("/fhir/Observation?date=hier", headers=headers)
        assert bad.status_code == 400 and "Date" in outcome(bad)
        assert client.get("/fhir/Observation?date=ap2026-11-02", headers=headers).status_code == 400

    def test_the_search_audits_the_patients_it_returned(self, client, db):
        w = fhir_world(db)
        entries(client.get("/fhir/Observation", headers=bearer(db, w.physician, ["user/Observation.rs"])))
        listed = db.scalars(select(AuditEntry).where(AuditEntry.action == "search",
                                                     AuditEntry.object_type == "observation")).all()
        assert len(listed) == 1 and listed[0].details["count"] == 5


class TestDirectory:
    def test_practitioner_and_organization_read_and_search_by_identifier(self, client, db):
        w = fhir_world(db)
        pro = Professional(rpps="10005173140", national_id="810005173140", last_name="Roux", first_name="Paul",
                           profession_code="10")
        org = Establishment(kind="hospital", name="CH de Guéret", finess_et="230780041")
        db.add_all([pro, org])
        db.commit()
        headers = bearer(db, w.analyst, ["user/Practitioner.rs", "user/Organization.rs"])
        practitioner = valid(client.get(f"/fhir/Practitioner/{pro.id}", headers=headers).json())
        assert {"system": "https://rpps.esante.gouv.fr", "value": "10005173140"}.items() <= \
            practitioner["identifier"][1].items()
        found = entries(client.get("/fhir/Practitioner?identifier=https://rpps.esante.gouv.fr|10005173140",
                                   headers=headers))
        assert [p["id"] for p in found] == [str(pro.id)]
        organization = valid(client.get(f"/fhir/Organization/{org.id}", headers=headers).json())
        assert organization["identifier"][0]["value"] == "230780041"
        assert [o["id"] for o in entries(client.get("/fhir/Organization?identifier=230780041", headers=headers))] \
            == [str(org.id)]


class TestUnknownTypes:
    def test_an_unknown_type_is_404_as_an_operation_outcome(self, client, db):
        w = fhir_world(db)
        response = client.get("/fhir/Spaceship", headers=bearer(db, w.physician, []))
        assert response.status_code == 404 and "Spaceship" in outcome(response)


class TestServiceRequest:
    def test_the_requester_reads_and_finds_her_request_with_its_confluences_status(self, client, db):
        w = full_world(db)
        headers = bearer(db, w.caller, ["user/ServiceRequest.rs"])
        resource = valid(client.get(f"/fhir/ServiceRequest/{w.request_id}", headers=headers).json())
        assert resource["status"] == "active" and resource["subject"] == {"reference": f"Patient/{w.patient_id}"}
        assert resource["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "published"
        found = entries(client.get(f"/fhir/ServiceRequest?patient={w.patient_id}&status=active", headers=headers))
        assert [r["id"] for r in found] == [str(w.request_id)]
        assert entries(client.get("/fhir/ServiceRequest?status=completed", headers=headers)) == []

    def test_someone_outside_the_request_gets_404_like_a_missing_one(self, client, db):
        w = full_world(db)
        stranger = fhir_world(db).physician
        headers = bearer(db, stranger, ["user/ServiceRequest.rs"])
        theirs = client.get(f"/fhir/ServiceRequest/{w.request_id}", headers=headers)
        missing = client.get(f"/fhir/ServiceRequest/{uuid.uuid4()}", headers=headers)
        assert theirs.status_code == missing.status_code == 404
        assert entries(client.get("/fhir/ServiceRequest", headers=headers)) == []


class TestTask:
    def test_the_request_is_a_task_of_the_same_id_whose_status_tells_where_it_stands(self, client, db):
        """Confluences: the ServiceRequest says what is asked, the Task where its handling stands and who holds it
        (published → requested, held by the line until a specialist takes it)."""
        w = full_world(db)
        headers = bearer(db, w.caller, ["user/Task.rs"])
        task = valid(client.get(f"/fhir/Task/{w.request_id}", headers=headers).json())
        assert task["status"] == "requested" and task["basedOn"] == [{"reference": f"ServiceRequest/{w.request_id}"}]
        assert task["for"] == {"reference": f"Patient/{w.patient_id}"}
        assert task["owner"] == {"reference": f"HealthcareService/{w.line_id}"}
        found = entries(client.get(f"/fhir/Task?patient={w.patient_id}&status=requested", headers=headers))
        assert [r["id"] for r in found] == [str(w.request_id)]
        assert entries(client.get("/fhir/Task?status=active", headers=headers)) == []  # a ServiceRequest status
        assert client.get(f"/fhir/Task/{w.request_id}", headers=bearer(db, w.caller, ["user/ServiceRequest.rs"])
                          ).status_code == 403
        stranger = bearer(db, fhir_world(db).physician, ["user/Task.rs"])
        theirs = client.get(f"/fhir/Task/{w.request_id}", headers=stranger)
        missing = client.get(f"/fhir/Task/{uuid.uuid4()}", headers=stranger)
        assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()


class TestDocumentReference:
    def test_the_patients_document_and_its_content_through_the_door(self, client, db):
        w = full_world(db)
        headers = bearer(db, w.caller, ["user/DocumentReference.rs", "user/Binary.rs"])
        listed = entries(client.get(f"/fhir/DocumentReference?patient={w.patient_id}&status=current",
                                    headers=headers))
        [found] = [valid(r) for r in listed if r.get("description") == "Photographie de la lésion"]
        assert found["subject"]["reference"] == f"Patient/{w.patient_id}"
        assert found["type"]["coding"][0] == {"system": "http://loinc.org", "code": "72170-4",
                                              "display": found["type"]["coding"][0]["display"]}
        url = found["content"][0]["attachment"]["url"]
        assert url == f"Binary/{found['id']}"
        content = valid(client.get(f"/fhir/{url}", headers=headers).json())
        assert base64.b64decode(content["data"]) == photo() and content["contentType"] == "image/png"
        assert entries(client.get("/fhir/DocumentReference?status=entered-in-error", headers=headers)) == []
        assert entries(client.get("/fhir/DocumentReference?type=http://loinc.org|11488-4", headers=headers)) == []
        exported = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "document",
                                                       AuditEntry.object_id == found["id"])).all()
        assert [e.action for e in exported if e.action != "upload"] == ["export"]  # the Binary's read
        listed = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "document",
                                                     AuditEntry.action == "search")).all()
        assert listed and all(e.details["count"] >= 1 for e in listed)  # each search page, with its patients

    def test_a_search_page_never_decrypts_a_content_and_gives_the_sha1_stored_at_upload(self, client, db,
                                                                                       monkeypatch):
        """Review fix: the hash of R4's Attachment is the SHA-1 kept at upload; a DocumentReference page reads no
        blob (a row stored before the column existed is filled once, the first time)."""
        from maillage.models.document import Document
        from maillage.vault import service as vault

        w = full_world(db)
        headers = bearer(db, w.caller, ["user/DocumentReference.rs"])
        rows = db.scalars(select(Document).where(Document.patient_id == w.patient_id)).all()
        assert rows and all(r.sha1 is not None for r in rows)
        old = rows[0]
        old.sha1 = None  # as stored before the column existed
        db.commit()
        found = valid(client.get(f"/fhir/DocumentReference/{old.id}", headers=headers).json())
        db.expire_all()
        assert db.get(Document, old.id).sha1 is not None
        expected = base64.b64encode(bytes.fromhex(db.get(Document, old.id).sha1)).decode()
        assert found["content"][0]["attachment"]["hash"] == expected

        def no_decryption(*args, **kwargs):
            raise AssertionError("a DocumentReference search decrypted a content")

        monkeypatch.setattr(vault, "read_blob", no_decryption)
        listed = entries(client.get(f"/fhir/DocumentReference?patient={w.patient_id}", headers=headers))
        assert len(listed) == len(rows) and all(r["content"][0]["attachment"]["hash"] for r in listed)

    def test_a_stranger_gets_404_like_a_missing_document_and_finds_nothing(self, client, db):
        w = full_world(db)
        mine = bearer(db, w.caller, ["user/DocumentReference.rs"])
        found = entries(client.get("/fhir/DocumentReference", headers=mine))[0]
        stranger = bearer(db, fhir_world(db).physician, ["user/DocumentReference.rs", "user/Binary.rs"])
        for kind in ("DocumentReference", "Binary"):
            theirs = client.get(f"/fhir/{kind}/{found['id']}", headers=stranger)
            missing = client.get(f"/fhir/{kind}/{uuid.uuid4()}", headers=stranger)
            assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()
            assert entries(client.get(f"/fhir/{kind}", headers=stranger)) == []


class TestMedicationRequest:
    def test_a_signed_prescriptions_line_through_the_door(self, client, db):
        w = full_world(db)
        headers = bearer(db, w.caller, ["user/MedicationRequest.rs"])
        [found] = entries(client.get(f"/fhir/MedicationRequest?patient={w.patient_id}&status=active",
                                     headers=headers))
        valid(found)
        assert found["subject"] == {"reference": f"Patient/{w.patient_id}"} and found["intent"] == "order"
        number = found["groupIdentifier"]["value"]
        assert [r["id"] for r in entries(client.get(f"/fhir/MedicationRequest?identifier={number}",
                                                    headers=headers))] == [found["id"]]
        assert valid(client.get(f"/fhir/MedicationRequest/{found['id']}", headers=headers).json()) == found
        assert entries(client.get("/fhir/MedicationRequest?status=cancelled", headers=headers)) == []
        dispense_headers = bearer(db, w.caller, ["user/MedicationDispense.rs"])
        [handed] = entries(client.get(f"/fhir/MedicationDispense?prescription=MedicationRequest/{found['id']}",
                                      headers=dispense_headers))
        valid(handed)
        assert handed["authorizingPrescription"] == [{"reference": f"MedicationRequest/{found['id']}"}]
        assert handed["status"] == "completed" and handed["quantity"]["value"] == 1
        assert valid(client.get(f"/fhir/MedicationDispense/{handed['id']}", headers=dispense_headers).json()) \
            == handed

    def test_a_stranger_gets_404_like_a_missing_line_and_finds_nothing(self, client, db):
        w = full_world(db)
        found = entries(client.get("/fhir/MedicationRequest", headers=bearer(db, w.caller,
                                                                              ["user/MedicationRequest.rs"])))[0]
        stranger = bearer(db, fhir_world(db).physician, ["user/MedicationRequest.rs"])
        theirs = client.get(f"/fhir/MedicationRequest/{found['id']}", headers=stranger)
        missing = client.get(f"/fhir/MedicationRequest/{uuid.uuid4()}", headers=stranger)
        assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()
        assert entries(client.get("/fhir/MedicationRequest", headers=stranger)) == []
        handed = entries(client.get("/fhir/MedicationDispense", headers=bearer(db, w.caller,
                                                                              ["user/MedicationDispense.rs"])))[0]
        stranger = bearer(db, fhir_world(db).physician, ["user/MedicationDispense.rs"])
        assert client.get(f"/fhir/MedicationDispense/{handed['id']}", headers=stranger).status_code == 404
        assert entries(client.get("/fhir/MedicationDispense", headers=stranger)) == []


class TestEpisodeOfCare:
    def test_an_enrolment_is_an_episode_of_care_of_its_programme(self, client, db):
        w = fhir_world(db)
        enrolment = add_enrolment(db, w.patient.id)
        db.commit()
        headers = bearer(db, w.physician, ["user/EpisodeOfCare.rs"])
        resource = valid(client.get(f"/fhir/EpisodeOfCare/{enrolment.id}", headers=headers).json())
        assert resource["status"] == "active" and resource["type"][0]["coding"][0]["code"] == "heart_failure"
        found = entries(client.get("/fhir/EpisodeOfCare?type=heart_failure&status=active", headers=headers))
        assert [r["id"] for r in found] == [str(enrolment.id)]
        outsider = bearer(db, w.outsider, ["user/EpisodeOfCare.rs"])
        assert client.get(f"/fhir/EpisodeOfCare/{enrolment.id}", headers=outsider).status_code == 404


def service_request(w, **changes: Any) -> dict[str, Any]:
    body = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order", "priority": "routine",
            "subject": {"reference": f"Patient/{w.patient_id}"},
            "performer": [{"reference": f"HealthcareService/{w.line_id}"}],
            "note": [{"text": "Nævus atypique du dos, évolutif depuis trois mois : exérèse ?"}]}
    return {**body, **changes}


def post_fhir(client, url, body, headers, **extra):
    return client.post(url, json=body, headers={**headers, "content-type": "application/fhir+json", **extra})


class TestServiceRequestCreate:
    def test_a_draft_is_opened_through_the_teleexpertise_service(self, client, db):
        from maillage.models.teleexpertise import TeleexpertiseEvent

        w = full_world(db)
        headers = bearer(db, w.caller, ["user/ServiceRequest.crs"])
        response = post_fhir(client, "/fhir/ServiceRequest", service_request(w), headers)
        assert response.status_code == 201, response.text
        created = valid(response.json())
        assert created["status"] == "draft" and response.headers["location"].endswith(created["id"])
        assert created["note"][0]["text"].startswith("Nævus")
        events = db.scalars(select(TeleexpertiseEvent).where(
            TeleexpertiseEvent.request_id == uuid.UUID(created["id"]))).all()
        assert [e.action for e in events] == ["create"]  # the service's own history: the same rules ran
        assert client.get(f"/fhir/ServiceRequest/{created['id']}", headers=headers).status_code == 200

    def test_a_conditional_create_sent_twice_makes_one_request(self, client, db):
        from maillage.models.teleexpertise import TeleexpertiseRequest

        w = full_world(db)
        headers = bearer(db, w.caller, ["user/ServiceRequest.crs"])
        body = service_request(w, identifier=[{"system": "urn:oid:1.2.250.99.1", "value": "DEM-2026-0042"}])
        condition = {"if-none-exist": "identifier=urn:oid:1.2.250.99.1|DEM-2026-0042"}
        first = post_fhir(client, "/fhir/ServiceRequest", body, headers, **condition)
        second = post_fhir(client, "/fhir/ServiceRequest", body, headers, **condition)
        assert (first.status_code, second.status_code) == (201, 200), second.text
        assert first.json()["id"] == second.json()["id"]
        again = post_fhir(client, "/fhir/ServiceRequest", body, headers)  # without the header: the identifier holds
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        count = db.scalars(select(TeleexpertiseRequest).where(TeleexpertiseRequest.patient_id == w.patient_id)).all()
        assert len(count) == 2  # the world's own request and this one
        found = entries(client.get("/fhir/ServiceRequest?identifier=urn:oid:1.2.250.99.1|DEM-2026-0042",
                                   headers=headers))
        assert [r["id"] for r in found] == [first.json()["id"]]

    def test_a_condition_matching_several_requests_is_412(self, client, db):
        w = full_world(db)
        headers = bearer(db, w.caller, ["user/ServiceRequest.crs"])
        assert post_fhir(client, "/fhir/ServiceRequest", service_request(w), headers).status_code == 201
        response = post_fhir(client, "/fhir/ServiceRequest", service_request(w), headers,
                             **{"if-none-exist": f"patient={w.patient_id}"})
        assert response.status_code == 412 and "plusieurs" in outcome(response)

    def test_bad_bodies_are_refused_in_french_and_nothing_is_created(self, client, db):
        w = full_world(db)
        headers = bearer(db, w.caller, ["user/ServiceRequest.crs"])
        wrong_type = post_fhir(client, "/fhir/ServiceRequest", {"resourceType": "Patient"}, headers)
        assert wrong_type.status_code == 400 and "ServiceRequest" in outcome(wrong_type)
        no_line = post_fhir(client, "/fhir/ServiceRequest", service_request(w, performer=[]), headers)
        assert no_line.status_code == 422 and "HealthcareService" in outcome(no_line)
        invalid = post_fhir(client, "/fhir/ServiceRequest", service_request(w, status="nimporte"), headers)
        assert invalid.status_code == 422
        condition = post_fhir(client, "/fhir/ServiceRequest", service_request(w), headers,
                              **{"if-none-exist": "couleur=bleu"})
        assert condition.status_code == 400
        assert len(entries(client.get("/fhir/ServiceRequest", headers=headers))) == 1

    def test_scope_role_and_care_relationship_all_apply(self, client, db):
        w = full_world(db)
        read_only = bearer(db, w.caller, ["user/ServiceRequest.rs"])
        assert post_fhir(client, "/fhir/ServiceRequest", service_request(w), read_only).status_code == 403
        stranger = bearer(db, w.outsider, ["user/ServiceRequest.crs"])
        assert post_fhir(client, "/fhir/ServiceRequest", service_request(w), stranger).status_code == 404
        analyst = bearer(db, make_user(db, "analyst"), ["user/ServiceRequest.crs"])
        assert post_fhir(client, "/fhir/ServiceRequest", service_request(w), analyst).status_code == 403
