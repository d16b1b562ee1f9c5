"""The resources added for telesurveillance, teleconsultation, consents, tele-expertise exchanges and the audit
trail: what each maps, that another's patient is the same 404 as a missing resource (the attempt audited), that a
sealed exchange's body is served only to a party with a care relationship, and that the audit trail is for
administrators only (the attack by a care role's token carrying every scope)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from maillage.fhir.rules import encode_cursor
from maillage.models.audit import AuditEntry
from tests.fhir.test_endpoints import entries, outcome, valid
from tests.fixtures.factories import make_user
from tests.fixtures.fhir import add_care_rows, bearer, full_world

ALL = ["user/*.rs"]


def world(db):
    from maillage.models.teleexpertise import TeleexpertiseRequest
    from tests.fixtures import teleexpertise as te

    w = te.world(db)
    req = te.submitted(db, w)
    request = db.get(TeleexpertiseRequest, req.id)
    rows = add_care_rows(db, patient_id=w.patient_id, caller=w.requester, expert=w.expert, request=request,
                         establishment_id=w.line.establishment_id)
    db.commit()
    return w, rows


def follow(client, url: str | None, headers) -> list[dict]:
    """Every resource of a search, page after page through its ``next`` links."""
    found: list[dict] = []
    while url:
        response = client.get(url, headers=headers)
        found += entries(response)
        url = next((link["url"] for link in response.json()["link"] if link["relation"] == "next"), None)
    return found


def assert_hidden_like_missing(client, db, headers, type_name: str, resource_id: uuid.UUID, actor_id) -> None:
    other = client.get(f"/fhir/{type_name}/{resource_id}", headers=headers)
    missing = client.get(f"/fhir/{type_name}/{uuid.uuid4()}", headers=headers)
    assert other.status_code == missing.status_code == 404, (type_name, other.text)
    assert other.json() == missing.json()
    assert outcome(other)
    denied = db.scalars(select(AuditEntry).where(AuditEntry.actor_id == str(actor_id),
                                                 AuditEntry.outcome == "denied")).all()
    assert denied, type_name


class TestTelesurveillance:
    def test_the_lent_device_and_the_open_alert_are_read_and_searched_by_the_patients_carer(self, client, db):
        w, rows = world(db)
        headers = bearer(db, w.requester, ALL)
        device = valid(client.get(f"/fhir/Device/{rows.device_id}", headers=headers).json())
        assert device["patient"] == {"reference": f"Patient/{w.patient_id}"}
        assert device["deviceName"][0]["name"] == "Balance connectée"
        flag = valid(client.get(f"/fhir/Flag/{rows.alert_id}", headers=headers).json())
        assert flag["status"] == "active" and flag["code"]["coding"][0]["code"] == "weight_gain"
        assert flag["extension"][0]["valueCoding"]["code"] == "orange"
        assert [f["id"] for f in entries(client.get(f"/fhir/Flag?patient={w.patient_id}&status=active",
                                                    headers=headers))] == [str(rows.alert_id)]
        assert entries(client.get("/fhir/Flag?status=inactive", headers=headers)) == []
        assert [d["id"] for d in entries(client.get("/fhir/Device", headers=headers))] == [str(rows.device_id)]

    def test_a_device_back_in_stock_is_not_served(self, client, db):
        from maillage.models.monitoring import MonitoringDeviceAssignment

        w, rows = world(db)
        assignment = db.scalars(select(MonitoringDeviceAssignment)
                                .where(MonitoringDeviceAssignment.device_id == rows.device_id)).one()
        assignment.active_device_id = None
        db.commit()
        headers = bearer(db, w.requester, ALL)
        assert client.get(f"/fhir/Device/{rows.device_id}", headers=headers).status_code == 404
        assert entries(client.get("/fhir/Device", headers=headers)) == []

    def test_another_physicians_device_and_alert_are_404_like_missing_ones(self, client, db):
        w, rows = world(db)
        headers = bearer(db, w.outsider, ALL)
        assert_hidden_like_missing(client, db, headers, "Flag", rows.alert_id, w.outsider.id)
        assert_hidden_like_missing(client, db, headers, "Device", rows.device_id, w.outsider.id)
        assert entries(client.get("/fhir/Flag", headers=headers)) == []


class TestTeleconsultation:
    def test_the_appointment_and_its_encounter_share_the_row(self, client, db):
        w, rows = world(db)
        headers = bearer(db, w.requester, ALL)
        appointment = valid(client.get(f"/fhir/Appointment/{rows.appointment_id}", headers=headers).json())
        assert appointment["status"] == "arrived" and appointment["minutesDuration"] == 20
        actors = [p["actor"]["reference"].split("/")[0] for p in appointment["participant"]]
        assert actors == ["Patient", "Practitioner", "Practitioner", "Location"]
        assert "description" not in appointment and "comment" not in appointment  # the sealed reason stays sealed
        encounter = valid(client.get(f"/fhir/Encounter/{rows.appointment_id}", headers=headers).json())
        assert encounter["status"] == "in-progress" and encounter["class"]["code"] == "VR"
        assert encounter["location"] == [{"location": {"reference": f"Location/{rows.place_id}"}}]
        found = entries(client.get("/fhir/Encounter?status=in-progress&date=ge2026-11-01", headers=headers))
        assert [e["id"] for e in found] == [str(rows.appointment_id)]
        location = valid(client.get(f"/fhir/Location/{rows.place_id}", headers=headers).json())
        assert location["managingOrganization"] == {"reference": f"Organization/{w.line.establishment_id}"}

    def test_a_booked_slot_has_no_encounter_yet(self, client, db):
        from maillage.models.teleconsultation import TeleconsultationAppointment

        w, rows = world(db)
        row = db.get(TeleconsultationAppointment, rows.appointment_id)
        row.status, row.arrived_at, row.admitted_at, row.consent_at = "booked", None, None, None
        db.commit()
        headers = bearer(db, w.requester, ALL)
        assert client.get(f"/fhir/Appointment/{rows.appointment_id}", headers=headers).json()["status"] == "booked"
        assert client.get(f"/fhir/Encounter/{rows.appointment_id}", headers=headers).status_code == 404
        assert entries(client.get("/fhir/Encounter", headers=headers)) == []

    def test_someone_not_named_in_the_appointment_gets_404_like_missing(self, client, db):
        w, rows = world(db)
        headers = bearer(db, w.outsider, ALL)
        assert_hidden_like_missing(client, db, headers, "Appointment", rows.appointment_id, w.outsider.id)
        assert entries(client.get("/fhir/Appointment", headers=headers)) == []


class TestConsent:
    def test_the_recorded_objection_and_the_consents_of_enrolment_and_teleconsultation(self, client, db):
        w, rows = world(db)
        headers = bearer(db, w.requester, ALL)
        objection = valid(client.get(f"/fhir/Consent/{rows.consent_id}", headers=headers).json())
        assert objection["provision"]["type"] == "deny" and objection["scope"]["coding"][0]["code"] == "research"
        assert objection["status"] == "active"
        found = entries(client.get(f"/fhir/Consent?patient={w.patient_id}", headers=headers))
        sources = sorted(c.get("sourceReference", {}).get("reference", "").split("/")[0] for c in found)
        # the objection and the tele-expertise consent recorded when the request was sent; the enrolment
        assert sources == ["", "", "Encounter", "EpisodeOfCare"]
        assert all(c["provision"]["type"] == "permit" for c in found if "sourceReference" in c)

    def test_a_later_choice_makes_the_earlier_one_inactive(self, client, db):
        from maillage.models.patient import PatientConsent
        from tests.fixtures.fhir import T0

        w, rows = world(db)
        db.add(PatientConsent(patient_id=w.patient_id, purpose="data_reuse", decision="consent",
                              recorded_at=T0.replace(day=20)))
        db.commit()
        headers = bearer(db, w.requester, ALL)
        assert client.get(f"/fhir/Consent/{rows.consent_id}", headers=headers).json()["status"] == "inactive"
        inactive = entries(client.get("/fhir/Consent?status=inactive", headers=headers))
        assert [c["id"] for c in inactive] == [str(rows.consent_id)]

    def test_paging_one_by_one_gives_each_consent_once_in_date_order(self, client, db):
        w, _ = world(db)
        headers = bearer(db, w.requester, ALL)
        whole = [c["id"] for c in entries(client.get(f"/fhir/Consent?patient={w.patient_id}", headers=headers))]
        assert [c["id"] for c in follow(client, f"/fhir/Consent?patient={w.patient_id}&_count=1", headers)] == whole

    def test_a_forged_cursor_is_a_400(self, client, db):
        w, _ = world(db)
        forged = encode_cursor({"s": "-date", "i": "pas-un-identifiant", "k": "hier"})
        response = client.get(f"/fhir/Consent?_cursor={forged}", headers=bearer(db, w.requester, ALL))
        assert response.status_code == 400 and outcome(response)

    def test_another_physicians_patients_consent_is_404(self, client, db):
        w, rows = world(db)
        assert_hidden_like_missing(client, db, bearer(db, w.outsider, ALL), "Consent", rows.consent_id,
                                   w.outsider.id)


class TestCommunication:
    def test_the_requester_with_a_care_relationship_reads_the_sealed_question(self, client, db):
        w, rows = world(db)
        headers = bearer(db, w.requester, ALL)
        message = valid(client.get(f"/fhir/Communication/{rows.message_id}", headers=headers).json())
        assert message["payload"] == [{"contentString": "Depuis quand la lésion est-elle apparue ?"}]
        assert message["basedOn"][0]["reference"].startswith("ServiceRequest/")
        listed = entries(client.get(f"/fhir/Communication?patient={w.patient_id}", headers=headers))
        assert [m["payload"][0]["contentString"] for m in listed] == ["Depuis quand la lésion est-elle apparue ?"]

    def test_the_exchanges_of_one_request_and_a_reference_of_the_wrong_type_is_400(self, client, db):
        w, rows = world(db)
        headers = bearer(db, w.requester, ALL)
        based_on = client.get(f"/fhir/Communication/{rows.message_id}", headers=headers).json()["basedOn"][0]
        found = entries(client.get(f"/fhir/Communication?based-on={based_on['reference']}", headers=headers))
        assert [m["id"] for m in found] == [str(rows.message_id)]
        assert entries(client.get(f"/fhir/Communication?based-on=ServiceRequest/{uuid.uuid4()}",
                                  headers=headers)) == []
        wrong = client.get(f"/fhir/Communication?based-on=Patient/{w.patient_id}", headers=headers)
        assert wrong.status_code == 400 and outcome(wrong)

    def test_a_party_without_a_care_relationship_sees_the_exchange_but_not_its_body(self, client, db):
        from maillage.authz import service as authz
        from tests.fixtures.teleexpertise import actor

        w, rows = world(db)
        assert w.patient_id not in db.scalars(authz.accessible_patients(actor(db, w.expert))).all()
        headers = bearer(db, w.expert, ALL)
        message = valid(client.get(f"/fhir/Communication/{rows.message_id}", headers=headers).json())
        assert "payload" not in message and message["sent"]

    def test_paging_follows_the_exchanges_and_a_forged_cursor_is_a_400(self, client, db):
        w, rows = world(db)
        headers = bearer(db, w.requester, ALL)
        assert [m["id"] for m in follow(client, "/fhir/Communication?_count=1", headers)] == [str(rows.message_id)]
        forged = encode_cursor({"s": "sent", "i": "pas-un-identifiant", "k": "hier"})
        response = client.get(f"/fhir/Communication?_cursor={forged}", headers=headers)
        assert response.status_code == 400 and outcome(response)

    def test_an_outsider_gets_404_like_missing(self, client, db):
        w, rows = world(db)
        assert_hidden_like_missing(client, db, bearer(db, w.outsider, ALL), "Communication", rows.message_id,
                                   w.outsider.id)


class TestAuditEvent:
    def test_a_care_roles_token_with_every_scope_gets_no_audit_event(self, client, db):
        """The attack: a physician's token carrying user/*.rs (and the explicit AuditEvent scope) asks the trail by
        search, by id, and through a bulk export. The role has no audit.read: 403 every time, nothing served."""
        w, _ = world(db)
        client.get(f"/fhir/Patient/{w.patient_id}", headers=bearer(db, w.requester, ALL))  # writes an entry
        some_entry = db.scalars(select(AuditEntry.id).limit(1)).first()
        for user in (w.requester, w.expert, make_user(db, "nurse"), make_user(db, "identity_officer")):
            headers = bearer(db, user, [*ALL, "user/AuditEvent.rs"])
            for url in ("/fhir/AuditEvent", f"/fhir/AuditEvent/{some_entry}",
                        f"/fhir/AuditEvent?patient={w.patient_id}"):
                response = client.get(url, headers=headers)
                assert response.status_code == 403, (user.role, url)
                assert response.json()["resourceType"] == "OperationOutcome" and "entry" not in response.json()
            assert client.get("/fhir/Patient/$export?_type=AuditEvent", headers=headers).status_code == 400

    def test_an_administrator_reads_who_saw_a_patient_and_the_look_is_audited(self, client, db):
        w, _ = world(db)
        client.get(f"/fhir/Patient/{w.patient_id}", headers=bearer(db, w.requester, ALL))
        client.get(f"/fhir/Flag?patient={w.patient_id}", headers=bearer(db, w.requester, ALL))
        admin = make_user(db, "administrator")
        headers = bearer(db, admin, ["user/AuditEvent.rs"])
        found = entries(client.get(f"/fhir/AuditEvent?patient={w.patient_id}&_count=100", headers=headers))
        subtypes = {e["subtype"][0]["code"] for e in found}
        assert {"read", "search"} <= subtypes  # the read, and the list that showed the patient
        one = valid(client.get(f"/fhir/AuditEvent/{found[0]['id']}", headers=headers).json())
        assert one["id"] == found[0]["id"]
        looks = db.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "audit",
                                                           AuditEntry.actor_id == str(admin.id))).all()
        assert sorted(looks) == ["read", "search"]

    def test_paging_through_the_trail_never_repeats_an_entry(self, client, db):
        w, _ = world(db)
        for _ in range(3):
            client.get(f"/fhir/Patient/{w.patient_id}", headers=bearer(db, w.requester, ALL))
        headers = bearer(db, make_user(db, "administrator"), ["user/AuditEvent.rs"])
        seen = [e["id"] for e in follow(client, "/fhir/AuditEvent?_count=2", headers)]
        assert len(seen) == len(set(seen)) >= 4


def test_the_full_world_reaches_every_new_type(client, db):
    """The CapabilityStatement test's world has a row of each of these types for its caller."""
    w = full_world(db)
    headers = bearer(db, w.caller, ALL)
    for name in ("Device", "Flag", "Appointment", "Encounter", "Location", "Consent", "Communication"):
        assert entries(client.get(f"/fhir/{name}", headers=headers)), name
