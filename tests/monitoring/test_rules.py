"""Pure rules of telesurveillance, without a database.

The rule engine is tested table-driven: each case is a series of readings (with local Paris times) and the
conditions it must raise and must not raise. Sources of each rule are in ``maillage.monitoring.rules`` and
in DOMAIN.md §2.4 and §3.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import maillage.monitoring
from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.kit.clock import PARIS
from maillage.monitoring.rules.adherence import adherence, adherence_ok, expected_transmissions, received_periods
from maillage.monitoring.rules.alerting import Severity, SilenceRule
from maillage.monitoring.rules.engine import (
    AlertEvent,
    PatientState,
    acknowledge_condition,
    check_silence,
    evaluate,
    silence_due_at,
)
from maillage.monitoring.rules.enrolment import prescription_end, transition
from maillage.monitoring.rules.forfaits import (
    FORFAIT_AMOUNTS_CENTS,
    EnhancedPeriod,
    ForfaitLevel,
    check_enhanced_period,
    forfait_due,
    forfait_for_month,
    monitored_days,
)
from maillage.monitoring.rules.measures import (
    LOINC,
    MEASURES,
    Reading,
    ReadingRejected,
    drop_replays,
    local_day,
    normalise,
)
from maillage.monitoring.rules.overrides import check_overrides, check_references, resolve_rules
from maillage.monitoring.rules.programmes import PROGRAMMES, get_programme

RECEIVED_AT = dt.datetime(2026, 6, 20, 12, 0, tzinfo=dt.UTC)


def paris(text: str) -> dt.datetime:
    """'2026-06-14 07:00' in Europe/Paris → aware UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=PARIS).astimezone(dt.UTC)


def reading(when: str | dt.datetime, measure: str, value: float, unit: str | None = None, key: str = "") -> Reading:
    at = paris(when) if isinstance(when, str) else when
    return normalise(measure, None, value, unit, at, RECEIVED_AT, key or f"{measure}-{at.isoformat()}")


@dataclass
class Case:
    name: str
    programme: str
    batches: list[list[Reading]]
    raised: set[str] = field(default_factory=set)
    not_raised: set[str] = field(default_factory=set)
    references: dict[str, float] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    alerting: bool = True
    cleared: set[str] = field(default_factory=set)


HF = {"dry_weight": 71.0}
DIAB = {"hypo_threshold": 54.0}

CASES = [
    # Heart failure: weight gain over three local days (ESC/HFA: more than 2 kg in 3 days).
    Case("weight +2.3 kg in 3 days raises the red weight-gain alert", "heart_failure",
         [[reading("2026-06-11 07:00", "weight", 70.0)], [reading("2026-06-12 07:00", "weight", 70.8)],
          [reading("2026-06-13 07:00", "weight", 71.5)], [reading("2026-06-14 07:00", "weight", 72.3)]],
         raised={"weight_gain_3d"}, not_raised={"weight_over_dry"}, references=HF),
    Case("exactly +2.0 kg in 3 days does not raise (more than 2 kg is required)", "heart_failure",
         [[reading("2026-06-11 07:00", "weight", 70.0)], [reading("2026-06-14 07:00", "weight", 72.0)]],
         not_raised={"weight_gain_3d"}, references=HF),
    Case("a gain spread over four days does not raise the three-day rule", "heart_failure",
         [[reading("2026-06-10 07:00", "weight", 70.0)], [reading("2026-06-14 07:00", "weight", 72.5)]],
         not_raised={"weight_gain_3d"}, references={"dry_weight": 72.0}),
    Case("day boundary: 23:50 four local days before is outside the window", "heart_failure",
         [[reading("2026-06-10 23:50", "weight", 70.0)], [reading("2026-06-14 07:00", "weight", 72.5)]],
         not_raised={"weight_gain_3d"}, references={"dry_weight": 72.0}),
    Case("day boundary: 00:10 three local days before is inside the window", "heart_failure",
         [[reading("2026-06-11 00:10", "weight", 70.0)], [reading("2026-06-14 07:00", "weight", 72.5)]],
         raised={"weight_gain_3d"}, references={"dry_weight": 72.0}),
    Case("day boundary: days are Paris days, not UTC days (22:30 UTC is 00:30 the next day in summer)",
         "heart_failure",
         [[reading(dt.datetime(2026, 6, 10, 22, 30, tzinfo=dt.UTC), "weight", 70.0)],
          [reading("2026-06-14 07:00", "weight", 72.5)]],
         raised={"weight_gain_3d"}, references={"dry_weight": 72.0}),
    Case("weights in pounds are converted to kg before the rules (154.3 lb → 159.6 lb is +2.4 kg)", "heart_failure",
         [[reading("2026-06-11 07:00", "weight", 154.3, "[lb_av]")],
          [reading("2026-06-14 07:00", "weight", 159.6, "[lb_av]")]],
         raised={"weight_gain_3d"}, references={"dry_weight": 72.0}),
    Case("weight more than 2 kg over the dry weight raises the orange alert", "heart_failure",
         [[reading("2026-06-14 07:00", "weight", 73.1)]], raised={"weight_over_dry"}, not_raised={"weight_gain_3d"},
         references=HF),
    Case("weight 2 kg over the dry weight exactly does not raise", "heart_failure",
         [[reading("2026-06-14 07:00", "weight", 73.0)]], not_raised={"weight_over_dry"}, references=HF),
    Case("two EPOF signs raise, one does not", "heart_failure",
         [[reading("2026-06-13 07:00", "epof", 1)], [reading("2026-06-14 07:00", "epof", 2)]],
         raised={"epof_signs"}, references=HF),
    Case("one EPOF sign alone raises nothing", "heart_failure",
         [[reading("2026-06-14 07:00", "epof", 1)]], not_raised={"epof_signs"}, references=HF),
    Case("a paused patient's readings raise nothing, not even green", "heart_failure",
         [[reading("2026-06-11 07:00", "weight", 70.0)], [reading("2026-06-14 07:00", "weight", 75.0)]],
         not_raised={"weight_gain_3d", "weight_over_dry", "received"}, references=HF, alerting=False),
    Case("the operator's per-patient gain (1.5 kg) replaces the default", "heart_failure",
         [[reading("2026-06-11 07:00", "weight", 70.0)], [reading("2026-06-14 07:00", "weight", 71.8)]],
         raised={"weight_gain_3d"}, references=HF, overrides={"weight_gain_3d": {"gain": 1.5}}),
    Case("a normal reading raises the green 'received' condition only", "heart_failure",
         [[reading("2026-06-14 07:00", "weight", 71.2)]], raised={"received"},
         not_raised={"weight_gain_3d", "weight_over_dry"}, references=HF),
    # Diabetes: level 1 ≤ 70, severe < 54 or the physician's threshold (ADA table 6.3; arrêté diabète).
    Case("glucose 70 mg/dL is a level-1 hypoglycaemia (≤ 70)", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 70)]], raised={"hypo"}, not_raised={"hypo_severe"},
         references=DIAB),
    Case("glucose 71 mg/dL raises no hypoglycaemia", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 71)]], not_raised={"hypo", "hypo_severe"}, references=DIAB),
    Case("glucose 53 mg/dL is severe (< 54) and only the severe alert is raised", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 53)]], raised={"hypo_severe"}, not_raised={"hypo"},
         references=DIAB),
    Case("glucose 54 mg/dL is not severe under the default threshold", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 54)]], raised={"hypo"}, not_raised={"hypo_severe"},
         references=DIAB),
    Case("the physician's severe threshold (60 mg/dL) replaces 54", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 58)]], raised={"hypo_severe"}, not_raised={"hypo"},
         references={"hypo_threshold": 60.0}),
    Case("mmol/L readings are converted: 2.9 mmol/L is 52 mg/dL, severe", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 2.9, "mmol/L")]], raised={"hypo_severe"}, references=DIAB),
    Case("a level-1 alert gives way to the severe one and clears", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 65)], [reading("2026-06-14 07:30", "glucose", 50)]],
         raised={"hypo", "hypo_severe"}, cleared={"hypo"}, references=DIAB),
    Case("a normal glucose clears the open hypoglycaemia", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 65)], [reading("2026-06-14 08:00", "glucose", 120)]],
         raised={"hypo"}, cleared={"hypo"}, references=DIAB),
    Case("a late reading older than the last one never clears", "diabetes",
         [[reading("2026-06-14 10:00", "glucose", 65)], [reading("2026-06-14 09:00", "glucose", 120)]],
         raised={"hypo"}, references=DIAB),
    Case("glucose above the physician's high target (180) raises", "diabetes",
         [[reading("2026-06-14 12:00", "glucose", 190)]], raised={"hyperglycaemia"},
         references={**DIAB, "glucose_target_high": 180.0}),
    Case("a disabled non-mandatory rule raises nothing", "diabetes",
         [[reading("2026-06-14 07:00", "glucose", 65)]], not_raised={"hypo"}, references=DIAB,
         overrides={"hypo": {"enabled": False}}),
    # Respiratory failure under oxygen: SpO2 under target.
    Case("SpO2 89 % is under the default 90 % target", "respiratory_oxygen",
         [[reading("2026-06-14 07:00", "spo2", 89)]], raised={"spo2_low"}),
    Case("SpO2 89 % is fine with a patient target of 88 %", "respiratory_oxygen",
         [[reading("2026-06-14 07:00", "spo2", 89)]], not_raised={"spo2_low"}, references={"spo2_target": 88.0}),
    # Implantable cardiac devices: the device's own alert level, exclusive group.
    Case("an urgent implant alert raises red only", "cardiac_implant",
         [[reading("2026-06-14 07:00", "implant_alert", 2)]], raised={"implant_urgent"}, not_raised={"implant_alert"}),
]


def run(case: Case) -> tuple[list[AlertEvent], PatientState]:
    programme = get_programme(case.programme)
    resolved = resolve_rules(programme, case.references, case.overrides)
    state = PatientState()
    events: list[AlertEvent] = []
    for batch in case.batches:
        result = evaluate(resolved, state, batch, alerting=case.alerting)
        state = result.state
        events.extend(result.events)
    return events, state


class TestEvaluate:
    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_series_raise_what_they_must_and_nothing_they_must_not(self, case: Case) -> None:
        events, state = run(case)
        raised = {e.condition for e in events if e.kind == "raise"}
        cleared = {e.condition for e in events if e.kind == "clear"}
        assert case.raised <= raised, (case.raised, raised)
        assert not (case.not_raised & raised), (case.not_raised & raised)
        assert case.cleared <= cleared, (case.cleared, cleared)
        for condition in case.raised - case.cleared:
            assert condition in state.open

    def test_a_paused_patient_returns_no_event_but_the_state_learns_the_readings(self) -> None:
        case = CASES[11]
        events, state = run(case)
        assert events == []
        assert state.measures["weight"].last_value == 75.0
        assert state.open == {}

    def test_an_open_condition_is_repeated_not_raised_twice(self) -> None:
        programme = get_programme("diabetes")
        resolved = resolve_rules(programme, DIAB, {})
        first = evaluate(resolved, PatientState(), [reading("2026-06-14 07:00", "glucose", 65)])
        second = evaluate(resolved, first.state, [reading("2026-06-14 08:00", "glucose", 66)])
        assert [e.kind for e in first.events if e.condition == "hypo"] == ["raise"]
        assert [e.kind for e in second.events if e.condition == "hypo"] == ["repeat"]

    def test_a_replayed_reading_is_evaluated_once(self) -> None:
        """A retried batch or an MQTT redelivery carries the same device reading id: stored and alerted once."""
        programme = get_programme("heart_failure")
        resolved = resolve_rules(programme, HF, {})
        base = reading("2026-06-11 07:00", "weight", 70.0, key="r1")
        gain = reading("2026-06-14 07:00", "weight", 72.3, key="r2")
        state = evaluate(resolved, PatientState(), drop_replays([base])).state
        first = evaluate(resolved, state, drop_replays([gain, gain], {"r1"}))
        replay = drop_replays([gain], {"r1", "r2"})
        second = evaluate(resolved, first.state, replay)
        assert [e.kind for e in first.events if e.condition == "weight_gain_3d"] == ["raise"]
        assert replay == [] and second.events == ()

    def test_a_reading_clears_the_non_transmission_condition_of_its_measure(self) -> None:
        programme = get_programme("heart_failure")
        resolved = resolve_rules(programme, HF, {})
        silent = check_silence(resolved, PatientState(), paris("2026-06-14 07:00"), paris("2026-06-12 06:00"))
        back = evaluate(resolved, silent.state, [reading("2026-06-14 08:00", "weight", 71.0)])
        assert ("clear", "no_weight") in {(e.kind, e.condition) for e in back.events}
        assert "no_weight" not in back.state.open

    def test_day_history_is_pruned_to_the_longest_window(self) -> None:
        programme = get_programme("heart_failure")
        resolved = resolve_rules(programme, HF, {})
        state = PatientState()
        for day in range(1, 21):
            state = evaluate(resolved, state, [reading(f"2026-06-{day:02d} 07:00", "weight", 71.0)]).state
        assert len(state.measures["weight"].day_low) == 5  # today, the three days of the window, one of margin

    def test_the_state_survives_a_round_trip_through_json(self) -> None:
        _events, state = run(CASES[0])
        assert PatientState.from_json(state.to_json()) == state


class TestGainMessages:
    """Issue 15, finding 10: the figures of a gain message must add up as shown."""

    def test_the_gain_shown_is_the_difference_of_the_weights_shown(self) -> None:
        """69,96 kg → 72,34 kg: an unrounded gain of 2,38 kg used to read "+2,4 kg (70,0 kg → 72,3 kg)"."""
        resolved = resolve_rules(get_programme("heart_failure"), {"dry_weight": 80.0}, {})
        state = evaluate(resolved, PatientState(), [reading("2026-06-11 07:00", "weight", 69.96)]).state
        result = evaluate(resolved, state, [reading("2026-06-14 07:00", "weight", 72.34)])
        [event] = [e for e in result.events if e.condition == "weight_gain_3d"]
        assert event.message == ("Prise de poids rapide (suspicion de décompensation) : +2,3 kg en 3 jours "
                                 "(70,0 kg → 72,3 kg ; seuil + 2,0 kg)")

    def test_the_gain_over_the_dry_weight_is_the_difference_of_the_weights_shown(self) -> None:
        resolved = resolve_rules(get_programme("heart_failure"), {"dry_weight": 69.96}, {})
        result = evaluate(resolved, PatientState(), [reading("2026-06-14 07:00", "weight", 72.34)])
        [event] = [e for e in result.events if e.condition == "weight_over_dry"]
        assert "72,3 kg, soit +2,3 kg par rapport à la référence 70,0 kg" in event.message


class TestCheckSilence:
    """Non-transmission (arrêtés of 22 June 2023: cannot be disabled); 48 h for the daily weight by default."""

    def setup_method(self) -> None:
        self.rules = resolve_rules(get_programme("heart_failure"), HF, {})

    def test_no_weight_for_more_than_48_hours_raises(self) -> None:
        state = evaluate(self.rules, PatientState(), [reading("2026-06-10 07:00", "weight", 71.0)]).state
        result = check_silence(self.rules, state, paris("2026-06-12 07:01"), paris("2026-06-01 00:00"))
        assert [e.condition for e in result.events] == ["no_weight"]
        assert result.events[0].severity is Severity.ORANGE

    def test_47_hours_without_weight_raise_nothing(self) -> None:
        state = evaluate(self.rules, PatientState(), [reading("2026-06-10 07:00", "weight", 71.0)]).state
        assert check_silence(self.rules, state, paris("2026-06-12 06:00"), paris("2026-06-01 00:00")).events == ()

    def test_the_period_runs_from_the_resumption_of_monitoring(self) -> None:
        state = evaluate(self.rules, PatientState(), [reading("2026-06-01 07:00", "weight", 71.0)]).state
        at = paris("2026-06-12 07:00")
        assert check_silence(self.rules, state, at, paris("2026-06-11 07:00")).events == ()

    def test_an_open_silence_is_not_raised_again(self) -> None:
        first = check_silence(self.rules, PatientState(), paris("2026-06-12 07:00"), paris("2026-06-01 00:00"))
        again = check_silence(self.rules, first.state, paris("2026-06-12 08:00"), paris("2026-06-01 00:00"))
        assert len(first.events) == 1 and again.events == ()

    def test_an_acknowledged_silence_restarts_its_period(self) -> None:
        first = check_silence(self.rules, PatientState(), paris("2026-06-12 07:00"), paris("2026-06-01 00:00"))
        acked = acknowledge_condition(first.state, "no_weight", paris("2026-06-12 08:00"), silence=True)
        early = check_silence(self.rules, acked, paris("2026-06-13 08:00"), paris("2026-06-01 00:00"))
        late = check_silence(self.rules, acked, paris("2026-06-14 08:01"), paris("2026-06-01 00:00"))
        assert early.events == () and [e.condition for e in late.events] == ["no_weight"]

    def test_the_scheduled_check_is_due_when_the_silence_would_be_raised(self) -> None:
        """``silence_due_at`` marks the row for the worker: 48 h after the last weight, or after the acknowledgement
        when it is later; nothing while the silence alert is open."""
        state = evaluate(self.rules, PatientState(), [reading("2026-06-10 07:00", "weight", 71.0)]).state
        watch_from = paris("2026-06-01 00:00")
        assert silence_due_at(self.rules, state, watch_from) == paris("2026-06-12 07:00")
        assert silence_due_at(self.rules, state, paris("2026-06-11 00:00")) == paris("2026-06-13 00:00")
        raised = check_silence(self.rules, state, paris("2026-06-12 07:01"), watch_from).state
        assert silence_due_at(self.rules, raised, watch_from) is None
        acked = acknowledge_condition(raised, "no_weight", paris("2026-06-12 09:00"), silence=True)
        assert silence_due_at(self.rules, acked, watch_from) == paris("2026-06-14 09:00")

    def test_diabetes_waits_a_week(self) -> None:
        """Arrêté diabète: transmission at least weekly."""
        diab = resolve_rules(get_programme("diabetes"), DIAB, {})
        start = paris("2026-06-01 00:00")
        assert check_silence(diab, PatientState(), paris("2026-06-07 23:00"), start).events == ()
        assert len(check_silence(diab, PatientState(), paris("2026-06-08 01:00"), start).events) == 1


class TestNormalise:
    def test_pounds_become_kilograms(self) -> None:
        assert reading("2026-06-14 07:00", "29463-7", 165.0, "[lb_av]").value == pytest.approx(74.843, abs=0.001)

    def test_the_common_lb_spelling_is_accepted(self) -> None:
        assert reading("2026-06-14 07:00", "weight", 100.0, "lb").value == pytest.approx(45.359, abs=0.001)

    def test_mmol_per_litre_become_mg_per_decilitre(self) -> None:
        assert reading("2026-06-14 07:00", "15074-8", 5.5, "mmol/L").value == pytest.approx(99.09, abs=0.01)

    def test_grams_per_litre_become_mg_per_decilitre(self) -> None:
        assert reading("2026-06-14 07:00", "glucose", 0.95, "g/L").value == pytest.approx(95.0)

    def test_a_loinc_code_with_its_system_is_recognised(self) -> None:
        r = normalise("59408-5", LOINC, 94, "%", paris("2026-06-14 07:00"), RECEIVED_AT)
        assert r.measure == "spo2"

    @pytest.mark.parametrize(("code", "value", "unit", "expected"), [
        ("weight", 900, "kg", "value_impossible"),
        ("weight", 5, "kg", "value_impossible"),
        ("spo2", 104, "%", "value_impossible"),
        ("glucose", 0, "mg/dL", "value_impossible"),
        ("weight", 70, "stone", "unit_not_accepted"),
        ("weight", "70", "kg", "value_not_numeric"),
        ("weight", float("nan"), "kg", "value_not_numeric"),
        ("weight", True, "kg", "value_not_numeric"),
        ("1234-5", 70, "kg", "unknown_code"),
    ])
    def test_impossible_or_malformed_readings_are_refused_with_a_reason(self, code, value, unit, expected) -> None:
        with pytest.raises(ReadingRejected) as exc:
            normalise(code, None, value, unit, paris("2026-06-14 07:00"), RECEIVED_AT)
        assert exc.value.code == expected
        assert exc.value.message  # French, for the device's operator

    def test_a_reading_from_the_future_is_refused(self) -> None:
        with pytest.raises(ReadingRejected) as exc:
            normalise("weight", None, 70, "kg", RECEIVED_AT + dt.timedelta(hours=1), RECEIVED_AT)
        assert exc.value.code == "time_in_future"

    def test_a_reading_older_than_a_year_is_refused(self) -> None:
        with pytest.raises(ReadingRejected) as exc:
            normalise("weight", None, 70, "kg", RECEIVED_AT - dt.timedelta(days=400), RECEIVED_AT)
        assert exc.value.code == "time_too_old"

    def test_the_impossible_value_message_names_the_converted_value_and_range(self) -> None:
        with pytest.raises(ReadingRejected) as exc:
            normalise("weight", None, 1000, "[lb_av]", paris("2026-06-14 07:00"), RECEIVED_AT)
        assert "453,6 kg" in exc.value.message and "350,0 kg" in exc.value.message


class TestLocalDay:
    def test_late_evening_utc_is_the_next_day_in_paris(self) -> None:
        assert local_day(dt.datetime(2026, 6, 10, 22, 30, tzinfo=dt.UTC)) == dt.date(2026, 6, 11)

    def test_winter_offset_is_one_hour(self) -> None:
        assert local_day(dt.datetime(2026, 1, 10, 22, 30, tzinfo=dt.UTC)) == dt.date(2026, 1, 10)

    @pytest.mark.parametrize("start", [dt.datetime(2026, 3, 28, tzinfo=dt.UTC),
                                       dt.datetime(2026, 10, 24, tzinfo=dt.UTC)])
    def test_agrees_with_the_time_zone_database_around_each_change_of_time(self, start: dt.datetime) -> None:
        """The day is cached by UTC hour (Paris's offset is whole hours, changed on whole UTC hours): every 7
        minutes over three days around the change of time, it must be the date the time-zone database gives."""
        for minutes in range(0, 3 * 24 * 60, 7):
            at = start + dt.timedelta(minutes=minutes)
            assert local_day(at) == at.astimezone(PARIS).date(), at

    def test_a_reading_moved_in_time_gets_its_new_day(self) -> None:
        reading = Reading("weight", 71.0, dt.datetime(2026, 6, 10, 21, 30, tzinfo=dt.UTC), "r1")
        moved = reading._replace(taken_at=dt.datetime(2026, 6, 10, 22, 30, tzinfo=dt.UTC))
        assert (reading.day, moved.day) == (dt.date(2026, 6, 10), dt.date(2026, 6, 11))


class TestProgrammes:
    def test_each_indication_of_the_regulation_has_a_programme(self) -> None:
        """DOMAIN.md §2.4: IC, IR (ventilation, oxygen), IRC, diabetes, gestational diabetes, PCI."""
        assert set(PROGRAMMES) == {"heart_failure", "respiratory_ventilation", "respiratory_oxygen",
                                         "renal_failure", "diabetes", "gestational_diabetes", "cardiac_implant"}

    @pytest.mark.parametrize("key", list(PROGRAMMES))
    def test_every_programme_has_a_mandatory_non_transmission_rule_and_cited_rules(self, key: str) -> None:
        programme = PROGRAMMES[key]
        assert any(isinstance(r, SilenceRule) and r.mandatory for r in programme.rules)
        assert all(r.source for r in programme.rules)
        assert all(r.measure in MEASURES for r in programme.rules)
        assert any(d.required for d in programme.data)

    def test_every_measure_declares_a_code_and_a_ucum_canonical_unit_it_accepts(self) -> None:
        for measure in MEASURES.values():
            assert measure.codes and measure.unit in measure.units and measure.units[measure.unit] == 1.0

    @pytest.mark.parametrize(("key", "level"), [
        ("heart_failure", ForfaitLevel.LEVEL_2), ("diabetes", ForfaitLevel.LEVEL_2),
        ("respiratory_oxygen", ForfaitLevel.LEVEL_2), ("renal_failure", ForfaitLevel.LEVEL_2),
        ("cardiac_implant", ForfaitLevel.LEVEL_1),
    ])
    def test_operator_forfait_levels(self, key: str, level: ForfaitLevel) -> None:
        """Level 1 (11 €) for PCI, level 2 (28 €) for the others (arrêté 21 Dec 2023; DOMAIN.md §2.4)."""
        assert PROGRAMMES[key].forfait is level

    def test_forfait_amounts(self) -> None:
        assert FORFAIT_AMOUNTS_CENTS == {ForfaitLevel.LEVEL_1: 1100, ForfaitLevel.LEVEL_2: 2800,
                                               ForfaitLevel.ENHANCED_1: 5600, ForfaitLevel.ENHANCED_2: 7000}

    def test_unknown_programme_is_a_validation_error(self) -> None:
        with pytest.raises(ValidationFailed):
            get_programme("grippe")


class TestCheckReferences:
    def test_heart_failure_needs_a_dry_weight(self) -> None:
        with pytest.raises(ValidationFailed) as exc:
            check_references(get_programme("heart_failure"), {})
        assert exc.value.details[0]["field"] == "references.dry_weight"

    def test_diabetes_needs_the_physicians_hypoglycaemia_threshold(self) -> None:
        """Arrêté diabète: severe hypoglycaemia with a threshold defined by the physician."""
        with pytest.raises(ValidationFailed):
            check_references(get_programme("diabetes"), {"glucose_target_high": 200})

    def test_an_implausible_dry_weight_is_refused(self) -> None:
        with pytest.raises(ValidationFailed):
            check_references(get_programme("heart_failure"), {"dry_weight": 800})

    def test_a_reference_of_another_programme_is_refused(self) -> None:
        with pytest.raises(ValidationFailed):
            check_references(get_programme("heart_failure"), {"dry_weight": 70, "spo2_target": 90})

    def test_valid_references_are_returned_as_floats(self) -> None:
        assert check_references(get_programme("heart_failure"), {"dry_weight": 70}) == {"dry_weight": 70.0}


class TestCheckOverrides:
    def test_a_non_transmission_alert_cannot_be_disabled(self) -> None:
        with pytest.raises(ValidationFailed) as exc:
            check_overrides(get_programme("heart_failure"), {"no_weight": {"enabled": False}})
        assert "obligatoire" in exc.value.details[0]["message"]

    def test_its_period_can_be_changed_within_bounds(self) -> None:
        out = check_overrides(get_programme("heart_failure"), {"no_weight": {"hours": 36}})
        assert out == {"no_weight": {"hours": 36.0}}

    @pytest.mark.parametrize("hours", [49, 72, 14 * 24])
    def test_the_daily_weight_cannot_go_unwatched_for_more_than_48_hours(self, hours: int) -> None:
        """Issue 15, finding 10: heart failure's minimum data is a weight collected and transmitted every day
        (arrêté of 22 June 2023, IC line; DOMAIN.md §3.1); a 14-day period let two weeks pass with no alert."""
        with pytest.raises(ValidationFailed) as exc:
            check_overrides(get_programme("heart_failure"), {"no_weight": {"hours": hours}})
        message = exc.value.details[0]["message"]
        assert message.startswith("Délai hors limites (12 à 48 h pour ce programme) : poids recueilli et transmis")
        assert "DOMAIN.md §3.1" in message

    @pytest.mark.parametrize(("programme", "rule", "bound"), [
        ("heart_failure", "no_weight", 48), ("respiratory_ventilation", "no_ventilation_data", 48),
        ("respiratory_oxygen", "no_oxygen_data", 48), ("renal_failure", "no_session_data", 72),
        ("diabetes", "no_glucose", 168), ("gestational_diabetes", "no_glucose", 168),
        ("cardiac_implant", "no_implant_data", 168),
    ])
    def test_each_programme_bounds_the_period_by_its_transmission_rule(self, programme: str, rule: str,
                                                                       bound: int) -> None:
        """Daily data (IC, IR: DOMAIN.md §3.1, §3.2) 48 h; each dialysis session (§3.4) 72 h; weekly transmission
        (diabetes, §3.3) and the implant's automatic transmissions 7 days. The default is within the bound."""
        p = get_programme(programme)
        assert p.max_silence_hours == bound and p.silence_bound
        assert p.rule(rule).hours <= bound  # type: ignore[union-attr]
        assert check_overrides(p, {rule: {"hours": bound}}) == {rule: {"hours": float(bound)}}
        with pytest.raises(ValidationFailed):
            check_overrides(p, {rule: {"hours": bound + 1}})

    def test_a_longer_period_stored_before_the_bound_is_brought_back_to_it(self) -> None:
        programme = get_programme("heart_failure")
        resolved = {r.key: r for r in resolve_rules(programme, HF, {"no_weight": {"hours": 14 * 24.0}})}
        assert resolved["no_weight"].hours == 48.0  # type: ignore[union-attr]

    @pytest.mark.parametrize("change", [{"no_weight": {"hours": 2}}, {"weight_gain_3d": {"days": 30}},
                                        {"weight_gain_3d": {"gain": -1}}, {"weight_gain_3d": {"colour": 1}},
                                        {"nope": {"enabled": True}}, {"epof_signs": {"enabled": "yes"}}])
    def test_bad_overrides_are_refused(self, change: dict[str, Any]) -> None:
        with pytest.raises(ValidationFailed):
            check_overrides(get_programme("heart_failure"), change)

    def test_resolved_rules_apply_overrides_over_references_over_defaults(self) -> None:
        programme = get_programme("diabetes")
        resolved = {r.key: r for r in resolve_rules(programme, {"hypo_threshold": 60.0},
                                                           {"hyperglycaemia": {"value": 300.0}})}
        assert resolved["hypo_severe"].value == 60.0  # type: ignore[union-attr]
        assert resolved["hypo"].value == 70.0  # type: ignore[union-attr]
        assert resolved["hyperglycaemia"].value == 300.0  # type: ignore[union-attr]


class TestTransition:
    @pytest.mark.parametrize(("status", "action", "target"), [
        ("active", "pause", "paused"), ("paused", "resume", "active"), ("active", "end", "ended"),
        ("paused", "end", "ended"),
    ])
    def test_allowed_transitions(self, status: str, action: str, target: str) -> None:
        assert transition(status, action) == target

    @pytest.mark.parametrize(("status", "action"), [
        ("active", "resume"), ("paused", "pause"), ("ended", "resume"), ("ended", "pause"), ("ended", "end"),
    ])
    def test_forbidden_transitions(self, status: str, action: str) -> None:
        with pytest.raises(InvalidTransition):
            transition(status, action)


class TestPrescriptionEnd:
    def test_one_year_at_most(self) -> None:
        """CSS R162-100: a telesurveillance prescription lasts at most one year."""
        assert prescription_end(dt.date(2026, 1, 15), 12) == dt.date(2027, 1, 14)
        with pytest.raises(ValidationFailed):
            prescription_end(dt.date(2026, 1, 15), 13)

    def test_month_ends_are_clamped(self) -> None:
        assert prescription_end(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 27)


class TestAdherence:
    """More than 50 % of expected data at one and two months, otherwise stop (ameli; DOMAIN.md §2.4)."""

    def test_daily_programme_counts_days_with_data(self) -> None:
        start = dt.date(2026, 6, 1)
        days = [start + dt.timedelta(days=n) for n in (0, 1, 1, 5, 9)]
        received = received_periods(days, start, 1)
        assert received == 4
        assert adherence(received, expected_transmissions(10, 1)) == 0.4

    def test_weekly_periods(self) -> None:
        start = dt.date(2026, 6, 1)
        days = [dt.date(2026, 6, 2), dt.date(2026, 6, 3), dt.date(2026, 6, 20)]
        assert received_periods(days, start, 7) == 2
        assert expected_transmissions(30, 7) == 5

    def test_half_is_not_enough(self) -> None:
        assert adherence_ok(0.5) is False and adherence_ok(0.51) is True
        assert adherence_ok(None) is None


class TestForfaitForMonth:
    def test_the_programme_level_applies_without_an_enhanced_period(self) -> None:
        assert forfait_for_month(get_programme("cardiac_implant"), dt.date(2026, 3, 1), []) is \
            ForfaitLevel.LEVEL_1

    def test_an_enhanced_period_covering_the_month_applies(self) -> None:
        period = EnhancedPeriod(ForfaitLevel.ENHANCED_2, dt.date(2026, 3, 15), 6)
        programme = get_programme("heart_failure")
        assert forfait_for_month(programme, dt.date(2026, 3, 1), [period]) is ForfaitLevel.ENHANCED_2
        assert forfait_for_month(programme, dt.date(2026, 9, 1), [period]) is ForfaitLevel.ENHANCED_2
        assert forfait_for_month(programme, dt.date(2026, 10, 1), [period]) is ForfaitLevel.LEVEL_2


class TestCheckEnhancedPeriod:
    """Enhanced forfaits: 6 months renewable once for IC, 3 months renewable once for diabetes (DOMAIN.md §2.4)."""

    END = dt.date(2027, 6, 1)

    def test_heart_failure_allows_six_months(self) -> None:
        check_enhanced_period(get_programme("heart_failure"), [],
                                    EnhancedPeriod(ForfaitLevel.ENHANCED_1, dt.date(2026, 7, 1), 6), self.END)

    def test_diabetes_allows_three_months_only(self) -> None:
        with pytest.raises(ValidationFailed):
            check_enhanced_period(get_programme("diabetes"), [],
                                        EnhancedPeriod(ForfaitLevel.ENHANCED_1, dt.date(2026, 7, 1), 4), self.END)

    def test_renewable_once_only(self) -> None:
        programme = get_programme("diabetes")
        periods = [EnhancedPeriod(ForfaitLevel.ENHANCED_1, dt.date(2026, 1, 1), 3),
                   EnhancedPeriod(ForfaitLevel.ENHANCED_1, dt.date(2026, 4, 1), 3)]
        with pytest.raises(ValidationFailed):
            check_enhanced_period(programme, periods,
                                        EnhancedPeriod(ForfaitLevel.ENHANCED_1, dt.date(2026, 7, 1), 3), self.END)

    def test_not_for_other_programmes(self) -> None:
        with pytest.raises(ValidationFailed):
            check_enhanced_period(get_programme("renal_failure"), [],
                                        EnhancedPeriod(ForfaitLevel.ENHANCED_1, dt.date(2026, 7, 1), 1), self.END)

    def test_overlapping_periods_are_refused(self) -> None:
        programme = get_programme("heart_failure")
        with pytest.raises(ValidationFailed):
            check_enhanced_period(programme, [EnhancedPeriod(ForfaitLevel.ENHANCED_1, dt.date(2026, 1, 1), 6)],
                                        EnhancedPeriod(ForfaitLevel.ENHANCED_2, dt.date(2026, 5, 1), 6), self.END)

    def test_not_beyond_the_prescription(self) -> None:
        with pytest.raises(ValidationFailed):
            check_enhanced_period(get_programme("heart_failure"), [],
                                        EnhancedPeriod(ForfaitLevel.ENHANCED_1, dt.date(2027, 3, 1), 6), self.END)


class TestMonitoredDays:
    def test_a_month_fully_enrolled(self) -> None:
        assert monitored_days(dt.date(2026, 6, 1), dt.date(2026, 1, 1), None, []) == 30

    def test_enrolment_starting_mid_month_and_a_pause(self) -> None:
        pauses = [(dt.date(2026, 6, 20), dt.date(2026, 6, 24))]
        assert monitored_days(dt.date(2026, 6, 1), dt.date(2026, 6, 15), None, pauses) == 11

    def test_an_open_pause_covers_the_rest_of_the_month(self) -> None:
        pauses = [(dt.date(2026, 6, 10), None)]
        assert monitored_days(dt.date(2026, 6, 1), dt.date(2026, 1, 1), None, pauses) == 9

    def test_a_fully_paused_month_is_not_due(self) -> None:
        days = monitored_days(dt.date(2026, 6, 1), dt.date(2026, 1, 1), None, [(dt.date(2026, 5, 20), None)])
        assert days == 0 and forfait_due(days) is False


class TestPackageShape:
    """The shape issue #16 asked for, kept true: pure rule modules, no re-exports, no module over 700 lines."""

    PACKAGE = Path(maillage.monitoring.__file__).parent
    PURE = frozenset({"__future__", "collections", "dataclasses", "datetime", "enum", "functools", "math", "typing",
            "maillage.exceptions", "maillage.kit.clock", "maillage.kit.enums", "maillage.kit.months",
            "maillage.kit.numbers",
            # The dated tariff table every capability prices from (DOMAIN.md §2): data, no I/O.
            "maillage.directory.tariffs", "decimal"})

    def imports(self, path: Path) -> set[str]:
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
        return found

    def test_the_rule_modules_do_no_io(self) -> None:
        for path in sorted((self.PACKAGE / "rules").glob("*.py")):
            for module in self.imports(path):
                allowed = module.split(".")[0] in self.PURE or module in self.PURE or module.startswith(
                    "collections.") or module.startswith("maillage.monitoring.rules.")
                assert allowed, f"{path.name} imports {module}"

    def test_the_rules_package_re_exports_nothing(self) -> None:
        assert self.imports(self.PACKAGE / "rules" / "__init__.py") == set()

    def test_no_module_of_the_package_is_over_700_lines(self) -> None:
        sizes = {p.relative_to(self.PACKAGE).as_posix(): len(p.read_text().splitlines())
                 for p in self.PACKAGE.rglob("*.py")}
        assert {name: n for name, n in sizes.items() if n > 700} == {}
