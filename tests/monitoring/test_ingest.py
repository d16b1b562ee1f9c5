"""The ingestion pipeline against a real migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from maillage.audit.service import pending_count
from maillage.exceptions import PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.models.audit import AuditEntry
from maillage.models.monitoring import MonitoringAlert, MonitoringAlertEvent, MonitoringReading, MonitoringRuleState
from maillage.monitoring import ingest as pipeline
from maillage.monitoring import live, service
from maillage.monitoring.batchpool import SMALL_BATCH, BatchRunner
from maillage.monitoring.ingest import Incoming
from tests.monitoring.conftest import World, backdate, enrol_patient, register, weights


def open_alerts(db: Any, world: World) -> dict[str, MonitoringAlert]:
    rows = db.scalars(select(MonitoringAlert).where(MonitoringAlert.enrolment_id == world.enrolment.id,
                                                    MonitoringAlert.status == "open"))
    return {a.condition: a for a in rows}


def stored(db: Any, world: World) -> list[MonitoringReading]:
    return list(db.scalars(select(MonitoringReading).where(MonitoringReading.enrolment_id == world.enrolment.id)
                           .order_by(MonitoringReading.taken_at)))


class TestIngest:
    def test_weights_gaining_more_than_2_kg_in_3_days_raise_one_red_alert(self, db, world: World) -> None:
        """ESC/HFA: more than 2 kg in 3 days (DOMAIN.md §3.1)."""
        result = pipeline.ingest(db, world.device, weights((3, 78.0), (2, 78.8), (1, 79.5), (0, 80.3)))
        assert (result.accepted, result.duplicates, result.rejected) == (4, 0, 0)
        alerts = open_alerts(db, world)
        assert alerts["weight_gain_3d"].severity == "red"
        assert "2,3 kg" in alerts["weight_gain_3d"].message
        assert "received" not in alerts

    def test_a_replayed_batch_is_acknowledged_and_stored_once(self, db, world: World) -> None:
        batch = weights((3, 78.0), (0, 80.5))
        first = pipeline.ingest(db, world.device, batch)
        again = pipeline.ingest(db, world.device, batch)
        assert first.accepted == 2 and again.accepted == 0 and again.duplicates == 2
        assert [o.outcome for o in again.outcomes] == ["duplicate", "duplicate"]
        assert len(stored(db, world)) == 2
        assert open_alerts(db, world)["weight_gain_3d"].occurrences == 1

    def test_only_a_batch_that_changed_an_alert_asks_the_worklist_streams_to_refresh(self, db, world: World) -> None:
        """The worklist shows alerts only: a reading that opens, updates or clears none sends no NOTIFY."""
        db.info.pop(live.CHANGED_KEY, None)
        pipeline.ingest(db, world.device, weights((1, 80.0), prefix="a"))
        assert db.info.pop(live.CHANGED_KEY, False) is True  # the green "received" alert was opened
        assert "received" in open_alerts(db, world)
        quiet = pipeline.ingest(db, world.device, weights((0, 80.1), prefix="b"))
        assert quiet.accepted == 1 and live.CHANGED_KEY not in db.info  # the open green stays as it is
        replay = pipeline.ingest(db, world.device, weights((0, 80.1), prefix="b"))
        assert replay.duplicates == 1 and live.CHANGED_KEY not in db.info
        red = pipeline.ingest(db, world.device, weights((0, 83.0), prefix="c"))
        assert red.alerts_raised >= 1 and db.info.get(live.CHANGED_KEY) is True

    def test_the_same_reading_twice_in_one_batch_is_stored_once(self, db, world: World) -> None:
        batch = weights((1, 79.0)) + weights((1, 79.0))
        result = pipeline.ingest(db, world.device, batch)
        assert [o.outcome for o in result.outcomes] == ["stored", "duplicate"]

    def test_pounds_are_stored_in_kilograms_with_the_original_kept(self, db, world: World) -> None:
        at = now() - dt.timedelta(hours=1)
        pipeline.ingest(db, world.device, [Incoming(0, "lb-1", "29463-7", 176.0, at, "[lb_av]")])
        reading = stored(db, world)[0]
        assert reading.unit == "kg" and reading.value == pytest.approx(79.832, abs=0.001)
        assert (reading.original_value, reading.original_unit) == (176.0, "[lb_av]")

    def test_an_impossible_value_is_refused_and_the_rest_of_the_batch_accepted(self, db, world: World) -> None:
        at = now() - dt.timedelta(hours=1)
        batch = [Incoming(0, "ok-1", "weight", 79.0, at, "kg"), Incoming(1, "bad-1", "weight", 790.0, at, "kg"),
                 Incoming(2, "bad-2", "weight", 79.0, "hier", "kg")]
        result = pipeline.ingest(db, world.device, batch)
        assert [o.outcome for o in result.outcomes] == ["stored", "rejected", "rejected"]
        assert result.outcomes[1].code == "value_impossible" and "impossible" in (result.outcomes[1].message or "")
        assert result.outcomes[2].code == "time_invalid"
        assert len(stored(db, world)) == 1

    def test_all_or_nothing_refuses_the_whole_batch_when_one_reading_is_bad(self, db, world: World) -> None:
        at = now() - dt.timedelta(hours=1)
        batch = [Incoming(0, "ok-1", "weight", 79.0, at, "kg"), Incoming(1, "bad-1", "weight", 790.0, at, "kg")]
        with pytest.raises(ValidationFailed):
            pipeline.ingest(db, world.device, batch, all_or_nothing=True)
        assert stored(db, world) == []

    def test_a_paused_patients_readings_are_stored_marked_and_not_alerted(self, db, world: World) -> None:
        service.pause(db, world.physician, world.enrolment.id, "hospitalisation")
        result = pipeline.ingest(db, world.device, weights((3, 78.0), (0, 81.0)))
        assert result.accepted == 2 and result.alerts_raised == 0
        assert {r.status for r in stored(db, world)} == {"paused"}
        assert open_alerts(db, world) == {}

    def test_a_normal_reading_raises_green_once_and_later_ones_leave_it_alone(self, db, world: World) -> None:
        """One open green per patient; it is not rewritten for each reading (no write per "nothing to report")."""
        pipeline.ingest(db, world.device, weights((1, 80.5)))
        pipeline.ingest(db, world.device, weights((0, 80.4)))
        greens = db.scalars(select(MonitoringAlert).where(MonitoringAlert.condition == "received")).all()
        assert len(greens) == 1 and greens[0].status == "open" and greens[0].severity == "green"

    def test_a_normal_weight_clears_the_open_gain_alert(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((3, 78.0), (1, 80.5)))
        pipeline.ingest(db, world.device, weights((0, 78.2)))
        alert = db.scalar(select(MonitoringAlert).where(MonitoringAlert.condition == "weight_gain_3d"))
        assert alert.status == "closed" and alert.close_reason == "cleared"

    def test_an_alert_cleared_and_raised_again_in_one_batch_keeps_its_whole_timeline(self, db, world: World) -> None:
        """Closes, opens and their events written together (PostgreSQL folds them into fewer statements)."""
        pipeline.ingest(db, world.device, weights((3, 78.0), (2, 80.5), prefix="a"))
        result = pipeline.ingest(db, world.device, weights((1, 78.2), (0, 80.6), prefix="b"))
        assert result.alerts_raised == 1
        gains = db.scalars(select(MonitoringAlert).where(MonitoringAlert.condition == "weight_gain_3d")).all()
        assert sorted((a.status, a.close_reason) for a in gains) == [("closed", "cleared"), ("open", None)]
        kinds = {a.status: sorted(e.kind for e in db.scalars(select(MonitoringAlertEvent).where(
            MonitoringAlertEvent.alert_id == a.id))) for a in gains}
        assert kinds == {"closed": ["cleared"], "open": []}  # an opening is the alert row itself

    def test_the_rule_state_is_updated_not_rebuilt(self, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((1, 80.5)))
        db.expire_all()
        row = db.get(MonitoringRuleState, world.enrolment.id)
        assert row.state["m"]["weight"]["v"] == 80.5
        assert row.silence_due_at is not None
        # An early mark is harmless: the scheduled check re-reads the state, raises nothing, moves the mark on.
        assert service.check_silences(db) == 0
        db.expire_all()
        assert db.get(MonitoringRuleState, world.enrolment.id).silence_due_at > now()

    def test_an_unregistered_device_is_refused(self, db, world: World) -> None:
        from maillage.auth import tokens

        issued = tokens.create_device_credential(db, device_identifier="STRAY-1", label="x")
        stray = tokens.resolve_device(db, issued.secret)
        with pytest.raises(PermissionDenied):
            pipeline.ingest(db, stray, weights((0, 80.0)))

    def test_a_reading_before_the_device_was_assigned_is_refused(self, db, world: World) -> None:
        result = pipeline.ingest(db, world.device, weights((30, 80.0)))
        assert result.outcomes[0].code == "device_not_assigned"

    def test_a_gateway_sends_for_the_devices_behind_it_only(self, db, world: World) -> None:
        gateway, _ = register(db, world.physician, world.team, "GW-1", kind="gateway")
        register(db, world.physician, world.team, "OXI-9", gateway_identifier="GW-1", with_credential=False)
        other = backdate(db, enrol_patient(db, world.physician, world.team, programme="respiratory_oxygen",
                                           devices=["OXI-9"], references={}), 5)
        at = now() - dt.timedelta(hours=2)
        result = pipeline.ingest(db, gateway, [Incoming(0, "s-1", "59408-5", 88, at, "%", device="OXI-9"),
                                               Incoming(1, "s-2", "29463-7", 80, at, "kg", device="SCALE-1")])
        assert [o.outcome for o in result.outcomes] == ["stored", "rejected"]
        assert result.outcomes[1].code == "device_not_allowed"
        alert = db.scalar(select(MonitoringAlert).where(MonitoringAlert.enrolment_id == other.id))
        assert alert.condition == "spo2_low" and alert.severity == "red"

    def test_readings_of_unknown_devices_or_without_enrolment_are_refused_and_nothing_is_stored(
            self, db, world: World) -> None:
        """The reading table has no foreign keys (time-series): ingestion's lookup is what keeps it consistent."""
        from maillage.auth import tokens

        gateway, _ = register(db, world.physician, world.team, "GW-2", kind="gateway")
        register(db, world.physician, world.team, "SCALE-IDLE", gateway_identifier="GW-2", with_credential=False)
        at = now() - dt.timedelta(hours=1)
        result = pipeline.ingest(db, gateway, [Incoming(0, "u-1", "29463-7", 80, at, "kg", device="SCALE-NOWHERE"),
                                               Incoming(1, "u-2", "29463-7", 80, at, "kg", device="SCALE-IDLE")])
        assert [(o.outcome, o.code) for o in result.outcomes] == [("rejected", "device_not_allowed"),
                                                                  ("rejected", "device_not_assigned")]
        assert result.outcomes[0].message == "Appareil inconnu ou non rattaché à cette passerelle."
        assert result.outcomes[1].message.startswith("Aucun patient n'était équipé de cet appareil")
        stray = tokens.resolve_device(db, tokens.create_device_credential(db, device_identifier="STRAY-2",
                                                                      label="x").secret)
        with pytest.raises(PermissionDenied, match="pas enregistré en télésurveillance"):
            pipeline.ingest(db, stray, weights((0, 80.0), prefix="stray"))
        db.commit()
        assert db.scalar(select(func.count()).select_from(MonitoringReading)) == 0
        assert db.scalar(select(func.count()).select_from(MonitoringAlert)) == 0

    def test_one_audit_entry_per_batch_not_per_reading(self, db, world: World) -> None:
        before = pending_count(db)
        pipeline.ingest(db, world.device, weights((3, 78.0), (2, 78.5), (1, 79.0), (0, 79.2)))
        assert pending_count(db) == before + 1
        db.commit()
        entry = db.scalar(select(AuditEntry).where(AuditEntry.object_type == "monitoring_batch")
                          .order_by(AuditEntry.seq.desc()))
        assert entry.action == "ingest" and entry.actor_role == "device"
        assert entry.details["accepted"] == 4 and entry.patient_id == str(world.patient_id)

    def test_readings_of_an_ended_enrolment_are_stored_as_ended(self, db, world: World) -> None:
        device_ids = [a for a in db.scalars(select(MonitoringReading.device_id))]
        assert device_ids == []
        service.end(db, world.physician, world.enrolment.id, "clinical_decision")
        result = pipeline.ingest(db, world.device, weights((1, 80.0)))
        # The device was returned at the end: a reading taken before the end still belongs to that enrolment.
        assert result.accepted == 1
        assert stored(db, world)[0].status == "ended"
        assert db.scalar(select(func.count()).select_from(MonitoringAlert)
                         .where(MonitoringAlert.status == "open")) == 0


class TestHandOverToABatchChild:
    """A large batch crosses to a child process and its result back (``monitoring/batchpool``), both pickled in a
    compact form: nothing may be lost on the way."""

    def test_a_reading_packed_and_rebuilt_is_the_same_reading(self) -> None:
        item = Incoming(7, "r-7", "29463-7", 176.0, now(), "[lb_av]", "http://loinc.org", "SCALE-7",
                        uuid.uuid4())
        packed = item.packed()
        assert type(packed) is tuple  # pickled as such, not through the class
        assert Incoming(*packed) == item and Incoming(*packed).subject == item.subject

    def test_a_result_survives_pickling_with_every_outcome(self) -> None:
        result = pipeline.IngestResult(uuid.uuid4(), [
            pipeline.Outcome(0, "a", "stored"), pipeline.Outcome(1, "b", "duplicate"),
            pipeline.Outcome(2, "c", "rejected", "value_impossible", "Valeur impossible.")], 1, 1, 1, 2)
        again = pickle.loads(pickle.dumps(result))
        assert again == result
        assert again.to_reply() == result.to_reply()


class TestBatchRunner:
    """The batch pool is a runner object built with the application (``monitoring.setup``): the routes hand it the
    batch, never the HTTP request, and whether a batch goes to a child depends on the runner alone."""

    def test_create_app_keeps_a_runner_without_children_when_handed_a_tests_sessions(self, app) -> None:
        runner = app.state.monitoring_batch
        assert isinstance(runner, BatchRunner) and runner.processes == 0  # everything stays in the test's transaction

    def test_children_only_for_an_app_that_owns_its_postgresql_engine(self, settings) -> None:
        pg = settings.model_copy(update={"database_url": "postgresql://u@127.0.0.1:5432/x",
                                         "monitoring_batch_processes": 3})
        assert BatchRunner.for_app(pg, owns_engine=True).processes == 3
        assert BatchRunner.for_app(pg, owns_engine=False).processes == 0
        lite = settings.model_copy(update={"database_url": "sqlite:////tmp/x.sqlite3", "monitoring_batch_processes": 3})
        assert BatchRunner.for_app(lite, owns_engine=True).processes == 0

    def test_a_large_batch_goes_to_a_child_and_a_small_one_stays_in_the_session(self, db, world: World,
                                                                                  monkeypatch) -> None:
        runner = BatchRunner(processes=2, url="postgresql://unused", statement_timeout_ms=0)
        sent: list[tuple[Any, ...]] = []

        def submit(function: Any, *args: Any) -> Any:
            sent.append((function, *args))
            return pipeline.IngestResult(uuid.uuid4(), [])

        monkeypatch.setattr(runner, "_submit", submit)
        start = now() - dt.timedelta(days=2)
        large = [Incoming(i, f"big-{i}", "29463-7", 80.0, start + dt.timedelta(minutes=i), "kg")
                 for i in range(SMALL_BATCH + 1)]
        runner.ingest_batch(db, world.device, large, channel="fhir")
        assert len(sent) == 1 and len(sent[0][2]) == SMALL_BATCH + 1  # the readings, packed for the child
        assert count_stored(db, world) == 0  # nothing in this process's session
        small = runner.ingest_batch(db, world.device, large[:SMALL_BATCH])
        assert small.accepted == SMALL_BATCH and len(sent) == 1 and count_stored(db, world) == SMALL_BATCH


def count_stored(db: Any, world: World) -> int:
    return db.scalar(select(func.count()).select_from(MonitoringReading)
                     .where(MonitoringReading.enrolment_id == world.enrolment.id))
