"""Pure rules of telesurveillance: measures, programmes, unit conversion, plausibility, the incremental rule
engine, adherence and the operator forfait. No I/O here.

Regulatory frame (DOMAIN.md §2.4, §3): the arrêtés of 22 June 2023 (one per indication) and of 23 February
2024 (implantable cardiac devices) fix each programme's minimum data, collection frequency and alert types;
they do **not** fix numeric thresholds. Every numeric threshold below is a *configurable default* that the
operator overrides per patient, and each rule names its source. Non-transmission alerts "ne peuvent pas être
désactivées par l'opérateur" (arrêté IC of 22 June 2023): a programme that requires one refuses to disable it.

The engine is incremental: ``evaluate(rules, state, readings)`` takes a patient's compact state (last reading
per measure, the lowest value of each recent local day, the open conditions) and returns the new state and the
alert events, without ever reading the patient's history again.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.kit.clock import PARIS

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# Measures that have no LOINC code (ventilator use, leaks, the EPOF questionnaire, implant alerts).
LOCAL_SYSTEM = "urn:maillage:telesurveillance"


# -- Measures: codes, canonical units, accepted units, plausible ranges ----------------------------------


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
    text = f"{value:.{m.decimals}f}".replace(".", ",")
    return f"{text} {m.unit_label}"


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


# -- Severity and rules -----------------------------------------------------------------------------------


class Severity(enum.StrEnum):
    RED = "red"
    ORANGE = "orange"
    GREEN = "green"  # reading received, nothing to report

    @property
    def label(self) -> str:
        return {"red": "Rouge", "orange": "Orange", "green": "Vert"}[self.value]

    @property
    def rank(self) -> int:
        return {"red": 0, "orange": 1, "green": 2}[self.value]


RECEIVED = "received"  # the green condition: readings received, nothing to report

Operator = Literal["lt", "le", "gt", "ge"]
_OPERATOR_TEXT = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


def _compare(op: Operator, value: float, threshold: float) -> bool:
    if op == "lt":
        return value < threshold
    if op == "le":
        return value <= threshold
    if op == "gt":
        return value > threshold
    return value >= threshold


@dataclass(frozen=True)
class ThresholdRule:
    """A reading beyond a fixed threshold (or the patient's reference value named by ``reference``)."""

    key: str
    label: str
    measure: str
    op: Operator
    value: float
    severity: Severity
    source: str
    reference: str | None = None  # a reference value of the enrolment that replaces ``value`` when set
    group: str | None = None      # rules of one group: only the most severe that fires counts
    enabled: bool = True
    mandatory: bool = False
    kind: Literal["threshold"] = "threshold"
    params: tuple[str, ...] = ("value",)

    def describe(self) -> str:
        return f"{MEASURES[self.measure].label} {_OPERATOR_TEXT[self.op]} {format_value(self.measure, self.value)}"


@dataclass(frozen=True)
class WindowGainRule:
    """The reading exceeds the lowest value of the previous ``days`` local days by more than ``gain``."""

    key: str
    label: str
    measure: str
    days: int
    gain: float
    severity: Severity
    source: str
    group: str | None = None
    enabled: bool = True
    mandatory: bool = False
    kind: Literal["window_gain"] = "window_gain"
    params: tuple[str, ...] = ("days", "gain")

    def describe(self) -> str:
        return f"{MEASURES[self.measure].label} + plus de {format_value(self.measure, self.gain)} en {self.days} jours"


@dataclass(frozen=True)
class ReferenceGainRule:
    """The reading exceeds the patient's reference value (dry weight) by more than ``gain``."""

    key: str
    label: str
    measure: str
    reference: str
    gain: float
    severity: Severity
    source: str
    reference_value: float | None = None  # resolved from the enrolment; the rule is inert without it
    group: str | None = None
    enabled: bool = True
    mandatory: bool = False
    kind: Literal["reference_gain"] = "reference_gain"
    params: tuple[str, ...] = ("gain",)

    def describe(self) -> str:
        return (f"{MEASURES[self.measure].label} > {REFERENCES[self.reference].label.lower()} "
                f"+ {format_value(self.measure, self.gain)}")


@dataclass(frozen=True)
class SilenceRule:
    """No reading of ``measure`` for ``hours`` while the patient is monitored (non-transmission)."""

    key: str
    label: str
    measure: str
    hours: float
    severity: Severity
    source: str
    group: str | None = None
    enabled: bool = True
    mandatory: bool = True
    kind: Literal["silence"] = "silence"
    params: tuple[str, ...] = ("hours",)

    def describe(self) -> str:
        return f"Aucune mesure « {MEASURES[self.measure].label.lower()} » depuis {self.hours:g} h"


Rule = ThresholdRule | WindowGainRule | ReferenceGainRule | SilenceRule
MeasureRule = ThresholdRule | WindowGainRule | ReferenceGainRule


@dataclass(frozen=True)
class ReferenceSpec:
    """A reference value the physician sets at enrolment (dry weight, hypoglycaemia threshold...)."""

    key: str
    label: str
    measure: str
    required: bool
    default: float | None = None
    source: str = ""


REFERENCES: dict[str, ReferenceSpec] = {r.key: r for r in (
    ReferenceSpec("dry_weight", "Poids sec", "weight", True,
                  source="Poids de référence « sec » (dijon-cardiorenal.fr, DOMAIN.md §3.1 ; arrêté IRC §3.4)"),
    ReferenceSpec("hypo_threshold", "Seuil d'hypoglycémie sévère fixé par le médecin", "glucose", True,
                  source="Arrêté du 22 juin 2023, diabète : « hypoglycémie sévère avec un seuil défini par le "
                         "médecin » (DOMAIN.md §3.3)"),
    ReferenceSpec("glucose_target_low", "Cible glycémique basse", "glucose", False, 70.0,
                  source="ADA Standards of Care, tableau 6.3 : hypoglycémie de niveau 1 ≤ 70 mg/dL (DOMAIN.md §3.3)"),
    ReferenceSpec("glucose_target_high", "Cible glycémique haute", "glucose", False, 250.0,
                  source="Alerte « valeurs hors de la zone cible » (arrêté diabète) ; valeur par défaut "
                         "configurable"),
    ReferenceSpec("spo2_target", "Cible de SpO2", "spo2", False, 90.0,
                  source="Oxygénothérapie de longue durée : SaO2 ≥ 90 % (DOMAIN.md §3.2, défaut configurable)"),
)}


# -- Programmes -------------------------------------------------------------------------------------------


class ForfaitLevel(enum.StrEnum):
    """Operator forfait (arrêté 16 May 2023 art. 2 as replaced by arrêté 21 Dec 2023, DOMAIN.md §2.4)."""

    LEVEL_1 = "1"
    LEVEL_2 = "2"
    ENHANCED_1 = "enhanced_1"  # forfait majoré niveau 1
    ENHANCED_2 = "enhanced_2"  # forfait majoré niveau 2

    @property
    def label(self) -> str:
        return FORFAIT_LABELS[self]


FORFAIT_AMOUNTS_CENTS: dict[ForfaitLevel, int] = {
    ForfaitLevel.LEVEL_1: 1100,
    ForfaitLevel.LEVEL_2: 2800,
    ForfaitLevel.ENHANCED_1: 5600,
    ForfaitLevel.ENHANCED_2: 7000,
}
FORFAIT_LABELS = {
    ForfaitLevel.LEVEL_1: "Forfait opérateur niveau 1",
    ForfaitLevel.LEVEL_2: "Forfait opérateur niveau 2",
    ForfaitLevel.ENHANCED_1: "Forfait opérateur majoré niveau 1",
    ForfaitLevel.ENHANCED_2: "Forfait opérateur majoré niveau 2",
}


@dataclass(frozen=True)
class EnhancedLimit:
    """Enhanced forfaits: ``months`` per period, renewable ``renewals`` times (DOMAIN.md §2.4)."""

    months: int
    renewals: int

    @property
    def max_months(self) -> int:
        return self.months * (1 + self.renewals)


@dataclass(frozen=True)
class MeasureRequirement:
    measure: str
    required: bool
    frequency: str  # French, as the arrêté words it


@dataclass(frozen=True)
class Programme:
    key: str
    label: str
    indication: str
    legal_basis: str
    data: tuple[MeasureRequirement, ...]
    rules: tuple[Rule, ...]
    references: tuple[str, ...]
    forfait: ForfaitLevel
    enhanced: EnhancedLimit | None
    primary_measure: str       # the measure whose transmissions adherence counts
    expected_every_days: int   # one transmission of the primary measure expected every N local days
    requires_silence_alert: bool = True
    # The longest non-transmission period an operator may set, in hours, and where it comes from: what the
    # programme's arrêté requires to be transmitted, and how often (DOMAIN.md §3). A longer period would let the
    # required data go missing with no alert.
    max_silence_hours: float = 48.0
    silence_bound: str = ""

    def rule(self, key: str) -> Rule:
        for r in self.rules:
            if r.key == key:
                return r
        raise KeyError(key)


ARRETE_IC = "Arrêté du 22 juin 2023, insuffisance cardiaque (JORFARTI000047720221)"
ARRETE_IR = "Arrêté du 22 juin 2023, insuffisance respiratoire (JORFARTI000047720100)"
ARRETE_DIAB = "Arrêté du 22 juin 2023, diabète (JORFARTI000047720152)"
ARRETE_IRC = "Arrêté du 22 juin 2023, insuffisance rénale chronique"
ARRETE_PCI = "Arrêté du 23 février 2024, prothèses cardiaques implantables (JORFTEXT000049205200)"
SILENCE_SOURCE = "{} : les alertes de non-transmission ne peuvent pas être désactivées par l'opérateur"
ESC_WEIGHT = ("ESC/HFA, heartfailurematters.org : prévenir si le poids augmente de plus de 2 kg en 3 jours "
              "(DOMAIN.md §3.1 ; défaut configurable)")
ADA_HYPO = "ADA Standards of Care, tableau 6.3 (DOMAIN.md §3.3)"

R, OR = Severity.RED, Severity.ORANGE


def _silence(key: str, measure: str, hours: float, arrete: str) -> SilenceRule:
    return SilenceRule(key, f"Non-transmission : {MEASURES[measure].label.lower()}", measure, hours, OR,
                       SILENCE_SOURCE.format(arrete))


def _hypo_rules(high_default_source: str) -> tuple[Rule, ...]:
    return (
        ThresholdRule("hypo_severe", "Hypoglycémie sévère", "glucose", "lt", 54.0, R,
                      f"{ARRETE_DIAB} (seuil fixé par le médecin) ; à défaut niveau 2 < 54 mg/dL, {ADA_HYPO}",
                      reference="hypo_threshold", group="hypoglycaemia"),
        ThresholdRule("hypo", "Hypoglycémie", "glucose", "le", 70.0, OR,
                      f"Niveau 1 ≤ 70 mg/dL, {ADA_HYPO}", reference="glucose_target_low", group="hypoglycaemia"),
        ThresholdRule("hyperglycaemia", "Glycémie au-dessus de la cible", "glucose", "gt", 250.0, OR,
                      high_default_source, reference="glucose_target_high"),
    )


PROGRAMMES: dict[str, Programme] = {p.key: p for p in (
    Programme(
        "heart_failure", "Insuffisance cardiaque chronique", "Insuffisance cardiaque chronique (NYHA ≥ II)", ARRETE_IC,
        (MeasureRequirement("weight", True, "quotidienne"), MeasureRequirement("epof", False, "selon le protocole"),
         MeasureRequirement("systolic", False, "selon le protocole"),
         MeasureRequirement("diastolic", False, "selon le protocole"),
         MeasureRequirement("heart_rate", False, "selon le protocole")),
        (
            WindowGainRule("weight_gain_3d", "Prise de poids rapide (suspicion de décompensation)", "weight", 3, 2.0,
                           R, ESC_WEIGHT, group="weight_gain"),
            ReferenceGainRule("weight_over_dry", "Poids au-dessus du poids sec", "weight", "dry_weight", 2.0, OR,
                              "W − poids sec > 2 kg (DOMAIN.md §3.1, défaut configurable)"),
            ThresholdRule("epof_signs", "Deux signes EPOF ou plus", "epof", "ge", 2.0, OR,
                          "EPOF (Essoufflement, Prise de poids, Œdèmes, Fatigue) : deux signes ou plus doivent "
                          "alerter (DOMAIN.md §3.1)"),
            _silence("no_weight", "weight", 48.0, ARRETE_IC),
        ),
        ("dry_weight",), ForfaitLevel.LEVEL_2, EnhancedLimit(6, 1), "weight", 1,
        max_silence_hours=48.0,
        silence_bound="poids recueilli et transmis chaque jour (arrêté insuffisance cardiaque, DOMAIN.md §3.1) : "
                      "au-delà de 48 h, une journée entière sans poids passerait sans alerte",
    ),
    Programme(
        "respiratory_ventilation", "Insuffisance respiratoire chronique sous ventilation non invasive",
        "Insuffisance respiratoire chronique (VNI), adulte", ARRETE_IR,
        (MeasureRequirement("niv_use", True, "quotidienne"),
         MeasureRequirement("respiratory_rate", True, "quotidienne"),
         MeasureRequirement("niv_leak", True, "quotidienne"), MeasureRequirement("spo2", False, "selon le protocole")),
        (
            ThresholdRule("niv_use_low", "Faible observance de la ventilation", "niv_use", "lt", 4.0, OR,
                          "Catégorie d'alerte ETAPES « faible observance » (étude TELVENT, DOMAIN.md §3.2) ; "
                          "seuil 4 h/24 h configurable [incertain]"),
            ThresholdRule("niv_leak_high", "Fuites élevées", "niv_leak", "gt", 24.0, OR,
                          "Catégorie d'alerte ETAPES « fuites » ; seuils observés 23 ± 13 L/min (DOMAIN.md §3.2), "
                          "défaut configurable [incertain]"),
            _silence("no_ventilation_data", "niv_use", 48.0, ARRETE_IR),
        ),
        (), ForfaitLevel.LEVEL_2, None, "niv_use", 1,
        max_silence_hours=48.0,
        silence_bound="recueil et transmission quotidiens (arrêté insuffisance respiratoire, DOMAIN.md §3.2) : "
                      "au-delà de 48 h, une journée entière sans données passerait sans alerte",
    ),
    Programme(
        "respiratory_oxygen", "Insuffisance respiratoire chronique sous oxygénothérapie",
        "Insuffisance respiratoire chronique (oxygène), adulte", ARRETE_IR,
        (MeasureRequirement("oxygen_use", True, "quotidienne"), MeasureRequirement("oxygen_flow", True, "quotidienne"),
         MeasureRequirement("spo2", True, "quotidienne")),
        (
            ThresholdRule("spo2_low", "SpO2 sous la cible", "spo2", "lt", 90.0, R,
                          "SaO2 ≥ 90 % visée en oxygénothérapie (DOMAIN.md §3.2) ; cible du patient si fixée "
                          "[défaut incertain comme règle nationale]", reference="spo2_target"),
            _silence("no_oxygen_data", "spo2", 48.0, ARRETE_IR),
        ),
        ("spo2_target",), ForfaitLevel.LEVEL_2, None, "spo2", 1,
        max_silence_hours=48.0,
        silence_bound="recueil et transmission quotidiens (arrêté insuffisance respiratoire, DOMAIN.md §3.2) : "
                      "au-delà de 48 h, une journée entière sans données passerait sans alerte",
    ),
    Programme(
        "renal_failure", "Insuffisance rénale chronique", "Insuffisance rénale chronique (dialyse, greffe)", ARRETE_IRC,
        (MeasureRequirement("weight", True, "à chaque séance"), MeasureRequirement("systolic", True, "à chaque séance"),
         MeasureRequirement("diastolic", True, "à chaque séance"),
         MeasureRequirement("heart_rate", True, "à chaque séance"),
         MeasureRequirement("creatinine", False, "greffés : selon le protocole")),
        (
            ReferenceGainRule("weight_over_dry", "Prise de poids interdialytique", "weight", "dry_weight", 2.0, OR,
                              "Variation par rapport au poids sec (arrêté IRC, DOMAIN.md §3.4) ; 2 kg configurable"),
            ThresholdRule("systolic_high", "Pression systolique élevée", "systolic", "ge", 180.0, OR,
                          "Défaut configurable (hypertension de grade 3 ≥ 180 mmHg) [hors DOMAIN.md, à valider]"),
            ThresholdRule("systolic_low", "Pression systolique basse", "systolic", "lt", 90.0, OR,
                          "Défaut configurable (hypotension < 90 mmHg) [hors DOMAIN.md, à valider]"),
            _silence("no_session_data", "weight", 72.0, ARRETE_IRC),
        ),
        ("dry_weight",), ForfaitLevel.LEVEL_2, None, "weight", 3,
        max_silence_hours=72.0,
        silence_bound="données transmises à chaque séance de dialyse (arrêté insuffisance rénale, DOMAIN.md §3.4) ; "
                      "trois séances par semaine laissent au plus 72 h entre deux séances [fréquence des séances "
                      "non fixée par le texte : à valider]",
    ),
    Programme(
        "diabetes", "Diabète de type 1 ou 2 sous insuline", "Diabète de type 1 ou 2 traité par insuline", ARRETE_DIAB,
        (MeasureRequirement("glucose", True, "2 à 4 glycémies capillaires par jour ; transmission au moins "
                                             "hebdomadaire"),),
        (*_hypo_rules("Alerte « valeurs hors de la zone cible » (arrêté diabète) ; 250 mg/dL configurable"),
         _silence("no_glucose", "glucose", 7 * 24.0, ARRETE_DIAB)),
        ("hypo_threshold", "glucose_target_low", "glucose_target_high"), ForfaitLevel.LEVEL_2, EnhancedLimit(3, 1),
        "glucose", 1,
        max_silence_hours=7 * 24.0,
        silence_bound="transmission au moins hebdomadaire (arrêté diabète, DOMAIN.md §3.3)",
    ),
    Programme(
        "gestational_diabetes", "Diabète gestationnel sous insuline", "Diabète gestationnel traité par insuline",
        ARRETE_DIAB,
        (MeasureRequirement("glucose", True, "glycémies capillaires quotidiennes ; transmission au moins "
                                             "hebdomadaire"),),
        (*_hypo_rules("Alerte « valeurs hors de la zone cible » (arrêté diabète) ; 250 mg/dL configurable, à "
                      "abaisser par le médecin selon les cibles de la grossesse"),
         _silence("no_glucose", "glucose", 7 * 24.0, ARRETE_DIAB)),
        ("hypo_threshold", "glucose_target_low", "glucose_target_high"), ForfaitLevel.LEVEL_2, EnhancedLimit(3, 1),
        "glucose", 1,
        max_silence_hours=7 * 24.0,
        silence_bound="transmission au moins hebdomadaire (arrêté diabète, DOMAIN.md §3.3)",
    ),
    Programme(
        "cardiac_implant", "Porteur de prothèse cardiaque implantable", "Stimulateur ou défibrillateur implantable",
        ARRETE_PCI,
        (MeasureRequirement("implant_alert", True, "transmissions automatiques de la prothèse"),
         MeasureRequirement("heart_rate", False, "selon la prothèse")),
        (
            ThresholdRule("implant_urgent", "Alerte urgente de la prothèse", "implant_alert", "ge", 2.0, R,
                          f"{ARRETE_PCI} : alertes transmises par la prothèse (niveau 2 = urgent)", group="implant"),
            ThresholdRule("implant_alert", "Alerte de la prothèse", "implant_alert", "ge", 1.0, OR,
                          f"{ARRETE_PCI} : alertes transmises par la prothèse (niveau 1)", group="implant"),
            _silence("no_implant_data", "implant_alert", 7 * 24.0, ARRETE_PCI),
        ),
        (), ForfaitLevel.LEVEL_1, None, "implant_alert", 7,
        max_silence_hours=7 * 24.0,
        silence_bound="transmissions automatiques de la prothèse, attendues au moins chaque semaine (arrêté "
                      "prothèses cardiaques implantables) [hors DOMAIN.md : à valider]",
    ),
)}


def get_programme(key: str) -> Programme:
    programme = PROGRAMMES.get(key)
    if programme is None:
        raise ValidationFailed("Programme de télésurveillance inconnu.",
                               details=[{"field": "programme", "message": f"Programmes : {', '.join(PROGRAMMES)}"}])
    return programme


# -- Reference values and per-patient overrides -----------------------------------------------------------

PARAM_BOUNDS: dict[str, tuple[float, float]] = {"days": (1, 14)}
MIN_SILENCE_HOURS = 12.0  # shorter than half a day would raise an alert between two normal daily transmissions


def check_references(programme: Programme, values: Mapping[str, Any]) -> dict[str, float]:
    """The reference values of an enrolment: required ones present, each within its measure's plausible range."""
    problems: list[dict[str, str]] = []
    out: dict[str, float] = {}
    for key, raw in values.items():
        if key not in programme.references:
            problems.append({"field": f"references.{key}", "message": "Valeur de référence inconnue pour ce "
                                                                        "programme."})
            continue
        if raw is None:
            continue
        spec = REFERENCES[key]
        measure = MEASURES[spec.measure]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(float(raw)):
            problems.append({"field": f"references.{key}", "message": "Valeur numérique attendue."})
            continue
        if not measure.low <= float(raw) <= measure.high:
            problems.append({"field": f"references.{key}",
                             "message": f"{spec.label} hors de la plage plausible ({format_value(measure, measure.low)}"
                                        f" à {format_value(measure, measure.high)})."})
            continue
        out[key] = float(raw)
    for key in programme.references:
        if REFERENCES[key].required and key not in out:
            problems.append({"field": f"references.{key}", "message": f"{REFERENCES[key].label} : valeur obligatoire "
                                                                      "pour ce programme."})
    if problems:
        raise ValidationFailed("Valeurs de référence invalides.", details=problems)
    return out


def check_overrides(programme: Programme, overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-patient overrides: ``{rule_key: {"enabled": bool, <param>: number}}``; mandatory rules stay on."""
    problems: list[dict[str, str]] = []
    out: dict[str, dict[str, Any]] = {}
    known = {r.key: r for r in programme.rules}
    for key, change in overrides.items():
        rule = known.get(key)
        if rule is None:
            problems.append({"field": f"overrides.{key}", "message": "Règle inconnue pour ce programme."})
            continue
        if not isinstance(change, Mapping):
            problems.append({"field": f"overrides.{key}", "message": "Objet attendu."})
            continue
        clean: dict[str, Any] = {}
        for param, raw in change.items():
            if param == "enabled":
                if not isinstance(raw, bool):
                    problems.append({"field": f"overrides.{key}.enabled", "message": "Vrai ou faux attendu."})
                elif not raw and (rule.mandatory or (isinstance(rule, SilenceRule)
                                                     and programme.requires_silence_alert)):
                    problems.append({"field": f"overrides.{key}.enabled",
                                     "message": "Cette alerte est obligatoire et ne peut pas être désactivée."})
                else:
                    clean["enabled"] = raw
                continue
            if param not in rule.params:
                problems.append({"field": f"overrides.{key}.{param}", "message": "Paramètre inconnu pour cette règle."})
                continue
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(float(raw)):
                problems.append({"field": f"overrides.{key}.{param}", "message": "Valeur numérique attendue."})
                continue
            number = float(raw)
            if isinstance(rule, SilenceRule) and param == "hours":
                low, high = MIN_SILENCE_HOURS, programme.max_silence_hours
                if not low <= number <= high:
                    problems.append({"field": f"overrides.{key}.{param}", "message": f"Délai hors limites ({low:g} "
                                     f"à {high:g} h pour ce programme) : {programme.silence_bound}."})
                    continue
            else:
                low, high = PARAM_BOUNDS[param] if param in PARAM_BOUNDS else _param_bounds(rule, param)
            if not low <= number <= high:
                problems.append({"field": f"overrides.{key}.{param}",
                                 "message": f"Valeur hors limites ({low:g} à {high:g})."})
                continue
            clean[param] = int(number) if param == "days" else number
        if clean:
            out[key] = clean
    if problems:
        raise ValidationFailed("Réglages d'alerte invalides.", details=problems)
    return out


def _param_bounds(rule: Rule, param: str) -> tuple[float, float]:
    measure = MEASURES[rule.measure]
    if param == "value":
        return measure.low, measure.high
    return 0.1, (measure.high - measure.low) / 2  # a gain


def resolve_rules(programme: Programme, references: Mapping[str, float],
                  overrides: Mapping[str, Mapping[str, Any]]) -> tuple[Rule, ...]:
    """The patient's effective rules: defaults, then reference values, then the operator's overrides."""
    out: list[Rule] = []
    for rule in programme.rules:
        change: dict[str, Any] = dict(overrides.get(rule.key, {}))
        if isinstance(rule, ThresholdRule) and rule.reference:
            ref = references.get(rule.reference)
            if ref is None and rule.reference in programme.references:
                ref = REFERENCES[rule.reference].default
            if ref is not None and "value" not in change:
                change["value"] = ref
        if isinstance(rule, ReferenceGainRule):
            change["reference_value"] = references.get(rule.reference)
        if isinstance(rule, SilenceRule) and programme.requires_silence_alert:
            change["enabled"] = True
        if isinstance(rule, SilenceRule) and change.get("hours", 0) > programme.max_silence_hours:
            change["hours"] = programme.max_silence_hours  # a period stored before the bound existed
        out.append(replace(rule, **change) if change else rule)
    return tuple(out)


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
        if not _compare(rule.op, reading.value, rule.value):
            return False, ""
        return True, (f"{rule.label} : {format_value(label, reading.value)} "
                      f"(seuil {_OPERATOR_TEXT[rule.op]} {format_value(label, rule.value)})")
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
    by ``ingest.rules_of``) is found by its identity, the cache holding it so that its id cannot be reused:
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


# -- Enrolment lifecycle ------------------------------------------------------------------------------------


class EnrolmentStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"

    @property
    def label(self) -> str:
        return {"active": "Suivi actif", "paused": "Suivi suspendu", "ended": "Suivi terminé"}[self.value]


ENROLMENT_TRANSITIONS: dict[tuple[EnrolmentStatus, str], EnrolmentStatus] = {
    (EnrolmentStatus.ACTIVE, "pause"): EnrolmentStatus.PAUSED,
    (EnrolmentStatus.PAUSED, "resume"): EnrolmentStatus.ACTIVE,
    (EnrolmentStatus.ACTIVE, "end"): EnrolmentStatus.ENDED,
    (EnrolmentStatus.PAUSED, "end"): EnrolmentStatus.ENDED,
}


def transition(status: EnrolmentStatus | str, action: str) -> EnrolmentStatus:
    current = EnrolmentStatus(status)
    target = ENROLMENT_TRANSITIONS.get((current, action))
    if target is None:
        raise InvalidTransition(f"Action « {action} » impossible : {current.label.lower()}.")
    return target


PAUSE_REASONS = {"hospitalisation": "Hospitalisation", "holidays": "Vacances", "other": "Autre motif"}
END_REASONS = {
    "prescription_expired": "Fin de la prescription",
    "low_adherence": "Observance insuffisante (contrôle à 1 ou 2 mois)",
    "clinical_decision": "Décision médicale",
    "patient_request": "Demande du patient",
    "transfer": "Transfert vers une autre équipe",
    "death": "Décès",
    "other": "Autre motif",
}
MAX_PRESCRIPTION_MONTHS = 12  # CSS R162-100: a telesurveillance prescription lasts at most one year


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    days_in_month = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return dt.date(year, month, min(day.day, days_in_month))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def prescription_end(prescribed_on: dt.date, months: int) -> dt.date:
    """Last day covered by a prescription of ``months`` months (at most one year, CSS R162-100)."""
    if not 1 <= months <= MAX_PRESCRIPTION_MONTHS:
        raise ValidationFailed("La prescription de télésurveillance dure de 1 à 12 mois (CSS R162-100).",
                               details=[{"field": "duration_months", "message": "Entre 1 et 12 mois."}])
    return add_months(prescribed_on, months) - dt.timedelta(days=1)


# -- Adherence and the regulatory checks at one and two months ---------------------------------------------

ADHERENCE_MINIMUM = 0.5  # more than 50 % of data uploaded at 1 and 2 months, otherwise stop (ameli, DOMAIN.md §2.4)
CHECKPOINT_DAYS = (30, 60)


def expected_transmissions(active_days: int, every_days: int) -> int:
    if active_days <= 0:
        return 0
    return max(1, -(-active_days // every_days))


def adherence(received_periods: int, expected: int) -> float | None:
    """Share of expected transmissions received (None when nothing was expected)."""
    if expected <= 0:
        return None
    return min(1.0, received_periods / expected)


def received_periods(days_with_data: Iterable[dt.date], start: dt.date, every_days: int) -> int:
    """Number of distinct ``every_days``-long periods from ``start`` that hold at least one transmission."""
    return len({(d - start).days // every_days for d in days_with_data if d >= start})


def adherence_ok(value: float | None) -> bool | None:
    return None if value is None else value > ADHERENCE_MINIMUM


# -- Operator forfait ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnhancedPeriod:
    level: ForfaitLevel
    starts_on: dt.date
    months: int

    @property
    def ends_on(self) -> dt.date:
        return add_months(self.starts_on, self.months) - dt.timedelta(days=1)


def check_enhanced_period(programme: Programme, existing: Sequence[EnhancedPeriod], new: EnhancedPeriod,
                          prescription_ends_on: dt.date) -> None:
    """Enhanced forfaits: only where the programme allows them, ``months`` per period, renewable once."""
    limit = programme.enhanced
    if limit is None:
        raise ValidationFailed("Pas de forfait majoré pour ce programme (DOMAIN.md §2.4 : insuffisance cardiaque "
                               "et diabète seulement).")
    if new.level not in (ForfaitLevel.ENHANCED_1, ForfaitLevel.ENHANCED_2):
        raise ValidationFailed("Niveau de forfait majoré inconnu.")
    if not 1 <= new.months <= limit.months:
        raise ValidationFailed(f"Une période de forfait majoré dure au plus {limit.months} mois pour ce programme.")
    if len(existing) > limit.renewals:
        raise ValidationFailed(f"Le forfait majoré n'est renouvelable que {limit.renewals} fois.")
    for period in existing:
        if new.starts_on <= period.ends_on and period.starts_on <= new.ends_on:
            raise ValidationFailed("Cette période chevauche une période de forfait majoré existante.")
    if new.ends_on > prescription_ends_on:
        raise ValidationFailed("La période de forfait majoré dépasse la fin de la prescription.")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    return add_months(month_start(day), 1) - dt.timedelta(days=1)


def forfait_for_month(programme: Programme, month: dt.date, enhanced: Sequence[EnhancedPeriod]) -> ForfaitLevel:
    """The level due for ``month``: an enhanced period covering part of the month, else the programme's level."""
    first, last = month_start(month), month_end(month)
    for period in enhanced:
        if period.starts_on <= last and first <= period.ends_on:
            return period.level
    return programme.forfait


def monitored_days(month: dt.date, starts_on: dt.date, ends_on: dt.date | None,
                   pauses: Sequence[tuple[dt.date, dt.date | None]]) -> int:
    """Days of ``month`` during which the patient was enrolled and not paused (a pause day counts as paused)."""
    first = max(month_start(month), starts_on)
    last = month_end(month) if ends_on is None else min(month_end(month), ends_on)
    if last < first:
        return 0
    days = {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
    for p_start, p_end in pauses:
        p_last = p_end if p_end is not None else last
        day = max(p_start, first)
        while day <= min(p_last, last):
            days.discard(day)
            day += dt.timedelta(days=1)
    return len(days)


def forfait_due(days_monitored: int) -> bool:
    """A month is billed when the patient was monitored at least one day of it (billed at month end).

    [Interpretation: the texts bill a monthly forfait per monitored patient; a month entirely paused
    (hospitalisation) has no monitoring to bill.]
    """
    return days_monitored > 0
