"""Audit entries as FHIR R4 AuditEvents (fhir.resources R4B models), in a collection Bundle."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from maillage.audit import fhir, rules, service
from maillage.kit import clock
from maillage.models.audit import AuditEntry

AT = dt.datetime(2026, 11, 28, 13, 23, 22, 123456, tzinfo=dt.UTC)


def stored(**overrides):
    e = {
        "id": uuid.uuid4(), "seq": 7, "occurred_at": AT, "actor_id": str(uuid.uuid4()), "actor_role": "physician",
        "establishment_id": str(uuid.uuid4()), "action": "read", "object_type": "observation", "object_id": "obs-1",
        "patient_id": str(uuid.uuid4()), "purpose": "care", "break_glass": False, "reason": None,
        "outcome": "success", "request_id": "req-0001", "address": "10.1.2.3", "details": {"count": 2},
        "prev_hash": rules.GENESIS_HASH,
    }
    e.update(overrides)
    e["hash"] = rules.entry_hash(e)
    return e


class TestToAuditEvent:
    def test_carries_who_what_why_when_where_and_outcome(self):
        e = stored()
        event = fhir.to_audit_event(e)
        data = json.loads(event.model_dump_json())
        assert data["resourceType"] == "AuditEvent" and data["id"] == str(e["id"])
        assert data["action"] == "R" and data["outcome"] == "0"
        assert data["recorded"] == "2026-11-28T13:23:22.123456Z"
        assert data["type"]["code"] == "110110"
        agent = data["agent"][0]
        assert agent["requestor"] is True
        assert agent["who"]["identifier"] == {"system": fhir.MAILLAGE_USER, "value": e["actor_id"]}
        assert agent["role"][0]["coding"][0]["code"] == "physician"
        assert agent["role"][0]["text"] == "Médecin"
        assert agent["location"]["identifier"]["value"] == e["establishment_id"]
        assert agent["network"] == {"address": "10.1.2.3", "type": "2"}
        patient, obj = data["entity"]
        assert patient["what"]["reference"] == f"Patient/{e['patient_id']}"
        assert patient["role"]["code"] == "1"
        assert obj["what"]["identifier"] == {"system": "urn:maillage:object:observation", "value": "obs-1"}
        details = {d["type"]: d["valueString"] for d in obj["detail"]}
        assert details == {"chain_seq": "7", "chain_hash": e["hash"], "request_id": "req-0001", "count": "2"}
        assert data["purposeOfEvent"][0]["coding"][0] == {"system": fhir.ACT_REASON, "code": "TREAT",
                                                          "display": "treatment"}

    @pytest.mark.parametrize("action, code", [
        ("create", "C"), ("read", "R"), ("export", "R"), ("update", "U"), ("delete", "D"), ("search", "E"),
        ("login", "E"), ("break_glass", "E"), ("something_else", "E"),
    ])
    def test_maps_actions_to_crude(self, action, code):
        assert fhir.to_audit_event(stored(action=action)).action == code

    @pytest.mark.parametrize("outcome, code", [("success", "0"), ("denied", "4"), ("failure", "8")])
    def test_maps_outcomes_to_0_4_8(self, outcome, code):
        assert fhir.to_audit_event(stored(outcome=outcome)).outcome == code

    def test_flags_break_the_glass_with_the_v3_btg_code_and_the_reason(self):
        event = fhir.to_audit_event(stored(break_glass=True, reason="Patient inconscient", purpose="emergency"))
        codes = [(p.coding[0].system, p.coding[0].code) for p in event.purposeOfEvent]
        assert codes == [(fhir.ACT_REASON, "ETREAT"), (fhir.ACT_REASON, "BTG")]
        assert event.purposeOfEvent[1].text == "Patient inconscient"

    def test_an_entry_without_actor_patient_or_address_is_still_valid(self):
        event = fhir.to_audit_event(stored(actor_id=None, actor_role=None, establishment_id=None, patient_id=None,
                                           object_id=None, address=None, request_id=None, details=None,
                                           purpose=None))
        assert event.agent[0].who.display == "Maillage (système)"
        assert len(event.entity) == 1 and event.purposeOfEvent is None

    def test_an_unknown_purpose_keeps_its_own_code(self):
        event = fhir.to_audit_event(stored(purpose="teleexpertise"))
        assert (event.purposeOfEvent[0].coding[0].system, event.purposeOfEvent[0].coding[0].code) == (
            fhir.MAILLAGE_PURPOSE, "teleexpertise")


    def test_a_list_read_carries_each_patient_it_returned_as_a_patient_entity(self):
        event = fhir.to_audit_event({**stored(action="search", patient_id=None), "list_patients": ["p-1", "p-2"]})
        patients = [e for e in event.entity if e.role is not None and e.role.code == "1"]
        assert [e.what.reference for e in patients] == ["Patient/p-1", "Patient/p-2"]
        assert event.type.code == "110112"


class TestWriteBundle:
    def test_is_a_collection_bundle_valid_against_the_r4_models(self):
        out = io.StringIO()
        entries = [stored(seq=1), stored(seq=2, action="update", outcome="denied")]
        assert fhir.write_bundle(entries, out, timestamp=AT) == 2
        bundle = Bundle.model_validate_json(out.getvalue())
        assert bundle.type == "collection" and len(bundle.entry) == 2
        assert [e.fullUrl for e in bundle.entry] == [f"urn:uuid:{e['id']}" for e in entries]
        assert all(isinstance(e.resource, AuditEvent) for e in bundle.entry)

    def test_an_empty_period_is_a_valid_bundle_without_entries(self):
        out = io.StringIO()
        assert fhir.write_bundle([], out, timestamp=AT) == 0
        bundle = Bundle.model_validate_json(out.getvalue())
        assert bundle.type == "collection" and not bundle.entry


class TestExportFhir:
    def test_exports_the_period_from_the_database_and_traces_the_export(self, db):
        with clock.frozen(AT) as c:
            service.record(db, action="read", object_type="patient", patient_id="p-1")
            c.advance(dt.timedelta(days=2))
            service.record(db, action="update", object_type="patient", patient_id="p-2")
            db.commit()
            out = io.StringIO()
            count = service.export_fhir(db, AT - dt.timedelta(hours=1), AT + dt.timedelta(days=1), out,
                                        actor_id="os:admin", actor_role="cli")
            db.commit()
        assert count == 1
        bundle = Bundle.model_validate_json(out.getvalue())
        assert [e.resource.entity[0].what.reference for e in bundle.entry] == ["Patient/p-1"]
        traced = db.scalars(select(AuditEntry).where(AuditEntry.action == "export")).one()
        assert traced.details is not None and traced.details["entries"] == 1 and traced.actor_id == "os:admin"

    def test_the_patients_of_a_list_read_are_exported_as_entities(self, db):
        with clock.frozen(AT):
            service.record(db, action="search", object_type="patient", list_patients=["p-2", "p-1"])
            service.record(db, action="read", object_type="patient", patient_id="p-3")
            db.commit()
            out = io.StringIO()
            assert service.export_fhir(db, AT - dt.timedelta(hours=1), AT + dt.timedelta(hours=1), out) == 2
        bundle = Bundle.model_validate_json(out.getvalue())
        references = [[e.what.reference for e in entry.resource.entity if e.what.reference]
                      for entry in bundle.entry]
        assert references == [["Patient/p-1", "Patient/p-2"], ["Patient/p-3"]]
