"""The model's features, computed the same way from a synthetic cohort and from the stored readings.

Day-by-day arrays of shape (patients, days) hold the transmitted values (NaN on a day without one). Weight
changes compare the last known weight on day t with the last known weight k days before (last value carried
forward). The rule baseline is the programme's weight rule (DOMAIN.md §3.1, ``weight_gain_3d`` of the heart
failure programme): the day's weight exceeds the lowest weight of the three previous days by more than 2 kg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RULE_GAIN_KG = 2.0  # DOMAIN.md §3.1: "W(today) − W(3 days ago) > 2 kg → alert" (ESC/HFA guidance)
RULE_DAYS = 3

FEATURES = ("weight_change_1d", "weight_change_3d", "weight_change_7d", "systolic", "heart_rate", "missed_7d",
            "alerts_30d", "prior_stays", "age")

# What a nurse reads for each factor (French); ``{value}`` is the patient's value, formatted by ``describe``.
LABELS_FR = {
    "weight_change_1d": "Variation de poids sur 1 jour",
    "weight_change_3d": "Variation de poids sur 3 jours",
    "weight_change_7d": "Variation de poids sur 7 jours",
    "systolic": "Pression artérielle systolique",
    "heart_rate": "Fréquence cardiaque",
    "missed_7d": "Transmissions manquées sur 7 jours",
    "alerts_30d": "Alertes de poids sur 30 jours",
    "prior_stays": "Hospitalisations antérieures",
    "age": "Âge",
}


def describe(name: str, value: float) -> str:
    """« Variation de poids sur 3 jours : +2,4 kg » — a factor and the patient's value, in French."""
    label = LABELS_FR.get(name, name)
    if value != value:  # NaN
        return f"{label} : non mesurée"
    if name.startswith("weight_change"):
        text = f"{value:+.1f} kg"
    elif name == "systolic":
        text = f"{value:.0f} mmHg"
    elif name == "heart_rate":
        text = f"{value:.0f} /min"
    elif name == "age":
        text = f"{value:.0f} ans"
    elif name == "missed_7d":
        text = f"{value:.0f} sur 7"
    else:
        text = f"{value:.0f}"
    return f"{label} : {text.replace('.', ',')}"


def carry_forward(values: np.ndarray) -> np.ndarray:
    """Each NaN replaced by the last known value of its row (NaN before the first)."""
    n, days = values.shape
    index = np.where(np.isnan(values), 0, np.arange(days)[None, :])
    np.maximum.accumulate(index, axis=1, out=index)
    out = values[np.arange(n)[:, None], index]
    first_known = ~np.isnan(values[:, :1])
    out[:, :1] = np.where(first_known, values[:, :1], np.nan)
    return out


def _shift(values: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(values, np.nan)
    out[:, k:] = values[:, :-k]
    return out


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    csum = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    start = np.maximum(np.arange(values.shape[1]) + 1 - window, 0)
    return csum[:, 1:] - csum[:, start]


def rule_alerts(weight: np.ndarray) -> np.ndarray:
    """Days on which the weight rule fires: a weight transmitted that day exceeds the lowest weight transmitted
    over the three previous days by more than 2 kg (``WindowGainRule`` of the heart-failure programme)."""
    weight = weight.astype(np.float64)
    lowest = _shift(weight, 1)
    for k in range(2, RULE_DAYS + 1):
        lowest = np.fmin(lowest, _shift(weight, k))  # the lower of the two, ignoring a missing day
    return np.nan_to_num(weight - lowest, nan=-np.inf) > RULE_GAIN_KG


@dataclass(frozen=True)
class DailyFeatures:
    """One (patients, days) array per feature, and the rule's alerts."""

    values: dict[str, np.ndarray]
    rule: np.ndarray

    def matrix(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The feature matrix of the (patient, day) pairs ``rows``, ``cols`` (one row per pair)."""
        return np.column_stack([self.values[name][rows, cols] for name in FEATURES]).astype(np.float64)


def daily_features(weight: np.ndarray, systolic: np.ndarray, heart_rate: np.ndarray, prior_stays: np.ndarray,
                   age: np.ndarray) -> DailyFeatures:
    """The features of every patient on every day, from the transmitted values (NaN: nothing transmitted)."""
    weight = weight.astype(np.float64)
    known = carry_forward(weight)
    rule = rule_alerts(weight)
    days = weight.shape[1]
    values = {
        "weight_change_1d": known - _shift(known, 1),
        "weight_change_3d": known - _shift(known, 3),
        "weight_change_7d": known - _shift(known, 7),
        "systolic": carry_forward(systolic.astype(np.float64)),
        "heart_rate": carry_forward(heart_rate.astype(np.float64)),
        "missed_7d": _rolling_sum(np.isnan(weight).astype(np.float64), 7),
        "alerts_30d": _rolling_sum(rule.astype(np.float64), 30),
        "prior_stays": np.repeat(prior_stays.astype(np.float64)[:, None], days, axis=1),
        "age": np.repeat(age.astype(np.float64)[:, None], days, axis=1),
    }
    return DailyFeatures(values, rule)
