"""Use cases of telesurveillance against a real migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from maillage.authz import service as authz
from maillage.exceptions import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import frozen, now
from maillage.models.authz import CareRelationship
from maillage.models.monitoring import (
    MonitoringAlert,
    MonitoringAlertEvent,
    MonitoringForfait,
    MonitoringGreenReceipt,
    MonitoringNotification,
    MonitoringRuleState,
)
from maillage.monitoring import ingest as pipeline
from maillage.monitoring import service
from maillage.monitoring.rules.programmes import get_programme
from maillage.monitoring.schemas import EnrolmentCreate
from tests.fixtures.factories import make_patient, make_patient_id
from tests.monitoring.conftest import World, actor, enrol_patient, register, weights


def listed_by(db: Any, who: Any, object_type: str) -> list[str]:
    """The patients named by the actor's last audited list read of ``object_type`` (committed first)."""
    from maillage.models.audit import AuditEntry, AuditEntryPatient

    db.commit()
    entry = db.scalars(select(AuditEntry).where(AuditEntry.actor_id == str(who.user_id), AuditEntry.action == "search",
                                                AuditEntry.object_type == object_type)
                       .order_by(AuditEntry.seq.desc()).limit(1)).one()
    return sorted(db.scalars(select(AuditEntryPatient.patient_id).where(AuditEntryPatient.entry_id == entry.id)))


def alerts(db: Any, enrolment_id: uuid.UUID, status: str = "open") -> dict[str, MonitoringAlert]:
    return {a.condition: a for a in db.scalars(select(MonitoringAlert).where(
        MonitoringAlert.enrolment_id == enrolment_id, MonitoringAlert.status == status))}


class TestEnrol:
    def test_the_care_team_gets_a_relationship_sourced_from_the_enrolment(self, db, world: World) -> None:
        rels = db.scalars(select(CareRelationship).where(CareRelationship.source_type == "monitoring_enrolment",
                                                         CareRelationship.source_id == str(world.enrolment.id)))
        assert {r.user_id for r in rels} == {world.physician.user_id, world.nurse.user_id}
        assert world.enrolment.status == "active" and world.enrolment.ends_on > world.enrolment.starts_on

    def test_without_a_prior_care_relationship_the_patient_does_not_exist(self, db, world: World) -> None:
        data = EnrolmentCreate(patient_id=uuid.uuid4(), team_id=world.team.id, programme="heart_failure",
                               prescribed_on=now().date(), duration_months=3, consent=True,
                               references={"dry_weight": 70.0})
        with pytest.raises(NotFound):
            service.enrol(db, world.physician, data)

    def test_a_team_one_is_not_in_is_not_found_like_a_missing_team(self, db, world: World) -> None:
        """Out of scope is 404, the same answer as missing (CONVENTIONS, house rule 3), not 403."""
        from tests.fixtures.factories import make_user

        stranger = actor(db, make_user(db, "physician"))
        with pytest.raises(NotFound) as outside:
            enrol_patient(db, stranger, world.team)
        with pytest.raises(NotFound) as missing:
            enrol_patient(db, world.physician, SimpleNamespace(id=uuid.uuid4()))
        assert outside.value.message == missing.value.message
        assert outside.value.status_code == missing.value.status_code == 404

    def test_consent_is_required(self, db, world: World) -> None:
        with pytest.raises(ValidationFailed):
            enrol_patient(db, world.physician, world.team, consent=False)

    def test_at_most_one_year_of_prescription(self, db, world: World) -> None:
        """CSS R162-100; the schema refuses it too, the service does not rely on it."""
        pid = make_patient_id(db)
        authz.grant_relationship(db, user_id=world.physician.user_id, patient_id=pid, kind="attending")
        data = EnrolmentCreate.model_construct(
            patient_id=pid, team_id=world.team.id, programme="heart_failure", prescribed_on=now().date(),
            duration_months=13, consent=True, consent_at=None, devices=[], references={"dry_weight": 70.0},
            overrides={}, care_team=[])
        with pytest.raises(ValidationFailed):
            service.enrol(db, world.physician, data)

    def test_the_dry_weight_is_required_for_heart_failure(self, db, world: World) -> None:
        with pytest.raises(ValidationFailed):
            enrol_patient(db, world.physician, world.team, references={})

    def test_a_patient_is_enrolled_once_per_programme(self, db, world: World) -> None:
        with pytest.raises(Conflict):
            enrol_patient(db, world.physician, world.team, patient_id=world.patient_id)

    def test_a_device_is_lent_to_one_patient_at_a_time(self, db, world: World) -> None:
        with pytest.raises(Conflict):
            enrol_patient(db, world.physician, world.team, devices=["SCALE-1"])

    def test_the_care_team_is_drawn_from_the_operator_team(self, db, world: World) -> None:
        with pytest.raises(ValidationFailed):
            enrol_patient(db, world.physician, world.team, care_team=[world.outsider_nurse.user_id])

    def test_a_nurse_cannot_enrol(self, db, world: World) -> None:
        with pytest.raises(PermissionDenied):
            enrol_patient(db, world.outsider_nurse, world.team)


class TestPauseResumeEnd:
    def test_pause_then_resume_restarts_the_non_transmission_period(self, db, world: World) -> None:
        service.pause(db, world.physician, world.enrolment.id, "holidays")
        assert world.enrolment.status == "paused"
        with frozen(now() + dt.timedelta(days=5)):
            service.resume(db, world.physician, world.enrolment.id)
            assert world.enrolment.status == "active" and world.enrolment.watch_from == now()
            row = db.get(MonitoringRuleState, world.enrolment.id)
            assert row.silence_due_at == now() + dt.timedelta(hours=48)

    def test_resuming_an_active_enrolment_is_refused(self, db, world: World) -> None:
        with pytest.raises(InvalidTransition):
            service.resume(db, world.physician, world.enrolment.id)

    def test_end_closes_alerts_returns_devices_and_ends_the_care_team(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        service.end(db, world.physician, world.enrolment.id, "patient_request")
        assert world.enrolment.status == "ended" and world.enrolment.end_reason == "patient_request"
        assert alerts(db, world.enrolment.id) == {}
        assert alerts(db, world.enrolment.id, "closed")["weight_gain_3d"].close_reason == "ended"
        with pytest.raises(NotFound):
            service.get_enrolment(db, world.nurse, world.enrolment.id)
        enrol_patient(db, world.physician, world.team, devices=["SCALE-1"])  # the scale is free again

    def test_an_unknown_end_reason_is_refused(self, db, world: World) -> None:
        with pytest.raises(ValidationFailed):
            service.end(db, world.physician, world.enrolment.id, "boredom")

    def test_an_outsider_cannot_pause(self, db, world: World) -> None:
        from tests.fixtures.factories import make_user

        other = actor(db, make_user(db, "physician"))
        with pytest.raises(NotFound):
            service.pause(db, other, world.enrolment.id, "holidays")


class TestUpdateSettings:
    def test_per_patient_overrides_change_the_rules_at_once(self, db, world: World) -> None:
        service.update_settings(db, world.physician, world.enrolment.id,
                                overrides={"weight_gain_3d": {"gain": 1.0}})
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 79.2)))
        assert "weight_gain_3d" in alerts(db, world.enrolment.id)

    def test_the_non_transmission_alert_cannot_be_disabled(self, db, world: World) -> None:
        with pytest.raises(ValidationFailed):
            service.update_settings(db, world.physician, world.enrolment.id,
                                    overrides={"no_weight": {"enabled": False}})


class TestAcknowledge:
    def test_acknowledging_closes_with_the_comment_and_keeps_the_history(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        alert = alerts(db, world.enrolment.id)["weight_gain_3d"]
        service.acknowledge(db, world.nurse, alert.id, "Patient appelé, diurétique adapté")
        assert alert.status == "closed" and alert.close_reason == "acknowledged"
        assert alert.comment == "Patient appelé, diurétique adapté" and alert.closed_by == world.nurse.user_id
        history = select(MonitoringAlertEvent).where(MonitoringAlertEvent.alert_id == alert.id)
        kinds = [e.kind for e in db.scalars(history.order_by(MonitoringAlertEvent.at))]
        assert kinds == ["acknowledged"]  # its opening is the alert row itself
        assert alert.opened_at <= alert.closed_at

    def test_a_new_out_of_range_reading_after_acknowledgement_opens_a_new_alert(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (1, 80.5)))
        service.acknowledge(db, world.nurse, alerts(db, world.enrolment.id)["weight_gain_3d"].id)
        pipeline.ingest(db, world.device, weights((0, 80.7)))
        assert alerts(db, world.enrolment.id)["weight_gain_3d"].occurrences == 1

    def test_an_outsider_gets_404_and_the_alert_stays_open(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        alert = alerts(db, world.enrolment.id)["weight_gain_3d"]
        with pytest.raises(NotFound):
            service.acknowledge(db, world.outsider_nurse, alert.id)

    def test_acknowledging_twice_is_a_conflict(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        alert = alerts(db, world.enrolment.id)["weight_gain_3d"]
        service.acknowledge(db, world.nurse, alert.id)
        with pytest.raises(Conflict):
            service.acknowledge(db, world.nurse, alert.id)


class TestEscalate:
    def test_escalation_notifies_the_physician_of_the_care_team(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        alert = alerts(db, world.enrolment.id)["weight_gain_3d"]
        service.escalate(db, world.nurse, alert.id, "Dyspnée au téléphone")
        assert alert.status == "open" and alert.escalated_to == world.physician.user_id
        notes = service.notifications(db, world.physician)
        assert [a.id for _, a in notes] == [alert.id]
        assert db.scalar(select(MonitoringNotification.user_id)) == world.physician.user_id

    def test_notifications_of_a_patient_no_longer_cared_for_are_not_shown(self, db, world: World) -> None:
        """The worklist showed every unread notification of the physician, scoped by nothing: once monitoring
        ended (and with it the care team's access), the escalated alert's clinical message stayed on show."""
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        alert = alerts(db, world.enrolment.id)["weight_gain_3d"]
        service.escalate(db, world.nurse, alert.id, "Dyspnée au téléphone")
        service.end(db, world.nurse, world.enrolment.id, "patient_request")
        for rel in db.scalars(select(CareRelationship).where(CareRelationship.user_id == world.physician.user_id,
                                                             CareRelationship.patient_id == world.patient_id)):
            rel.ends_at = rel.ends_at or rel.starts_at + dt.timedelta(microseconds=1)  # no longer the attending
        db.flush()
        assert service.notifications(db, world.physician) == []

    def test_a_physician_outside_the_care_team_is_refused(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        alert = alerts(db, world.enrolment.id)["weight_gain_3d"]
        with pytest.raises(ValidationFailed):
            service.escalate(db, world.nurse, alert.id, physician_id=world.admin.user_id)


class TestAcknowledgeAllGreen:
    def test_all_greens_close_with_one_receipt(self, db, world: World) -> None:
        register(db, world.physician, world.team, "SCALE-2")
        second = enrol_patient(db, world.physician, world.team, devices=["SCALE-2"])
        pipeline.ingest(db, world.device, weights((0, 80.1)))
        receipt = service.acknowledge_all_green(db, world.nurse)
        assert receipt is not None and receipt.count == 1
        assert alerts(db, world.enrolment.id, "closed")["received"].receipt_id == receipt.id
        assert db.scalar(select(MonitoringGreenReceipt.actor_id)) == world.nurse.user_id
        assert second.id != world.enrolment.id

    def test_red_alerts_are_untouched(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
        assert service.acknowledge_all_green(db, world.nurse) is None
        assert "weight_gain_3d" in alerts(db, world.enrolment.id)

    def test_the_next_normal_reading_opens_a_fresh_green(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((1, 80.1)))
        service.acknowledge_all_green(db, world.nurse)
        pipeline.ingest(db, world.device, weights((0, 80.2)))
        assert alerts(db, world.enrolment.id)["received"].occurrences == 1


class TestWorklist:
    def test_red_then_orange_then_missing_data_then_green(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 82.5)))  # +4.5 kg: red gain, orange over dry
        register(db, world.physician, world.team, "SCALE-3")
        silent = enrol_patient(db, world.physician, world.team, devices=["SCALE-3"])
        with frozen(now() + dt.timedelta(hours=49)):
            assert service.check_silences(db) >= 1
            work = service.worklist(db, world.nurse)
        assert [a.condition for a in work.groups["red"]] == ["weight_gain_3d"]
        assert [a.condition for a in work.groups["orange"]] == ["weight_over_dry"]
        missing = {a.enrolment_id for a in work.groups["missing"]}
        assert missing == {silent.id, world.enrolment.id}  # 49 h without weight for both
        assert all(a.severity == "orange" for a in work.groups["missing"])

    def test_an_outsider_sees_nothing(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 82.5)))
        assert service.worklist(db, world.outsider_nurse).count == 0

    def test_the_worklist_read_is_audited_with_the_patients_it_showed(self, db, world: World) -> None:
        """Finding 8: "who saw this patient" must find the nurse's worklist, not just a count."""
        pipeline.ingest(db, world.device, weights((3, 78.0), (0, 82.5)))
        work = service.worklist(db, world.nurse)
        assert work.count == 2
        assert listed_by(db, world.nurse, "monitoring_alert") == [str(world.patient_id)]


class TestCheckSilences:
    """Non-transmission: 48 h for the daily weight by default (arrêté IC of 22 June 2023)."""

    def test_no_weight_for_48_hours_raises_once(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((0, 80.0)))
        with frozen(now() + dt.timedelta(hours=47)):
            assert service.check_silences(db) == 0
        with frozen(now() + dt.timedelta(hours=49)):
            assert service.check_silences(db) == 1
            assert service.check_silences(db) == 0
        alert = alerts(db, world.enrolment.id)["no_weight"]
        assert alert.silence and alert.severity == "orange"

    def test_a_paused_patient_is_not_checked(self, db, world: World) -> None:
        service.pause(db, world.physician, world.enrolment.id, "hospitalisation")
        with frozen(now() + dt.timedelta(days=10)):
            assert service.check_silences(db) == 0

    def test_a_reading_closes_the_silence_alert(self, db, world: World) -> None:
        with frozen(now() + dt.timedelta(days=3)):
            service.check_silences(db)
            assert "no_weight" in alerts(db, world.enrolment.id)
            pipeline.ingest(db, world.device, weights((0, 80.0)))
        assert alerts(db, world.enrolment.id, "closed")["no_weight"].close_reason == "cleared"


class TestRecordForfaits:
    def test_one_forfait_per_enrolled_patient_and_month(self, db, world: World) -> None:
        month = world.enrolment.starts_on.replace(day=1)
        assert service.record_forfaits(db, month) >= 1
        assert service.record_forfaits(db, month) == 0
        row = db.scalar(select(MonitoringForfait).where(MonitoringForfait.enrolment_id == world.enrolment.id))
        assert (row.level, row.amount_cents) == ("2", 2800)

    def test_an_enhanced_period_is_billed_at_its_level(self, db, world: World) -> None:
        start = world.enrolment.starts_on.replace(day=1)
        service.add_enhanced_period(db, world.physician, world.enrolment.id, level="enhanced_2",
                                    starts_on=world.enrolment.starts_on, months=2)
        service.record_forfaits(db, start)
        row = db.scalar(select(MonitoringForfait).where(MonitoringForfait.enrolment_id == world.enrolment.id))
        assert (row.level, row.amount_cents) == ("enhanced_2", 7000)


class TestEndExpired:
    def test_an_expired_prescription_ends_the_enrolment(self, db, world: World) -> None:
        assert service.end_expired(db, world.enrolment.ends_on + dt.timedelta(days=1)) >= 1
        assert world.enrolment.status == "ended" and world.enrolment.end_reason == "prescription_expired"


class TestAdherence:
    def test_the_share_of_days_with_a_weight(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((9, 80.0), (8, 80.1), (2, 80.2)))
        rows = service.adherence_rows(db, world.enrolment)
        expected = sum(r.expected for r in rows)
        received = sum(r.received for r in rows)
        assert received == 3 and expected >= 10

    def test_days_with_a_reading_are_paris_days(self, db, world: World) -> None:
        """Adherence counts the patient's calendar days (Europe/Paris), not UTC ones (DOMAIN.md §2.4: expected
        transmissions per day): a reading at 00:10 Paris counts for that day though it is still the day before in
        UTC, and the period's bounds are Paris midnights (read through the patient's curve index)."""
        from maillage.kit.clock import PARIS
        from maillage.monitoring import repository as repo

        today = now().astimezone(PARIS).date()
        first, last = today - dt.timedelta(days=6), today - dt.timedelta(days=3)

        def at(day: dt.date, hour: int, minute: int) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS)

        instants = {
            "before-first": at(first - dt.timedelta(days=1), 23, 50),  # the day before the period: out
            "first-early": at(first, 0, 10),  # the previous day in UTC: in, as ``first``
            "middle": at(first + dt.timedelta(days=1), 12, 0),
            "last-late": at(last, 23, 50),  # in, as ``last``
            "after-last": at(last + dt.timedelta(days=1), 0, 10),  # out
        }
        readings = [pipeline.Incoming(i, key, "29463-7", 80.0, when, "kg") for i, (key, when) in
                    enumerate(instants.items())]
        result = pipeline.ingest(db, world.device, readings)
        assert result.accepted == 5
        days = repo.days_with_data(db, world.enrolment.id, world.patient_id, "weight", first, last)
        assert sorted(days) == [first, first + dt.timedelta(days=1), last]

    def test_regulatory_checks_at_one_and_two_months_are_listed(self, db, world: World) -> None:
        from tests.monitoring.conftest import backdate

        backdate(db, world.enrolment, 45)  # enrolled 55 days ago: the one-month check is due, not the second
        checks = service.regulatory_checks(db, world.nurse)
        mine = [c for c in checks if c.enrolment.id == world.enrolment.id]
        assert [c.checkpoint for c in mine] == [1]
        assert mine[0].row.ok is False  # nothing transmitted: under 50 %
        assert str(world.patient_id) in listed_by(db, world.nurse, "monitoring_adherence")

    def test_the_followed_patients_list_is_audited_with_its_patients(self, db, world: World) -> None:
        assert [e.id for e in service.my_enrolments(db, world.nurse)] == [world.enrolment.id]
        assert listed_by(db, world.nurse, "monitoring_enrolment") == [str(world.patient_id)]


class TestRegisterDevice:
    def test_the_secret_is_returned_once_and_authenticates_as_the_device(self, db, world: World) -> None:
        assert world.secret.startswith("mlg_dev_") and world.device.device_identifier == "SCALE-1"

    def test_a_duplicate_identifier_is_a_conflict(self, db, world: World) -> None:
        with pytest.raises(Conflict):
            register(db, world.physician, world.team, "SCALE-1")


def test_relationship_helper_is_the_security_core(db, world: World) -> None:
    """The care team is a plain care relationship: the security core's access function sees it."""
    grant = authz.access_patient(db, world.nurse, world.patient_id, "monitoring")
    assert grant.patient_id == world.patient_id


class TestLabels:
    def test_the_care_team_sees_the_patients_name_and_the_programme(self, db, world: World) -> None:
        p = make_patient(db, "Durand", "Jeanne")
        enrolment = enrol_patient(db, world.physician, world.team, patient_id=p.id)
        assert service.labels(db, world.physician, [enrolment.id]) == {
            enrolment.id: ("DURAND Jeanne", get_programme("heart_failure").label)}

    def test_an_actor_without_access_gets_a_short_id_instead_of_the_name(self, db, world: World) -> None:
        p = make_patient(db, "Durand", "Jeanne")
        enrolment = enrol_patient(db, world.physician, world.team, patient_id=p.id)
        label, _ = service.labels(db, world.outsider_nurse, [enrolment.id])[enrolment.id]
        assert label == f"Patient {str(p.id)[:8]}"
