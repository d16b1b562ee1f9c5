"""The incremental rule engine and the compact patient state it keeps. No I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from maillage.monitoring.rules.alerting import (
    OPERATOR_TEXT,
    RECEIVED,
    MeasureRule,
    ReferenceGainRule,
    Rule,
    Severity,
    SilenceRule,
    ThresholdRule,
    WindowGainRule,
    compare,
)
from maillage.monitoring.rules.measures import MEASURES, Measure, Reading, format_value

# -- Patient state -----------------------------------------------------------------------------------------


@dataclass
class MeasureState:
    last_at: dt.datetime | None = None
    last_value: float | None = None
    day_low: dict[str, float] = field(default_factory=dict)  # local ISO date → lowest value of that day


@dataclass
class PatientState:
    """Everything the engine needs about a patient: small, serialisable, updated per reading."""

    measures: dict[str, MeasureState] = field(default_factory=dict)
    open: dict[str, str] = field(default_factory=dict)  # condition → severity, as the engine last left it
    acknowledged: dict[str, dt.datetime] = field(default_factory=dict)  # silence conditions → acknowledged at

    def to_json(self) -> dict[str, Any]:
        return {
            "m": {k: {"t": s.last_at.isoformat() if s.last_at else None, "v": s.last_value, "d": s.day_low}
                  for k, s in self.measures.items()},
            "o": dict(self.open),
            "a": {k: v.isoformat() for k, v in self.acknowledged.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PatientState:
        if not data:
            return cls()
        measures = {
            k: MeasureState(dt.datetime.fromisoformat(v["t"]) if v.get("t") else None, v.get("v"),
                            dict(v.get("d") or {}))
            for k, v in (data.get("m") or {}).items()
        }
        acknowledged = {k: dt.datetime.fromisoformat(v) for k, v in (data.get("a") or {}).items()}
        return cls(measures, dict(data.get("o") or {}), acknowledged)

    def copy(self) -> PatientState:
        measures = {k: MeasureState(m.last_at, m.last_value, dict(m.day_low)) for k, m in self.measures.items()}
        return PatientState(measures, dict(self.open), dict(self.acknowledged))


EventKind = Literal["raise", "repeat", "clear"]


class AlertEvent(NamedTuple):
    """What the engine decided: raise a condition, count a repeat of an open one, or clear it. A named tuple: one
    is built for nearly every reading (the green "received"), and a frozen dataclass cost five times as much."""

    kind: EventKind
    condition: str
    severity: Severity
    at: dt.datetime
    message: str
    source: str = ""
    measure: str | None = None
    value: float | None = None
    reading_key: str | None = None


@dataclass(frozen=True)
class Evaluation:
    state: PatientState
    events: tuple[AlertEvent, ...]


DAY_HISTORY_MARGIN = 1  # local days kept beyond the longest window


@lru_cache(maxsize=4096)
def _window_days(rules: tuple[Rule, ...], measure: str) -> int:
    return max((r.days for r in rules if isinstance(r, WindowGainRule) and r.measure == measure and r.enabled),
               default=0)


def _fires(rule: MeasureRule, reading: Reading, mstate: MeasureState) -> tuple[bool, str]:
    """Whether ``rule`` fires on ``reading``, and its message (written only when it fires)."""
    label = MEASURES[reading.measure]
    if isinstance(rule, ThresholdRule):
        if not compare(rule.op, reading.value, rule.value):
            return False, ""
        return True, (f"{rule.label} : {format_value(label, reading.value)} "
                      f"(seuil {OPERATOR_TEXT[rule.op]} {format_value(label, rule.value)})")
    if isinstance(rule, ReferenceGainRule):
        if rule.reference_value is None:
            return False, ""
        gain = reading.value - rule.reference_value
        if not gain > rule.gain:
            return False, ""
        shown_gain = _shown(label, reading.value) - _shown(label, rule.reference_value)
        return True, (f"{rule.label} : {format_value(label, reading.value)}, soit "
                      f"{_signed(label, shown_gain)} par rapport à la référence "
                      f"{format_value(label, rule.reference_value)} "
                      f"(seuil + {format_value(label, rule.gain)})")
    day_low = mstate.day_low
    lows = [day_low[d] for d in _days_before(reading.day, rule.days) if d in day_low]
    if not lows:
        return False, ""
    base = min(lows)
    gain = reading.value - base
    if not gain > rule.gain:
        return False, ""
    shown_gain = _shown(label, reading.value) - _shown(label, base)  # the figures shown add up (issue 15)
    return True, (f"{rule.label} : {_signed(label, shown_gain)} en {rule.days} jours "
                  f"({format_value(label, base)} → {format_value(label, reading.value)} ; "
                  f"seuil + {format_value(label, rule.gain)})")


@lru_cache(maxsize=8192)
def _days_before(day: dt.date, days: int) -> tuple[str, ...]:
    """The ISO dates of the ``days`` local days before ``day`` (the keys of ``MeasureState.day_low``)."""
    return tuple((day - dt.timedelta(days=n)).isoformat() for n in range(1, days + 1))


def _shown(measure: Measure, value: float) -> float:
    """``value`` as ``format_value`` shows it. A difference written next to its two terms is computed from the
    terms as shown, so that the three figures add up: 69,96 → 72,34 kg reads "+2,3 kg (70,0 kg → 72,3 kg)", not
    "+2,4 kg" (the unrounded gain, 2,38, rounded on its own)."""
    return float(f"{value:.{measure.decimals}f}")


def _signed(measure: Measure, delta: float) -> str:
    sign = "+" if delta >= 0 else "−"
    return f"{sign}{format_value(measure, abs(delta))}"


@lru_cache(maxsize=4096)
def _index(rules: tuple[Rule, ...]) -> tuple[dict[str, list[MeasureRule]], dict[str, list[SilenceRule]]]:
    """Enabled rules by measure (silences apart): computed once per distinct rule set."""
    by_measure: dict[str, list[MeasureRule]] = {}
    silences: dict[str, list[SilenceRule]] = {}
    for rule in rules:
        if not rule.enabled:
            continue
        if isinstance(rule, SilenceRule):
            silences.setdefault(rule.measure, []).append(rule)
        else:
            by_measure.setdefault(rule.measure, []).append(rule)
    return by_measure, silences


_FACTS: dict[int, tuple[tuple[Rule, ...], Any]] = {}


def _facts(rules: Sequence[Rule]) -> Any:
    """``_index`` and ``_window_days`` of a rule set. A tuple (immutable: what ``resolve_rules`` returns, cached
    by ``alerts.rules_of``) is found by its identity, the cache holding it so that its id cannot be reused:
    hashing every field of every rule for each patient cost more than the evaluation itself. Another sequence
    (a list a caller may change) is indexed afresh each time."""
    if not isinstance(rules, tuple):
        frozen = tuple(rules)
        return _index(frozen), {r.measure: _window_days(frozen, r.measure) for r in frozen}
    entry = _FACTS.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    facts = (_index(rules), {r.measure: _window_days(rules, r.measure) for r in rules})
    if len(_FACTS) > 4096:
        _FACTS.clear()
    _FACTS[id(rules)] = (rules, facts)
    return facts


def evaluate(rules: Sequence[Rule], state: PatientState, readings: Sequence[Reading], *,
             alerting: bool = True, owned: bool = False) -> Evaluation:
    """Apply ``readings`` to ``state`` and decide the alert events, incrementally.

    - Readings are taken in time order. A late reading (older than the last one of its measure) may raise an
      alert but never clears one: newer data already spoke.
    - Rules of one ``group`` are exclusive: only the most severe that fires counts, the others clear.
    - A condition already open is repeated, not raised again (one open alert per patient and condition).
    - Any reading of a measure clears its non-transmission condition.
    - With no red or orange event from the readings, a green "received" condition is raised or repeated.
    - ``alerting=False`` (patient paused or ended): the state learns from the readings, no event is returned.

    ``state`` is left as it is, unless ``owned`` (the caller built it for this call and hands it over): then it
    becomes the new state, without a copy.
    """
    new = state if owned else state.copy()
    open_before = dict(state.open) if owned and not alerting else state.open
    events: list[AlertEvent] = []
    by_measure, silences = _facts(rules)[0]
    ordered = sorted(readings, key=lambda r: r.taken_at)
    for reading in ordered:
        mstate = new.measures.setdefault(reading.measure, MeasureState())
        late = mstate.last_at is not None and reading.taken_at < mstate.last_at
        fired: dict[str, tuple[MeasureRule, str]] = {}
        for rule in by_measure.get(reading.measure, []):
            hit, message = _fires(rule, reading, mstate)
            if hit:
                fired[rule.key] = (rule, message)
        # Exclusive groups: keep the most severe rule that fired.
        best_in_group: dict[str, MeasureRule] = {}
        for rule, _ in fired.values():
            if rule.group:
                best = best_in_group.get(rule.group)
                if best is None or rule.severity.rank < best.severity.rank:
                    best_in_group[rule.group] = rule
        for rule in by_measure.get(reading.measure, []):
            entry = fired.get(rule.key)
            if entry is not None and rule.group and best_in_group[rule.group] is not rule:
                entry = None
            is_open = rule.key in new.open
            if entry is not None:
                kind: EventKind = "repeat" if is_open else "raise"
                new.open[rule.key] = rule.severity.value
                events.append(AlertEvent(kind, rule.key, rule.severity, reading.taken_at, entry[1], rule.source,
                                         reading.measure, reading.value, reading.key))
            elif is_open and not late:
                del new.open[rule.key]
                events.append(AlertEvent("clear", rule.key, rule.severity, reading.taken_at,
                                         f"{rule.label} : condition levée par une nouvelle mesure "
                                         f"({format_value(reading.measure, reading.value)}).", rule.source,
                                         reading.measure, reading.value, reading.key))
        for silence in silences.get(reading.measure, []):
            new.acknowledged.pop(silence.key, None)
            if silence.key in new.open:
                del new.open[silence.key]
                events.append(AlertEvent("clear", silence.key, silence.severity, reading.taken_at,
                                         f"{silence.label} : mesure reçue.", silence.source, reading.measure,
                                         reading.value, reading.key))
        # Learn: last reading and the lowest value of the local day.
        if not late:
            mstate.last_at, mstate.last_value = reading.taken_at, reading.value
        day = reading.day.isoformat()
        previous = mstate.day_low.get(day)
        mstate.day_low[day] = reading.value if previous is None else min(previous, reading.value)
    _prune_days(new, rules)
    if ordered and not any(e.kind in ("raise", "repeat") and e.severity is not Severity.GREEN for e in events):
        last = ordered[-1]
        kind = "repeat" if RECEIVED in new.open else "raise"
        new.open[RECEIVED] = Severity.GREEN.value
        events.append(AlertEvent(kind, RECEIVED, Severity.GREEN, last.taken_at,
                                 "Mesures reçues, rien à signaler.", "", last.measure, last.value, last.key))
    if not alerting:
        # Paused or ended: nothing is alerted, and nothing the readings would have opened is recorded as open.
        return Evaluation(_without_events(new, open_before, events), ())
    return Evaluation(new, tuple(events))


def _without_events(new: PatientState, open_before: Mapping[str, str],
                    events: Sequence[AlertEvent]) -> PatientState:
    for event in events:
        if event.kind == "raise":
            new.open.pop(event.condition, None)
        elif event.kind == "clear" and event.condition in open_before:
            # A condition that was open before the pause stays as the alert table has it (still open).
            new.open[event.condition] = open_before[event.condition]
    return new


def _prune_days(state: PatientState, rules: Sequence[Rule]) -> None:
    windows = _facts(rules)[1]
    for key, mstate in state.measures.items():
        if not mstate.day_low:
            continue
        keep = windows.get(key, 0) + DAY_HISTORY_MARGIN
        newest = max(mstate.day_low)
        if keep > DAY_HISTORY_MARGIN:
            cutoff = _days_back(newest, keep)
            if min(mstate.day_low) < cutoff:
                mstate.day_low = {d: v for d, v in mstate.day_low.items() if d >= cutoff}
        elif len(mstate.day_low) > 1:
            mstate.day_low = {newest: mstate.day_low[newest]}


@lru_cache(maxsize=4096)
def _days_back(iso_day: str, days: int) -> str:
    """The ISO date ``days`` days before ``iso_day``."""
    return (dt.date.fromisoformat(iso_day) - dt.timedelta(days=days)).isoformat()


def _silence_rules(rules: Sequence[Rule]) -> Iterator[SilenceRule]:
    """The enabled non-transmission rules (from the rule set's cached index)."""
    for group in _facts(rules)[0][1].values():
        yield from group


def _silent_since(rule: SilenceRule, state: PatientState, watch_from: dt.datetime) -> dt.datetime:
    """Where a silence period starts: the latest of the last reading of the measure, ``watch_from`` (the start of
    monitoring or its last resumption) and the nurse's acknowledgement of the previous silence alert."""
    since = watch_from
    mstate = state.measures.get(rule.measure)
    if mstate is not None and mstate.last_at is not None:
        since = max(since, mstate.last_at)
    acknowledged = state.acknowledged.get(rule.key)
    return since if acknowledged is None else max(since, acknowledged)


def check_silence(rules: Sequence[Rule], state: PatientState, at: dt.datetime,
                  watch_from: dt.datetime) -> Evaluation:
    """Non-transmission: raise each silence condition whose measure has not been received for its period, which
    runs from ``_silent_since``."""
    new = state.copy()
    events: list[AlertEvent] = []
    for rule in _silence_rules(rules):
        if rule.key in new.open:
            continue
        since = _silent_since(rule, new, watch_from)
        if at - since > dt.timedelta(hours=rule.hours):
            new.open[rule.key] = rule.severity.value
            hours = (at - since).total_seconds() / 3600
            events.append(AlertEvent("raise", rule.key, rule.severity, at,
                                     f"{rule.label} : aucune mesure depuis {hours:.0f} h "
                                     f"(attendu au moins toutes les {rule.hours:g} h).", rule.source, rule.measure))
    return Evaluation(new, tuple(events))


def silence_due_at(rules: Sequence[Rule], state: PatientState, watch_from: dt.datetime) -> dt.datetime | None:
    """When the earliest non-transmission alert not yet open falls due (for the scheduled check)."""
    due = [_silent_since(rule, state, watch_from) + dt.timedelta(hours=rule.hours)
           for rule in _silence_rules(rules) if rule.key not in state.open]
    return min(due) if due else None


def acknowledge_condition(state: PatientState, condition: str, at: dt.datetime, *, silence: bool) -> PatientState:
    """The nurse closed the alert: the condition is no longer open; a silence restarts its period now."""
    new = state.copy()
    new.open.pop(condition, None)
    if silence:
        new.acknowledged[condition] = at
    return new
