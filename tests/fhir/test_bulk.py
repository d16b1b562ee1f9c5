"""Bulk Data export (FHIR Bulk Data Access IG v2, https://hl7.org/fhir/uv/bulkdata/export.html) over HTTP: kick-off
(202 + Content-Location), status (202 with X-Progress, then 200 with the manifest), NDJSON files run by the worker
through the same searches as the door (care relationship, scopes, role), DELETE, expiry; and the attacks: another
client's export, status or file is 404 exactly like one that does not exist; a token never exports beyond its
scopes."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sqlalchemy import func, select

from maillage.auth import tokens
from maillage.fhir import bulk
from maillage.fhir import tasks as _tasks  # noqa: F401  (registers the jobs)
from maillage.kit import clock
from maillage.models.audit import AuditEntry
from maillage.models.fhir import FhirExport, FhirExportFile
from maillage.models.monitoring import MonitoringEnrolment
from maillage.models.vault import Blob
from maillage.worker.runner import Worker, WorkerConfig
from tests.fhir.test_endpoints import outcome, valid
from tests.fixtures.fhir import add_enrolment, bearer, fhir_world, full_world

ALL = ["user/*.rs"]


def kick_off(client, url: str, headers) -> str:
    response = client.get(url, headers={**headers, "prefer": "respond-async", "accept": "application/fhir+json"})
    assert response.status_code == 202, response.text
    return response.headers["content-location"].split("/fhir", 1)[1]


def run_worker(sessions) -> None:
    stats = Worker(sessions, WorkerConfig(poll_seconds=0.01)).run_until_idle()
    assert stats.retried == stats.failed == 0, stats


def finished(client, sessions, status_url: str, headers) -> dict:
    waiting = client.get(f"/fhir{status_url}", headers=headers)
    assert waiting.status_code == 202 and waiting.headers["x-progress"]
    run_worker(sessions)
    done = client.get(f"/fhir{status_url}", headers=headers)
    assert done.status_code == 200, done.text
    return done.json()


def ndjson(client, url: str, headers) -> list[dict]:
    response = client.get(url.split("/fhir", 1)[1].join(["/fhir", ""]), headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith(bulk.NDJSON)
    return [valid(json.loads(line)) for line in response.text.splitlines()]


class TestPatientExport:
    def test_the_files_hold_only_the_callers_patients_and_parse_line_by_line(self, client, db, sessions):
        w = full_world(db)
        other = fhir_world(db)  # someone else's patient, with readings
        headers = bearer(db, w.caller, ALL)
        status_url = kick_off(client, "/fhir/Patient/$export?_type=Patient,Observation,DocumentReference", headers)
        body = finished(client, sessions, status_url, headers)
        assert body["requiresAccessToken"] is True and body["request"].endswith("DocumentReference")
        by_type = {o["type"]: o for o in body["output"]}
        assert set(by_type) == {"Patient", "Observation", "DocumentReference"}
        for kind, entry in by_type.items():
            resources = ndjson(client, entry["url"], headers)
            assert len(resources) == entry["count"] >= 1 and {r["resourceType"] for r in resources} == {kind}
            patients = {r["id"] if kind == "Patient" else r["subject"]["reference"].split("/")[1] for r in resources}
            assert patients == {str(w.patient_id)} and str(other.patient.id) not in patients
        actions = db.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "fhir_export")).all()
        assert {"export_request", "export", "export_download"} <= set(actions)
        listed = db.scalars(select(AuditEntry).where(AuditEntry.action == "search",
                                                     AuditEntry.object_type == "observation")).all()
        assert listed  # the job's pages are audited like any search, with the patients they returned

    def test_since_leaves_out_what_did_not_change(self, client, db, sessions):
        w = full_world(db)
        headers = bearer(db, w.caller, ALL)
        later = (clock.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        status_url = kick_off(client, f"/fhir/Patient/$export?_type=Observation&_since={later}", headers)
        assert finished(client, sessions, status_url, headers)["output"] == []


class TestAttacks:
    def test_another_clients_export_status_and_files_are_404_like_missing_ones(self, client, db, sessions):
        w = full_world(db)
        mine = bearer(db, w.caller, ALL)
        status_url = kick_off(client, "/fhir/Patient/$export?_type=Patient", mine)
        body = finished(client, sessions, status_url, mine)
        file_url = body["output"][0]["url"].split("/fhir", 1)[1]
        export_id = status_url.rsplit("/", 1)[1]
        for thief in (bearer(db, w.outsider, ALL), bearer(db, w.caller, ALL)):  # another user; another token of mine
            for method, url in (("GET", status_url), ("DELETE", status_url), ("GET", file_url)):
                theirs = client.request(method, f"/fhir{url}", headers=thief)
                missing = client.request(method, f"/fhir{url.replace(export_id, str(uuid.uuid4()))}"
                                         if "status" in url else f"/fhir/$export-file/{uuid.uuid4()}", headers=thief)
                assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()
        assert client.get(f"/fhir{status_url}", headers=mine).status_code == 200  # untouched

    def test_a_token_never_exports_beyond_its_scopes(self, client, db, sessions):
        w = full_world(db)
        patients_only = bearer(db, w.caller, ["user/Patient.rs"])
        refused = client.get("/fhir/Patient/$export?_type=Observation", headers=patients_only)
        assert refused.status_code == 403 and "Observation" in outcome(refused)
        status_url = kick_off(client, "/fhir/Patient/$export", patients_only)
        assert [o["type"] for o in finished(client, sessions, status_url, patients_only)["output"]] == ["Patient"]

    def test_a_browser_session_or_a_personal_token_at_system_level_is_refused(self, client, db):
        w = full_world(db)
        assert client.get("/fhir/$export", headers=bearer(db, w.caller, ALL)).status_code == 403
        assert client.get("/fhir/Patient/$export").status_code == 401

    def test_what_the_server_cannot_honour_is_400_in_french(self, client, db):
        w = full_world(db)
        headers = bearer(db, w.caller, ALL)
        for query in ("_outputFormat=text/csv", "_type=Nimporte", "_since=hier", "_typeFilter=x", "_type=Group",
                      "_type=Patient&_type=Observation",
                      # a type that cannot select by last update would be exported whole as if it had all changed
                      "_since=2026-01-01&_type=Patient,MedicationRequest"):
            response = client.get(f"/fhir/Patient/$export?{query}", headers=headers)
            assert response.status_code == 400, (query, response.text)
            assert outcome(response)
        assert db.scalar(select(func.count()).select_from(FhirExport)) == 0


class TestGroupExport:
    def test_a_telesurveillance_teams_patients_and_a_team_i_cannot_see_is_404(self, client, db, sessions):
        w = full_world(db)
        team_id = db.scalars(select(MonitoringEnrolment.team_id)
                             .where(MonitoringEnrolment.patient_id == w.patient_id)).first()
        headers = bearer(db, w.caller, ALL)
        group = valid(client.get(f"/fhir/Group/{team_id}", headers=headers).json())
        assert [m["entity"]["reference"] for m in group["member"]] == [f"Patient/{w.patient_id}"]
        status_url = kick_off(client, f"/fhir/Group/{team_id}/$export?_type=Patient,Observation", headers)
        body = finished(client, sessions, status_url, headers)
        patients = ndjson(client, next(o["url"] for o in body["output"] if o["type"] == "Patient"), headers)
        assert [p["id"] for p in patients] == [str(w.patient_id)]
        stranger = fhir_world(db)
        theirs = add_enrolment(db, stranger.other_patient.id).team_id
        db.commit()
        for team in (theirs, uuid.uuid4()):
            assert client.get(f"/fhir/Group/{team}/$export", headers=headers).status_code == 404
            assert client.get(f"/fhir/Group/{team}", headers=headers).status_code == 404


class TestCancelAndExpiry:
    def test_delete_cancels_and_removes_the_files(self, client, db, sessions):
        w = full_world(db)
        headers = bearer(db, w.caller, ALL)
        status_url = kick_off(client, "/fhir/Patient/$export?_type=Patient", headers)
        finished(client, sessions, status_url, headers)
        blobs = db.scalars(select(FhirExportFile.blob_id)).all()
        assert client.delete(f"/fhir{status_url}", headers=headers).status_code == 202
        assert client.get(f"/fhir{status_url}", headers=headers).status_code == 404
        db.expire_all()
        assert db.scalar(select(func.count()).select_from(Blob).where(Blob.id.in_(blobs))) == 0

    def test_one_export_at_a_time_per_client_and_the_next_once_it_is_done(self, client, db, sessions):
        w = full_world(db)
        headers = bearer(db, w.caller, ALL)
        status_url = kick_off(client, "/fhir/Patient/$export?_type=Patient", headers)
        again = client.get("/fhir/Patient/$export?_type=Patient",
                           headers={**headers, "prefer": "respond-async", "accept": "application/fhir+json"})
        assert again.status_code == 429 and "déjà en cours" in again.text
        finished(client, sessions, status_url, headers)
        kick_off(client, "/fhir/Patient/$export?_type=Patient", headers)

    def test_an_expired_export_is_404_then_purged_with_its_files(self, client, db, sessions):
        w = full_world(db)
        headers = bearer(db, w.caller, ALL)
        status_url = kick_off(client, "/fhir/Patient/$export?_type=Patient", headers)
        finished(client, sessions, status_url, headers)
        assert bulk.purge_expired(db) == 0
        later = clock.now() + bulk.KEPT + dt.timedelta(minutes=1)
        assert bulk.purge_expired(db, at=later) == 1
        db.commit()
        assert db.scalar(select(func.count()).select_from(FhirExportFile)) == 0
        assert client.get(f"/fhir{status_url}", headers=headers).status_code == 404

    def test_a_token_revoked_before_the_job_runs_exports_nothing(self, client, db, sessions):
        w = full_world(db)
        headers = bearer(db, w.caller, ALL)
        status_url = kick_off(client, "/fhir/Patient/$export?_type=Patient", headers)
        export = db.scalars(select(FhirExport)).one()
        tokens.revoke_token(db, export.token_id, w.caller)
        db.commit()
        run_worker(sessions)
        db.expire_all()
        assert db.get(FhirExport, export.id).status == "failed"
        assert db.scalar(select(func.count()).select_from(FhirExportFile)) == 0
        assert client.get(f"/fhir{status_url}", headers=headers).status_code == 401  # the token itself is gone


class TestServiceToken:
    def test_a_service_token_exports_at_system_level_what_its_scopes_give(self, client, db, sessions):
        full_world(db)
        issued = tokens.create_service_token(db, service_name="entrepot", role="analyst", name="entrepot",
                                             scopes=["system/Practitioner.rs", "system/Organization.rs"])
        db.commit()
        headers = {"authorization": f"Bearer {issued.secret}"}
        status_url = kick_off(client, "/fhir/$export", headers)
        body = finished(client, sessions, status_url, headers)
        assert {o["type"] for o in body["output"]} <= {"Practitioner", "Organization"}
        for entry in body["output"]:
            assert ndjson(client, entry["url"], headers)
        assert client.get("/fhir/$export?_type=Patient", headers=headers).status_code == 403


class TestCapability:
    def test_the_capability_statement_declares_the_export_operations(self, client):
        rest = client.get("/fhir/metadata").json()["rest"][0]
        assert rest["operation"][0]["definition"].endswith("/bulkdata/OperationDefinition/export")
        by_type = {r["type"]: r for r in rest["resource"]}
        for name, definition in (("Patient", "patient-export"), ("Group", "group-export")):
            assert by_type[name]["operation"][0]["definition"].endswith(definition)


class TestFilesInParts:
    def test_a_type_past_the_file_size_is_split_into_parts_that_each_parse(self, client, db, sessions, monkeypatch):
        """Bounded memory: the job holds one file's buffer at a time; past ``FILE_BYTES`` the next line opens a new
        file. Here 700 bytes, about one Observation and a half: every file holds one or two lines and stays under
        the limit, the manifest lists them in order, and together they hold every resource once."""
        w = fhir_world(db, readings=7)
        monkeypatch.setattr(bulk, "FILE_BYTES", 700)
        headers = bearer(db, w.physician, ALL)
        status_url = kick_off(client, "/fhir/Patient/$export?_type=Observation", headers)
        outputs = finished(client, sessions, status_url, headers)["output"]
        assert len(outputs) >= 4 and {o["type"] for o in outputs} == {"Observation"}
        seen: list[str] = []
        for o in outputs:
            response = client.get(o["url"].split("/fhir", 1)[1].join(["/fhir", ""]), headers=headers)
            assert len(response.content) <= 700
            lines = [valid(json.loads(line)) for line in response.text.splitlines()]
            assert len(lines) == o["count"] >= 1
            seen += [r["id"] for r in lines]
        assert sorted(seen) == sorted(str(r.id) for r in w.readings) and len(seen) == len(set(seen))
        parts = db.scalars(select(FhirExportFile.part).order_by(FhirExportFile.part)).all()
        assert parts == list(range(1, len(outputs) + 1))

    def test_a_line_longer_than_the_limit_gets_a_file_of_its_own(self, db, monkeypatch):
        stored: list[bytes] = []
        monkeypatch.setattr(bulk.vault, "store_blob", lambda *a, data, **k: stored.append(data) or _Blob())
        monkeypatch.setattr(db, "add", lambda row: None)
        monkeypatch.setattr(db, "flush", lambda: None)
        files = bulk._Files(db, _Export(), "Observation", 10)
        for line in (b"abc", b"defg", b"x" * 30, b"hi"):
            files.add(line)
        files.flush()
        assert stored == [b"abc\ndefg\n", b"x" * 30 + b"\n", b"hi\n"] and files.total == 4


class _Blob:
    id = uuid.uuid4()


class _Export:
    id = uuid.uuid4()


class TestTheTrailIsNotInThePatientCompartment:
    def test_patient_export_never_carries_audit_events(self, client, db):
        from tests.fixtures.factories import make_user

        w = full_world(db)
        for user in (w.caller, make_user(db, "administrator")):
            headers = bearer(db, user, [*ALL, "user/AuditEvent.rs"])
            response = client.get("/fhir/Patient/$export?_type=AuditEvent",
                                  headers={**headers, "prefer": "respond-async"})
            assert response.status_code == 400 and "AuditEvent" in outcome(response)
        assert "AuditEvent" not in bulk._patient_types() and "Flag" in bulk._patient_types()
