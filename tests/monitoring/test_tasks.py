"""Background jobs of telesurveillance, called as the worker calls them."""

from __future__ import annotations

import datetime as dt

from maillage.kit.clock import frozen, now
from maillage.monitoring import tasks
from maillage.worker import registry
from tests.monitoring.conftest import World


class TestRegistration:
    def test_the_jobs_and_their_schedules_are_registered(self) -> None:
        names = set(registry.registered_names())
        assert {"monitoring.check_silences", "monitoring.record_forfaits", "monitoring.end_expired"} <= names
        periodic = {p.name: p.every for p in registry.periodic_specs()}
        assert periodic["monitoring.check_silences"] == tasks.SILENCE_CHECK_EVERY


class TestCheckSilences:
    def test_runs_twice_without_raising_twice(self, db, world: World) -> None:
        with frozen(now() + dt.timedelta(days=3)):
            assert tasks.check_silences(db) == 1
            assert tasks.check_silences(db) == 0


class TestRecordForfaits:
    def test_records_last_month_once(self, db, world: World) -> None:
        with frozen(now() + dt.timedelta(days=40)):
            first = tasks.record_forfaits(db)
            assert tasks.record_forfaits(db) == 0
        assert first >= 1


class TestEndExpired:
    def test_nothing_to_end_before_the_prescription_runs_out(self, db, world: World) -> None:
        assert tasks.end_expired(db) == 0
