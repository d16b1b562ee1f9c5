"""A synthetic heart-failure telesurveillance cohort with a known, planted effect (docs/predict.md).

Each enrolled patient has a year of days. Hidden fluid overload comes in episodes (more often after prior
hospital stays); it shows in the daily weight with ±0.5 kg of normal oscillation, and pushes heart rate up and
blood pressure down a little. The daily hazard of a decompensation is a logistic function of the hidden fluid,
the transmissions missed over the last seven days, the prior stays and age (the planted effect, ``HAZARD``).
Age is a confounder: older patients miss more transmissions and decompensate more. Missing transmissions are
informative: a patient with fluid overload forgets the scale more often. A decompensation is followed by a stay
(no readings, fluid reset). Pure numpy, deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAYS = 365
HORIZON = 14  # decompensation within 14 days (the Model 1)

# The planted daily hazard: logit = intercept + Σ coefficient × variable (fluid in kg, age in decades from 75).
HAZARD = {"intercept": -7.2, "fluid_kg": 1.05, "missed_7d": 0.22, "prior_stays": 0.45, "age_decades": 0.35}


@dataclass(frozen=True)
class Cohort:
    """Arrays of shape (patients,) or (patients, days). ``weight``, ``systolic`` and ``heart_rate`` are NaN on a
    day without transmission; ``in_hospital`` days have no reading and no label; ``onset`` marks the day a
    decompensation starts."""

    age: np.ndarray
    sex: np.ndarray  # "F" / "M"
    prior_stays: np.ndarray
    dry_weight: np.ndarray
    weight: np.ndarray
    systolic: np.ndarray
    heart_rate: np.ndarray
    in_hospital: np.ndarray
    onset: np.ndarray
    fluid: np.ndarray

    @property
    def patients(self) -> int:
        return int(self.age.shape[0])

    def label(self) -> np.ndarray:
        """1 where a decompensation starts in the next ``HORIZON`` days (day t+1 … t+14); the last 14 days of the
        year have no complete horizon and are NaN, as are days in hospital."""
        onset = self.onset.astype(np.int32)
        n, days = onset.shape
        csum = np.concatenate([np.zeros((n, 1), np.int32), np.cumsum(onset, axis=1)], axis=1)
        out = np.full((n, days), np.nan, dtype=np.float32)
        last = days - HORIZON
        out[:, :last] = (csum[:, 1 + HORIZON:days + 1] - csum[:, 1:last + 1] > 0)
        out[self.in_hospital] = np.nan
        return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(patients: int, seed: int = 0, days: int = DAYS) -> Cohort:
    """A cohort of ``patients`` enrolled heart-failure patients followed ``days`` days (deterministic for seed)."""
    rng = np.random.default_rng(seed)
    n = patients
    age = np.clip(rng.normal(76, 9, n), 45, 99).round()
    sex = np.where(rng.random(n) < 0.45, "F", "M")
    age_decades = (age - 75) / 10
    prior = rng.poisson(np.exp(-0.9 + 0.25 * age_decades)).clip(0, 6)
    dry = np.where(sex == "F", rng.normal(68, 12, n), rng.normal(80, 13, n)).clip(40, 150)
    episode_rate = 0.012 * np.exp(0.35 * prior)  # daily chance that fluid starts building up
    forgetful = rng.normal(0, 0.6, n)  # patient's own tendency to miss, unrelated to risk

    weight = np.full((n, days), np.nan, np.float32)
    systolic = np.full((n, days), np.nan, np.float32)
    heart = np.full((n, days), np.nan, np.float32)
    in_hospital = np.zeros((n, days), bool)
    onset = np.zeros((n, days), bool)
    fluid_all = np.zeros((n, days), np.float32)

    fluid = np.zeros(n)
    building = np.zeros(n)  # days of build-up left in the current episode
    stay_left = np.zeros(n, np.int32)
    missed = np.zeros((n, 7), bool)  # ring of the last seven days
    drift = np.zeros(n)
    for t in range(days):
        hosp = stay_left > 0
        stay_left = np.maximum(stay_left - 1, 0)
        start = (~hosp) & (building <= 0) & (rng.random(n) < episode_rate)
        building = np.where(start, rng.integers(4, 12, n), building)
        gain = np.where(building > 0, rng.normal(0.35, 0.12, n).clip(0.05), 0.0)
        fluid = np.where(hosp, 0.0, np.maximum(fluid * np.where(building > 0, 1.0, 0.8) + gain, 0.0))
        building = np.maximum(building - 1, 0)
        drift = drift + rng.normal(0, 0.05, n)
        fluid_all[:, t] = fluid

        miss_p = _sigmoid(-2.6 + 0.45 * age_decades + forgetful + 0.35 * fluid)
        miss = hosp | (rng.random(n) < miss_p)
        missed[:, t % 7] = miss
        seen = ~miss
        weight[seen, t] = (dry + drift + fluid + rng.normal(0, 0.5, n))[seen]
        systolic[seen, t] = (128 - 3.0 * fluid + 4 * age_decades + rng.normal(0, 11, n))[seen]
        heart[seen, t] = (72 + 2.5 * fluid + rng.normal(0, 8, n))[seen]

        logit = (HAZARD["intercept"] + HAZARD["fluid_kg"] * fluid + HAZARD["missed_7d"] * missed.sum(axis=1)
                 + HAZARD["prior_stays"] * prior + HAZARD["age_decades"] * age_decades + rng.normal(0, 0.3, n))
        event = (~hosp) & (rng.random(n) < _sigmoid(logit))
        onset[event, t] = True
        in_hospital[:, t] = hosp
        stay_left = np.where(event, rng.integers(4, 11, n), stay_left)
        building = np.where(event, 0, building)
    return Cohort(age=age, sex=sex, prior_stays=prior, dry_weight=dry, weight=weight, systolic=systolic,
                  heart_rate=heart, in_hospital=in_hospital, onset=onset, fluid=fluid_all)
