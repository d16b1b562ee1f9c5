"""Measures: their codes, canonical units, accepted units and plausible ranges; a reading checked, converted
and dated in local (Paris) days. No I/O."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from maillage.kit.clock import PARIS
from maillage.kit.numbers import fr_number

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# Measures that have no LOINC code (ventilator use, leaks, the EPOF questionnaire, implant alerts).
LOCAL_SYSTEM = "urn:maillage:telesurveillance"


@dataclass(frozen=True)
class Measure:
    """A kind of reading. ``codes`` are (system, code) pairs, the first is the one Maillage emits.

    ``units`` maps each accepted UCUM unit (and a few common spellings) to the factor that converts it to the
    canonical ``unit``. ``low``/``high`` bound what a living adult can show: outside, the reading is refused
    as physiologically impossible (a device fault or a typing error), never stored.
    """

    key: str
    label: str
    codes: tuple[tuple[str, str], ...]
    unit: str
    unit_label: str
    units: Mapping[str, float]
    low: float
    high: float
    decimals: int = 1

    @property
    def code(self) -> str:
        return self.codes[0][1]

    @property
    def system(self) -> str:
        return self.codes[0][0]


LB_TO_KG = 0.45359237  # international avoirdupois pound (1959), UCUM [lb_av]
GLUCOSE_MG_DL_PER_MMOL_L = 18.016  # molar mass of glucose 180.16 g/mol: 1 mmol/L = 18.016 mg/dL
CREATININE_UMOL_L_PER_MG_DL = 88.42  # molar mass of creatinine 113.12 g/mol
KPA_TO_MMHG = 7.50062

MEASURES: dict[str, Measure] = {m.key: m for m in (
    Measure("weight", "Poids", ((LOINC, "29463-7"), (LOINC, "3141-9")), "kg", "kg",
            {"kg": 1.0, "g": 0.001, "[lb_av]": LB_TO_KG, "lb": LB_TO_KG, "lbs": LB_TO_KG}, 20.0, 350.0),
    Measure("spo2", "Saturation en oxygène (SpO2)", ((LOINC, "59408-5"), (LOINC, "2708-6")), "%", "%",
            {"%": 1.0}, 50.0, 100.0, 0),
    Measure("glucose", "Glycémie", ((LOINC, "2339-0"), (LOINC, "41653-7"), (LOINC, "2345-7"), (LOINC, "15074-8"),
                                    (LOINC, "14743-9")), "mg/dL", "mg/dL",
            {"mg/dL": 1.0, "mmol/L": GLUCOSE_MG_DL_PER_MMOL_L, "g/L": 100.0}, 10.0, 1000.0, 0),
    Measure("systolic", "Pression artérielle systolique", ((LOINC, "8480-6"),), "mm[Hg]", "mmHg",
            {"mm[Hg]": 1.0, "mmHg": 1.0, "kPa": KPA_TO_MMHG}, 40.0, 300.0, 0),
    Measure("diastolic", "Pression artérielle diastolique", ((LOINC, "8462-4"),), "mm[Hg]", "mmHg",
            {"mm[Hg]": 1.0, "mmHg": 1.0, "kPa": KPA_TO_MMHG}, 20.0, 200.0, 0),
    Measure("heart_rate", "Fréquence cardiaque", ((LOINC, "8867-4"),), "/min", "/min",
            {"/min": 1.0, "{beats}/min": 1.0, "1/min": 1.0, "bpm": 1.0}, 20.0, 300.0, 0),
    Measure("respiratory_rate", "Fréquence respiratoire", ((LOINC, "9279-1"),), "/min", "/min",
            {"/min": 1.0, "{breaths}/min": 1.0, "1/min": 1.0}, 3.0, 80.0, 0),
    Measure("oxygen_flow", "Débit d'oxygène", ((LOINC, "3151-8"),), "L/min", "L/min",
            {"L/min": 1.0, "l/min": 1.0}, 0.0, 20.0),
    Measure("oxygen_use", "Durée d'oxygénothérapie sur 24 h", ((LOCAL_SYSTEM, "oxygen-use-hours"),), "h", "h",
            {"h": 1.0, "min": 1 / 60}, 0.0, 24.0),
    Measure("niv_use", "Durée de ventilation sur 24 h", ((LOCAL_SYSTEM, "niv-use-hours"),), "h", "h",
            {"h": 1.0, "min": 1 / 60}, 0.0, 24.0),
    Measure("niv_leak", "Fuites de ventilation", ((LOCAL_SYSTEM, "niv-leak"),), "L/min", "L/min",
            {"L/min": 1.0, "l/min": 1.0}, 0.0, 300.0),
    Measure("creatinine", "Créatininémie", ((LOINC, "2160-0"), (LOINC, "14682-9")), "mg/dL", "mg/dL",
            {"mg/dL": 1.0, "umol/L": 1 / CREATININE_UMOL_L_PER_MG_DL, "µmol/L": 1 / CREATININE_UMOL_L_PER_MG_DL},
            0.1, 30.0, 2),
    Measure("epof", "Questionnaire EPOF (signes présents)", ((LOCAL_SYSTEM, "epof-signs"),), "{score}", "signe(s)",
            {"{score}": 1.0, "1": 1.0, "{signs}": 1.0}, 0.0, 4.0, 0),
    Measure("implant_alert", "Alerte transmise par la prothèse cardiaque", ((LOCAL_SYSTEM, "implant-alert-level"),),
            "{level}", "niveau", {"{level}": 1.0, "1": 1.0}, 0.0, 2.0, 0),
)}

_BY_CODE: dict[tuple[str, str], Measure] = {pair: m for m in MEASURES.values() for pair in m.codes}
_BY_BARE_CODE: dict[str, Measure] = {pair[1]: m for m in MEASURES.values() for pair in m.codes}
# Readings in a form Maillage accepts (the compact batch) may name the measure by its key.
_BY_KEY: dict[str, Measure] = dict(MEASURES)

MAX_CLOCK_SKEW = dt.timedelta(minutes=10)
MAX_READING_AGE = dt.timedelta(days=366)


class ReadingRejected(ValueError):
    """A reading that cannot be accepted; ``code`` for machines, ``message`` in French for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def find_measure(code: str, system: str | None = None) -> Measure:
    """The measure for a code (LOINC or Maillage's local code system, or a measure key)."""
    measure = _BY_CODE.get((system, code)) if system else None
    if measure is None and not system:
        measure = _BY_BARE_CODE.get(code) or _BY_KEY.get(code)
    if measure is None:
        where = f" ({system})" if system else ""
        raise ReadingRejected("unknown_code", f"Code de mesure inconnu : « {code[:64]} »{where}.")
    return measure


def convert(measure: Measure, value: float, unit: str) -> float:
    """``value`` in ``unit`` → the measure's canonical unit (lb → kg, mmol/L → mg/dL...)."""
    factor = measure.units.get(unit)
    if factor is None:
        folded = {u.lower(): f for u, f in measure.units.items()}
        factor = folded.get(unit.strip().lower())
    if factor is None:
        accepted = ", ".join(measure.units)
        raise ReadingRejected("unit_not_accepted",
                              f"Unité « {unit[:32]} » non acceptée pour {measure.label.lower()} "
                              f"(unités acceptées : {accepted}).")
    return value * factor


def format_value(measure: Measure | str, value: float) -> str:
    m = MEASURES[measure] if isinstance(measure, str) else measure
    return f"{fr_number(value, m.decimals)} {m.unit_label}"


class _ReadingFields(NamedTuple):
    measure: str
    value: float
    taken_at: dt.datetime
    key: str
    day: dt.date


class Reading(_ReadingFields):
    """A reading in canonical form, ready for the rule engine. ``key`` is the device's own id for it; ``day`` is
    its local (Paris) calendar day, computed once here rather than by every rule that needs it.

    A named tuple rather than a frozen dataclass: one is built per ingested reading, and a frozen dataclass's
    constructor (each field set through ``object.__setattr__``) cost three times as much."""

    __slots__ = ()

    def __new__(cls, measure: str, value: float, taken_at: dt.datetime, key: str = "") -> Reading:
        return super().__new__(cls, measure, value, taken_at, key, local_day(taken_at))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return self.measure, self.value, self.taken_at, self.key

    def _replace(self, **changes: Any) -> Reading:
        """A copy with ``changes``, its day computed again (the tuple's own ``_replace`` would keep the old one)."""
        fields = {"measure": self.measure, "value": self.value, "taken_at": self.taken_at, "key": self.key}
        return Reading(**{**fields, **changes})


def normalise(code: str, system: str | None, value: Any, unit: str | None, taken_at: dt.datetime,
              received_at: dt.datetime, key: str = "") -> Reading:
    """Check and convert one incoming reading, or raise ``ReadingRejected`` with a French message."""
    measure = find_measure(code, system)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReadingRejected("value_not_numeric", f"Valeur non numérique pour {measure.label.lower()}.")
    number = float(value)
    if not math.isfinite(number):
        raise ReadingRejected("value_not_numeric", f"Valeur non numérique pour {measure.label.lower()}.")
    canonical = convert(measure, number, unit if unit is not None else measure.unit)
    if not measure.low <= canonical <= measure.high:
        raise ReadingRejected(
            "value_impossible",
            f"Valeur physiologiquement impossible pour {measure.label.lower()} : {format_value(measure, canonical)} "
            f"(plage acceptée {format_value(measure, measure.low)} à {format_value(measure, measure.high)}).",
        )
    if taken_at.tzinfo is None:
        raise ReadingRejected("time_without_zone", "L'heure de la mesure doit porter son fuseau horaire.")
    if taken_at > received_at + MAX_CLOCK_SKEW:
        raise ReadingRejected("time_in_future", "L'heure de la mesure est dans le futur : vérifiez l'horloge "
                                                "de l'appareil.")
    if taken_at < received_at - MAX_READING_AGE:
        raise ReadingRejected("time_too_old", "La mesure date de plus d'un an : elle n'est pas acceptée.")
    return Reading(measure.key, round(canonical, 4), taken_at.astimezone(dt.UTC), key)


def drop_replays(readings: Iterable[Reading], stored_keys: Iterable[str] = ()) -> list[Reading]:
    """Keep the first of each device reading id, and none already stored: a replay is stored and alerted once."""
    seen = set(stored_keys)
    out = []
    for reading in readings:
        if reading.key in seen:
            continue
        seen.add(reading.key)
        out.append(reading)
    return out


def local_day(at: dt.datetime) -> dt.date:
    """The patient's calendar day (Europe/Paris): "3 days" and adherence count local days, not UTC ones."""
    if at.tzinfo is None:
        return at.astimezone(PARIS).date()
    return _day_of_utc_hour(int(at.timestamp() // 3600))


_EPOCH = dt.datetime(1970, 1, 1)


@lru_cache(maxsize=65536)
def _day_of_utc_hour(hour: int) -> dt.date:
    """The Paris date during one UTC hour: Paris's offset is a whole number of hours and changes on whole UTC
    hours (01:00 UTC), so every instant of a UTC hour falls on the same Paris date. Cached (65,536 hours: seven
    years), it spares the time-zone lookup and the date arithmetic of every reading."""
    offset = dt.datetime.fromtimestamp(hour * 3600, dt.UTC).astimezone(PARIS).utcoffset() or dt.timedelta(0)
    return (_EPOCH + dt.timedelta(hours=hour) + offset).date()
