"""Administration pages of telesurveillance: enrolling a patient, the team's devices, replacing a device, a patient's
settings. Each goes through the service of the API: same rules, same access checks, same audit."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from maillage.authz import service as authz
from maillage.exceptions import NotFound, PermissionDenied
from maillage.models.audit import AuditEntry
from maillage.models.authz import CareRelationship
from maillage.models.monitoring import MonitoringDevice, MonitoringDeviceAssignment, MonitoringEnrolment
from maillage.monitoring import administration as admin
from maillage.monitoring import service
from maillage.monitoring.schemas import EnrolmentCreate
from maillage.patient import service as patients
from maillage.patient.rules import InsOid, synthetic_identities
from maillage.patient.schemas import PatientCreate
from tests.fixtures.factories import make_patient_id, make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in
from tests.monitoring.conftest import World, actor, enrol_patient, register

IDENTITIES = synthetic_identities("tests-monitoring-admin", 4, oid=InsOid.TEST)
HTML = {"accept": "text/html"}


def cared_patient(db: Any, user: Any, index: int = 0) -> uuid.UUID:
    """A patient created by ``user``, who thereby has a care relationship with them."""
    t = IDENTITIES[index].traits
    view = patients.create_patient(db, actor(db, user), PatientCreate(
        birth_name=t.birth_name, given_names=" ".join(t.given_names), birth_date=t.birth_date, sex=t.sex.value,
        birthplace=t.birthplace))
    return view.patient.id


def enrol_form(client: Any, world: World, patient_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    form = {"csrf_token": csrf_token(client), "programme": "heart_failure", "patient_id": str(patient_id),
            "team_id": str(world.team.id), "prescribed_on": admin.today().isoformat(), "duration_months": "6",
            "consent": "1", "references.dry_weight": "62,5"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def audit_rows(db: Any, object_type: str, action: str | None = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.object_type == object_type)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(db.scalars(stmt.order_by(AuditEntry.seq)))


def enrolments_of(db: Any, patient_id: uuid.UUID) -> list[MonitoringEnrolment]:
    db.expire_all()
    return list(db.scalars(select(MonitoringEnrolment).where(MonitoringEnrolment.patient_id == patient_id)))


class TestEnrolPage:
    def test_the_programme_comes_first_then_the_form_lists_the_nurses_patients(self, client, db, world: World):
        patient_id = cared_patient(db, world.users["nurse"])
        db.commit()
        sign_in(client, db, world.users["nurse"])
        first = client.get("/telesurveillance/inscrire", headers=HTML).text
        assert "Insuffisance cardiaque chronique" in first and 'name="programme"' in first
        html = client.get("/telesurveillance/inscrire?programme=heart_failure", headers=HTML).text
        t = IDENTITIES[0].traits
        assert t.birth_name.upper() in html and t.birth_date.strftime("%d/%m/%Y") in html and " ans)" in html
        assert f'value="{patient_id}"' in html
        assert "Poids sec (kg)" in html and "obligatoire" in html and "plage plausible 20 à 350 kg" in html
        assert "Appareil SCALE-1" not in html  # lent to the world's patient: not free
        assert world.team.name in html and world.users["physician"].display_name in html

    def test_a_valid_form_enrols_and_leads_to_the_patients_page_with_the_audit(self, client, db, world: World):
        patient_id = cared_patient(db, world.users["nurse"])
        register(db, world.physician, world.team, "SCALE-2")
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/inscrire", headers=HTML, follow_redirects=False,
                               data=enrol_form(client, world, patient_id, devices="SCALE-2"))
        assert response.status_code == 303, response.text
        [enrolment] = enrolments_of(db, patient_id)
        assert response.headers["location"] == f"/telesurveillance/suivis/{enrolment.id}"
        assert enrolment.reference_values == {"dry_weight": 62.5} and enrolment.duration_months == 6
        assert enrolment.prescriber_id is None and enrolment.created_by == world.nurse.user_id
        assert db.scalar(select(MonitoringDeviceAssignment.active_device_id).where(
            MonitoringDeviceAssignment.enrolment_id == enrolment.id)) is not None
        created = [e for e in audit_rows(db, "monitoring_enrolment", "create") if e.object_id == str(enrolment.id)]
        assert created and created[0].actor_id == str(world.nurse.user_id)
        assert created[0].patient_id == str(patient_id)

    def test_errors_are_shown_by_field_and_what_was_typed_is_kept(self, client, db, world: World):
        patient_id = cared_patient(db, world.users["nurse"])
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/inscrire", headers=HTML, data=enrol_form(
            client, world, patient_id, consent=None, duration_months="13", **{"references.dry_weight": "abc"}))
        assert response.status_code == 422
        html = response.text
        assert "Le consentement du patient est obligatoire." in html and "Durée entre 1 et 12 mois." in html
        assert "Nombre attendu" in html
        assert 'value="13"' in html and 'value="abc"' in html and f'value="{patient_id}" selected' in html
        assert enrolments_of(db, patient_id) == []

    def test_a_refusal_of_the_rules_keeps_the_consent_box_ticked(self, client, db, world: World):
        patient_id = cared_patient(db, world.users["nurse"])
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/inscrire", headers=HTML,
                               data=enrol_form(client, world, patient_id, **{"references.dry_weight": "500"}))
        assert response.status_code == 422
        html = response.text
        assert "Poids sec hors de la plage plausible" in html and 'value="500"' in html
        assert 'id="consent" name="consent" value="1" checked' in html
        assert enrolments_of(db, patient_id) == []

    def test_a_patient_the_nurse_does_not_care_for_cannot_be_enrolled(self, client, db, world: World):
        stranger = cared_patient(db, make_user(db, "physician"), 1)
        db.commit()
        sign_in(client, db, world.users["nurse"])
        assert f'value="{stranger}"' not in client.get("/telesurveillance/inscrire?programme=heart_failure",
                                                        headers=HTML).text
        response = client.post("/telesurveillance/inscrire", headers=HTML, data=enrol_form(client, world, stranger))
        assert response.status_code == 404
        assert enrolments_of(db, stranger) == []
        denied = [e for e in audit_rows(db, "monitoring_enrolment") if e.outcome == "denied"]
        assert denied and denied[-1].patient_id == str(stranger) and denied[-1].actor_id == str(world.nurse.user_id)

    def test_a_team_the_nurse_is_not_in_is_refused(self, client, db, world: World):
        patient_id = cared_patient(db, world.users["nurse"])
        other = service.create_team(db, world.admin, establishment_id=uuid.uuid4(), name="Autre équipe")
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/inscrire", headers=HTML,
                               data=enrol_form(client, world, patient_id, team_id=str(other.id)))
        assert response.status_code == 404
        assert enrolments_of(db, patient_id) == []

    def test_a_patient_already_followed_in_the_programme_is_shown_but_not_selectable(self, client, db,
                                                                                     world: World):
        patient_id = cared_patient(db, world.users["nurse"])
        db.commit()
        sign_in(client, db, world.users["nurse"])
        client.post("/telesurveillance/inscrire", data=enrol_form(client, world, patient_id))
        html = client.get("/telesurveillance/inscrire?programme=heart_failure", headers=HTML).text
        assert f'value="{patient_id}" disabled' in html and "dans ce programme" in html

    def test_triplet(self, client, db, world: World):
        db.commit()
        assert_triplet(client, db, "GET", "/telesurveillance/inscrire?programme=heart_failure",
                       wrong_role_user=world.users["outsider_nurse"], outsider_user=None, page=True)


class TestDevicesPage:
    def test_registering_shows_the_secret_once_and_lists_the_device_as_free(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/appareils", headers=HTML, data={
            "csrf_token": csrf_token(client), "team_id": str(world.team.id), "label": "Balance connectée n° 2",
            "identifier": "BAL-0002", "kind": "device"})
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        assert "mlg_dev_" in response.text and "affichée une seule fois" in response.text
        listing = client.get("/telesurveillance/appareils", headers=HTML).text
        assert "Balance connectée n° 2" in listing and "BAL-0002" in listing and "Libre" in listing
        assert "mlg_dev_" not in listing
        device = db.scalar(select(MonitoringDevice).where(MonitoringDevice.identifier == "BAL-0002"))
        assert [e.actor_id for e in audit_rows(db, "monitoring_device", "create")
                if e.object_id == str(device.id)] == [str(world.nurse.user_id)]

    def test_the_lent_device_names_its_patient_only_to_those_who_see_them(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        html = client.get("/telesurveillance/appareils", headers=HTML).text
        assert "Appareil SCALE-1" in html and f"/telesurveillance/suivis/{world.enrolment.id}" in html
        listed = audit_rows(db, "monitoring_device", "search")
        assert listed and listed[-1].details["count"] == 1

    def test_a_taken_serial_number_is_refused_and_the_form_kept(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/appareils", headers=HTML, data={
            "csrf_token": csrf_token(client), "team_id": str(world.team.id), "label": "Balance bis",
            "identifier": "SCALE-1", "kind": "device"})
        assert response.status_code == 409
        assert "Un appareil porte déjà cet identifiant." in response.text and 'value="Balance bis"' in response.text

    def test_an_empty_form_says_what_is_missing(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/appareils", headers=HTML, data={
            "csrf_token": csrf_token(client), "team_id": str(world.team.id), "label": "", "identifier": ""})
        assert response.status_code == 422
        assert "appareil obligatoire (par exemple" in response.text and "Numéro de série obligatoire." in response.text

    def test_a_team_one_is_not_in_is_refused(self, client, db, world: World):
        other = service.create_team(db, world.admin, establishment_id=uuid.uuid4(), name="Autre équipe")
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/appareils", headers=HTML, data={
            "csrf_token": csrf_token(client), "team_id": str(other.id), "label": "Balance", "identifier": "X-1"})
        assert response.status_code == 404
        assert db.scalar(select(MonitoringDevice).where(MonitoringDevice.identifier == "X-1")) is None

    def test_triplet(self, client, db, world: World):
        db.commit()
        assert_triplet(client, db, "GET", "/telesurveillance/appareils",
                       wrong_role_user=world.users["outsider_nurse"], outsider_user=None, page=True)


class TestPatientDevices:
    def test_replacing_frees_the_old_device_and_assigns_the_new_one_with_the_audit(self, client, db,
                                                                                  world: World):
        register(db, world.physician, world.team, "SCALE-2")
        db.commit()
        sign_in(client, db, world.users["nurse"])
        page = client.get(f"/telesurveillance/suivis/{world.enrolment.id}", headers=HTML).text
        assert "Remplacer « Appareil SCALE-1 » par" in page and "Appareil SCALE-2" in page
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/appareils/remplacer",
                               data={"csrf_token": csrf_token(client), "old": "SCALE-1", "new": "SCALE-2"},
                               follow_redirects=False)
        assert response.status_code == 303
        db.expire_all()
        rows = db.scalars(select(MonitoringDeviceAssignment).where(
            MonitoringDeviceAssignment.enrolment_id == world.enrolment.id)).all()
        current = {r.device_id for r in rows if r.active_device_id is not None}
        devices = {d.identifier: d.id for d in db.scalars(select(MonitoringDevice))}
        assert current == {devices["SCALE-2"]}
        assert [r.ends_at is not None for r in rows if r.device_id == devices["SCALE-1"]] == [True]
        replaced = [e for e in audit_rows(db, "monitoring_enrolment", "update") if e.details
                    and e.details.get("device_returned")]
        assert replaced[-1].details == {"device_returned": str(devices["SCALE-1"]),
                                        "device_assigned": str(devices["SCALE-2"])}

    def test_a_device_lent_to_someone_else_cannot_be_assigned(self, client, db, world: World):
        other = make_patient_id(db)
        register(db, world.physician, world.team, "SCALE-3")
        enrol_patient(db, world.physician, world.team, patient_id=other, devices=["SCALE-3"])
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/appareils", headers=HTML,
                               data={"csrf_token": csrf_token(client), "identifier": "SCALE-3"})
        assert response.status_code == 409

    def test_assigning_a_free_device(self, client, db, world: World):
        register(db, world.physician, world.team, "SCALE-4")
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/appareils", follow_redirects=False,
                               data={"csrf_token": csrf_token(client), "identifier": "SCALE-4"})
        assert response.status_code == 303
        page = client.get(f"/telesurveillance/suivis/{world.enrolment.id}", headers=HTML).text
        assert "Appareil SCALE-4" in page


class TestSettingsPage:
    def test_the_patient_page_shows_reference_values_in_words(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        html = client.get(f"/telesurveillance/suivis/{world.enrolment.id}", headers=HTML).text
        assert "Poids sec : 80 kg" in html and "dry_weight" not in html
        assert f"/telesurveillance/suivis/{world.enrolment.id}/reglages" in html

    def test_the_form_shows_labels_defaults_bounds_and_mandatory_alerts(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        html = client.get(f"/telesurveillance/suivis/{world.enrolment.id}/reglages", headers=HTML).text
        assert "Poids au-dessus du poids sec" in html and "défaut 2 kg ; de 0,1 à 165 kg" in html
        assert "Alerte obligatoire : elle ne peut pas être désactivée." in html
        assert 'name="overrides.no_weight.enabled"' not in html and 'name="overrides.epof_signs.enabled"' in html
        assert "de 12 à 48 h" in html

    def test_a_threshold_is_saved_through_the_service(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/reglages", follow_redirects=False,
                               data={"csrf_token": csrf_token(client), "references.dry_weight": "79,5",
                                     "overrides.weight_over_dry.gain": "1,5", "overrides.weight_gain_3d.days": "3",
                                     "overrides.weight_gain_3d.gain": "2", "overrides.no_weight.hours": "24",
                                     "overrides.weight_gain_3d.enabled": "1",
                                     "overrides.weight_over_dry.enabled": "1"})
        assert response.status_code == 303
        db.expire_all()
        enrolment = db.get(MonitoringEnrolment, world.enrolment.id)
        assert enrolment.reference_values == {"dry_weight": 79.5}
        assert enrolment.overrides == {"weight_over_dry": {"gain": 1.5}, "no_weight": {"hours": 24.0},
                                       "epof_signs": {"enabled": False}}

    def test_a_value_out_of_bounds_is_refused_and_kept_as_typed(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/reglages", headers=HTML,
                               data={"csrf_token": csrf_token(client), "references.dry_weight": "80",
                                     "overrides.no_weight.hours": "96", "overrides.epof_signs.enabled": "1"})
        assert response.status_code == 422
        assert "Délai hors limites (12 à 48 h pour ce programme)" in response.text
        assert 'value="96"' in response.text
        db.expire_all()
        assert db.get(MonitoringEnrolment, world.enrolment.id).overrides == {}

    def test_triplet(self, client, db, world: World):
        outsider = make_user(db, "coordinating_nurse")
        db.commit()
        assert_triplet(client, db, "GET", f"/telesurveillance/suivis/{world.enrolment.id}/reglages",
                       wrong_role_user=world.users["outsider_nurse"], outsider_user=outsider, page=True)


def entries_by(db: Any, user: Any) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).where(AuditEntry.actor_id == str(user.id)).order_by(AuditEntry.seq)))


class TestWhatAReviewFound:
    """The attacks of the review of these pages, each written as a test."""

    def test_a_refused_form_keeps_the_audit_of_the_patients_it_shows_again(self, client, db, world: World):
        patient_id = cared_patient(db, world.users["nurse"])
        db.commit()
        sign_in(client, db, world.users["nurse"])
        before = len(entries_by(db, world.users["nurse"]))
        response = client.post("/telesurveillance/inscrire", headers=HTML,
                               data=enrol_form(client, world, patient_id, consent=None))
        assert response.status_code == 422 and IDENTITIES[0].traits.birth_name.upper() in response.text
        listed = [e for e in entries_by(db, world.users["nurse"])[before:]
                  if e.object_type == "patient" and e.action == "search"]
        assert listed, "the patients listed again on the refused form must stay in the audit"
        assert enrolments_of(db, patient_id) == []

    def test_a_refused_settings_form_keeps_the_audit_of_the_enrolment_read(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        before = len(entries_by(db, world.users["nurse"]))
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/reglages", headers=HTML,
                               data={"csrf_token": csrf_token(client), "references.dry_weight": "abc"})
        assert response.status_code == 422
        reads = [e for e in entries_by(db, world.users["nurse"])[before:] if e.object_id == str(world.enrolment.id)]
        assert reads and all(e.patient_id == str(world.patient_id) for e in reads)

    def test_someone_outside_the_team_neither_sees_nor_hands_over_its_devices(self, client, db, world: World):
        register(db, world.physician, world.team, "FREE-9")
        outsider = make_user(db, "coordinating_nurse")
        authz.grant_relationship(db, user_id=outsider.id, patient_id=world.patient_id, kind="attending")
        db.commit()
        sign_in(client, db, outsider)
        page = client.get(f"/telesurveillance/suivis/{world.enrolment.id}", headers=HTML)
        assert page.status_code == 200 and "FREE-9" not in page.text
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/appareils", headers=HTML,
                               data={"csrf_token": csrf_token(client), "identifier": "FREE-9"})
        assert response.status_code == 404
        db.expire_all()
        device = db.scalar(select(MonitoringDevice).where(MonitoringDevice.identifier == "FREE-9"))
        assert db.scalar(select(MonitoringDeviceAssignment).where(
            MonitoringDeviceAssignment.device_id == device.id)) is None
        with pytest.raises(NotFound):
            admin.replace_device(db, actor(db, outsider), world.enrolment.id, "SCALE-1", "FREE-9")

    def test_an_exceptional_access_cannot_become_an_enrolment(self, client, db, world: World):
        patient_id = make_patient_id(db)
        authz.break_glass(db, world.physician, patient_id, "Appel du SAMU pour décompensation, dossier nécessaire")
        db.commit()
        assert patient_id not in {c.id for c in admin.enrol_choices(db, world.physician,
                                                                             "heart_failure").patients}
        data = EnrolmentCreate(patient_id=patient_id, team_id=world.team.id, programme="heart_failure",
                               prescribed_on=admin.today(), duration_months=6, consent=True,
                               references={"dry_weight": 70.0})
        with pytest.raises(PermissionDenied):
            service.enrol(db, world.physician, data)
        db.rollback()
        assert enrolments_of(db, patient_id) == []
        assert db.scalar(select(CareRelationship).where(CareRelationship.patient_id == patient_id)) is None

    def test_a_settings_change_is_audited_with_what_changed(self, client, db, world: World):
        db.commit()
        sign_in(client, db, world.users["nurse"])
        before = len(entries_by(db, world.users["nurse"]))
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/reglages", follow_redirects=False,
                               data={"csrf_token": csrf_token(client), "references.dry_weight": "79,5",
                                     "overrides.weight_over_dry.gain": "1,5",
                                     "overrides.weight_over_dry.enabled": "1",
                                     "overrides.weight_gain_3d.enabled": "1"})
        assert response.status_code == 303
        details = [e.details for e in entries_by(db, world.users["nurse"])[before:]
                   if e.action == "update" and e.details and "dry_weight" in e.details]
        assert details and details[0]["dry_weight"] == "80.0 → 79.5"
        assert "1.5" in details[0]["weight_over_dry"]

    def test_handing_a_device_over_is_audited_with_the_device(self, client, db, world: World):
        register(db, world.physician, world.team, "SCALE-7")
        db.commit()
        sign_in(client, db, world.users["nurse"])
        client.post(f"/telesurveillance/suivis/{world.enrolment.id}/appareils", follow_redirects=False,
                    data={"csrf_token": csrf_token(client), "identifier": "SCALE-7"})
        assigned = [e for e in entries_by(db, world.users["nurse"]) if e.details
                    and e.details.get("device_assigned")]
        assert assigned and assigned[-1].patient_id == str(world.patient_id)
