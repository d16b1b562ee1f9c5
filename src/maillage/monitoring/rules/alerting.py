"""Severity and the kinds of alert rule (threshold, gain over a window, gain over a reference value, silence),
and the reference values a physician sets at enrolment. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from maillage.kit.enums import LabelledEnum
from maillage.monitoring.rules.measures import MEASURES, format_value


class Severity(LabelledEnum):
    RED = "red", "Rouge"
    ORANGE = "orange", "Orange"
    GREEN = "green", "Vert"  # reading received, nothing to report

    @property
    def rank(self) -> int:
        return {"red": 0, "orange": 1, "green": 2}[self.value]


RECEIVED = "received"  # the green condition: readings received, nothing to report

Operator = Literal["lt", "le", "gt", "ge"]
OPERATOR_TEXT = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


def compare(op: Operator, value: float, threshold: float) -> bool:
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
        return f"{MEASURES[self.measure].label} {OPERATOR_TEXT[self.op]} {format_value(self.measure, self.value)}"


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
