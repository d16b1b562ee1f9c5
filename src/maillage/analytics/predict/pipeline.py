"""Training and evaluation: gradient-boosted trees (LightGBM) with cross-validated hyper-parameters, a calibration
fitted on a later slice of the training period, and an evaluation on a later test period, side by side with the
programme's weight rule.

Everything a model needs to score is plain text and numbers (``TrainedModel.to_dict``): the booster's own text
format and the calibration's points, stored in the model table; nothing is pickled, nothing downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maillage.analytics.predict import synthetic
from maillage.analytics.predict.features import FEATURES, daily_features

GRID = {"num_leaves": [7, 15], "learning_rate": [0.05, 0.1], "n_estimators": [150]}
NURSE_THRESHOLDS = (0.05, 0.10, 0.15, 0.20, 0.30)  # the decision curve's range (docs/predict.md)
BANDS = ((0.05, "faible"), (0.15, "modéré"), (1.01, "élevé"))  # below 5 %, 5 to 15 %, 15 % and more
BOOTSTRAP = 200


def band(probability: float) -> str:
    """faible (< 5 %), modéré (5 to 15 %), élevé (≥ 15 %) of decompensation within 14 days."""
    for upper, name in BANDS:
        if probability < upper:
            return name
    return BANDS[-1][1]


@dataclass(frozen=True)
class Dataset:
    """Rows of examples: features, outcome, the day (for the temporal split), the patient (for the cluster
    bootstrap), age band and sex (for the subgroup table), the rule's decision where there is a rule."""

    X: np.ndarray
    y: np.ndarray
    day: np.ndarray
    patient: np.ndarray
    age_band: np.ndarray
    sex: np.ndarray
    rule: np.ndarray | None
    features: tuple[str, ...] = FEATURES

    def take(self, mask: np.ndarray) -> Dataset:
        return Dataset(self.X[mask], self.y[mask], self.day[mask], self.patient[mask], self.age_band[mask],
                       self.sex[mask], None if self.rule is None else self.rule[mask], self.features)


def age_band(age: np.ndarray) -> np.ndarray:
    return np.select([age < 65, age < 75, age < 85], ["< 65 ans", "65-74 ans", "75-84 ans"], "85 ans et plus")


def synthetic_dataset(cohort: synthetic.Cohort, every: int = 3, first_day: int = 7) -> Dataset:
    """Patient-days of the cohort, one every ``every`` days (neighbouring days are nearly the same example), from
    ``first_day`` on (a week of history), with a complete 14-day horizon and outside hospital stays."""
    daily = daily_features(cohort.weight, cohort.systolic, cohort.heart_rate, cohort.prior_stays, cohort.age)
    label = cohort.label()
    offsets = np.arange(cohort.patients) % every  # patients sampled on staggered days
    days = np.arange(label.shape[1])
    chosen = (days[None, :] >= first_day) & ((days[None, :] - offsets[:, None]) % every == 0) & ~np.isnan(label)
    rows, cols = np.nonzero(chosen)
    return Dataset(X=daily.matrix(rows, cols), y=label[rows, cols].astype(np.int8), day=cols, patient=rows,
                   age_band=age_band(cohort.age[rows]), sex=cohort.sex[rows], rule=daily.rule[rows, cols])


def temporal_split(data: Dataset, cut_day: int) -> tuple[Dataset, Dataset]:
    """Train on the days before ``cut_day`` whose 14-day horizon ends before it; test on the days from it."""
    return data.take(data.day + synthetic.HORIZON < cut_day), data.take(data.day >= cut_day)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class TrainedModel:
    booster: str  # LightGBM's text format
    calibration: dict[str, Any]
    features: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    _loaded: Any = None

    def _model(self) -> Any:
        if self._loaded is None:
            import lightgbm

            self._loaded = lightgbm.Booster(model_str=self.booster)
        return self._loaded

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The uncalibrated probabilities of the trees."""
        return np.asarray(self._model().predict(X, num_threads=1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        return calibrate(self.calibration, self.raw(X))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-row, per-feature contributions to the log-odds (TreeSHAP, LightGBM ``pred_contrib``); the last
        column is the expected value."""
        return np.asarray(self._model().predict(X, pred_contrib=True, num_threads=1))

    def to_dict(self) -> dict[str, Any]:
        return {"booster": self.booster, "calibration": self.calibration, "features": list(self.features),
                "params": self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainedModel:
        return cls(data["booster"], data["calibration"], tuple(data["features"]), data.get("params", {}))


def calibrate(calibration: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    if calibration["method"] == "isotonic":
        return np.interp(raw, calibration["x"], calibration["y"])
    return 1 / (1 + np.exp(-(calibration["a"] * _logit(raw) + calibration["b"])))


def fit_calibration(raw: np.ndarray, y: np.ndarray, method: str) -> dict[str, Any]:
    """Isotonic regression or Platt scaling of the trees' probabilities on a slice the trees did not see."""
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)
    return {"method": "sigmoid", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def train(data: Dataset, *, seed: int = 0, grid: dict[str, list[Any]] | None = None, temporal: bool = True,
          calibration: str = "auto") -> TrainedModel:
    """Cross-validated grid search (folds in time order when ``temporal``), refit on the earlier 80 % of the
    training rows, calibration on the later 20 % (isotonic when it holds 300 events or more, else Platt)."""
    from lightgbm import LGBMClassifier
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, TimeSeriesSplit

    order = np.argsort(data.day, kind="stable") if temporal else np.random.default_rng(seed).permutation(len(data.y))
    X, y = data.X[order], data.y[order]
    cut = int(len(y) * 0.8)
    base = LGBMClassifier(n_jobs=1, verbose=-1, random_state=seed, min_child_samples=30, subsample=0.8,
                          subsample_freq=1, colsample_bytree=0.9)
    cv = TimeSeriesSplit(n_splits=3) if temporal else StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    search = GridSearchCV(base, grid or GRID, cv=cv, scoring="neg_log_loss", n_jobs=1)
    search.fit(X[:cut], y[:cut])
    booster = search.best_estimator_.booster_
    raw = np.asarray(booster.predict(X[cut:]))
    method = calibration if calibration != "auto" else ("isotonic" if y[cut:].sum() >= 300 else "sigmoid")
    return TrainedModel(booster.model_to_string(), fit_calibration(raw, y[cut:], method), data.features,
                        {k: v for k, v in search.best_params_.items()})


# -- evaluation ----------------------------------------------------------------------------------------------------

def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else math.nan


def _pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, score)) if y.sum() > 0 else math.nan


def calibration_fit(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Calibration slope and intercept: logistic regression of the outcome on the logit of the prediction
    (slope 1 and intercept 0 when calibrated; a slope below 1 means predictions too extreme)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6).fit(_logit(p).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Quantile bins of the prediction: mean predicted and observed frequency (the reliability diagram)."""
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            out.append({"predicted": float(p[chunk].mean()), "observed": float(y[chunk].mean()), "n": len(chunk)})
    return out


def net_benefit(y: np.ndarray, decision: np.ndarray, threshold: float) -> float:
    """Vickers' net benefit of acting on ``decision``: TP/n − FP/n × pt/(1 − pt)."""
    n = len(y)
    tp = float(np.sum(decision & (y == 1)))
    fp = float(np.sum(decision & (y == 0)))
    return tp / n - fp / n * threshold / (1 - threshold)


def _interval(values: list[float]) -> list[float]:
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return [math.nan, math.nan]
    return [float(np.percentile(clean, 2.5)), float(np.percentile(clean, 97.5))]


class _Ranked:
    """A score's distinct values, ranked once, so that each bootstrap round computes ROC AUC and average precision
    from per-value weighted counts in linear time (no sort per round)."""

    def __init__(self, score: np.ndarray, y: np.ndarray) -> None:
        values, self.inverse = np.unique(score, return_inverse=True)  # ascending
        self.size = len(values)
        self.positive = y == 1

    def metrics(self, weight: np.ndarray) -> tuple[float, float]:
        pos = np.bincount(self.inverse, weights=weight * self.positive, minlength=self.size)
        neg = np.bincount(self.inverse, weights=weight * ~self.positive, minlength=self.size)
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos == 0 or total_neg == 0:
            return math.nan, math.nan
        below = np.cumsum(neg) - neg  # negatives strictly below each value
        auc = float(np.sum(pos * (below + 0.5 * neg)) / (total_pos * total_neg))
        tp, fp = np.cumsum(pos[::-1]), np.cumsum(neg[::-1])  # at each threshold, from the highest value down
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
        return auc, float(np.sum(pos[::-1] / total_pos * precision))


def _cluster_bootstrap(data: Dataset, scores: dict[str, np.ndarray], rounds: int, seed: int) -> dict[str, Any]:
    """95 % intervals of ROC AUC and PR AUC, resampling patients (a patient's rows are not independent): each round
    draws patients with replacement and weighs each row by how many times its patient was drawn."""
    rng = np.random.default_rng(seed)
    patients, inverse = np.unique(data.patient, return_inverse=True)
    ranked = {name: _Ranked(s, data.y) for name, s in scores.items()}
    draws: dict[str, list[float]] = {}
    for _ in range(rounds):
        weight = np.bincount(rng.integers(0, len(patients), len(patients)), minlength=len(patients))[inverse]
        aucs = {}
        for name, r in ranked.items():
            auc, ap = r.metrics(weight.astype(np.float64))
            aucs[name] = auc
            draws.setdefault(f"{name}_roc_auc", []).append(auc)
            draws.setdefault(f"{name}_pr_auc", []).append(ap)
        if "rule" in scores:
            draws.setdefault("roc_auc_gain", []).append(aucs["model"] - aucs["rule"])
    return {k: _interval(v) for k, v in draws.items()}


def subgroups(data: Dataset, p: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    """Performance by age band and by sex (fairlearn ``MetricFrame``)."""
    from fairlearn.metrics import MetricFrame, selection_rate
    from sklearn.metrics import brier_score_loss, recall_score

    decision = (p >= threshold).astype(int)
    out: list[dict[str, Any]] = []
    for column, values in (("Tranche d'âge", data.age_band), ("Sexe", data.sex)):
        frame = MetricFrame(
            metrics={"n": lambda y, s: len(y), "events": lambda y, s: int(np.sum(y)),
                     "roc_auc": lambda y, s: _auc(np.asarray(y), np.asarray(s)),
                     "brier": brier_score_loss},
            y_true=data.y, y_pred=p, sensitive_features=values)
        by_decision = MetricFrame(metrics={"recall": lambda y, d: recall_score(y, d, zero_division=0),
                                           "selection_rate": selection_rate},
                                  y_true=data.y, y_pred=decision, sensitive_features=values)
        for group, row in frame.by_group.iterrows():
            extra = by_decision.by_group.loc[group]
            out.append({"attribute": column, "group": str(group), "n": int(row["n"]), "events": int(row["events"]),
                        "roc_auc": float(row["roc_auc"]), "brier": float(row["brier"]),
                        "recall": float(extra["recall"]), "selection_rate": float(extra["selection_rate"])})
    return out


def evaluate(model: TrainedModel, data: Dataset, *, seed: int = 0, rounds: int = BOOTSTRAP,
             threshold: float = 0.15) -> dict[str, Any]:
    """Every figure of the model card, on the test rows ``data``."""
    from sklearn.metrics import brier_score_loss

    p = model.predict(data.X)
    slope, intercept = calibration_fit(data.y, p)
    scores = {"model": p}
    metrics: dict[str, Any] = {
        "n": len(data.y), "events": int(data.y.sum()), "patients": len(np.unique(data.patient)),
        "prevalence": float(data.y.mean()), "roc_auc": _auc(data.y, p), "pr_auc": _pr_auc(data.y, p),
        "brier": float(brier_score_loss(data.y, p)), "calibration_slope": slope, "calibration_intercept": intercept,
        "reliability": reliability(data.y, p), "threshold": threshold,
        "decision_curve": [{"threshold": t, "model": net_benefit(data.y, p >= t, t),
                            "all": net_benefit(data.y, np.ones(len(p), bool), t), "none": 0.0}
                           for t in NURSE_THRESHOLDS],
        "subgroups": subgroups(data, p, threshold),
    }
    if data.rule is not None:
        rule = data.rule.astype(float)
        scores["rule"] = rule
        metrics["rule"] = {"roc_auc": _auc(data.y, rule), "pr_auc": _pr_auc(data.y, rule),
                           "alert_rate": float(rule.mean()),
                           "sensitivity": float(rule[data.y == 1].mean()) if data.y.sum() else math.nan,
                           "ppv": float(data.y[rule == 1].mean()) if rule.sum() else math.nan}
        for row in metrics["decision_curve"]:
            row["rule"] = net_benefit(data.y, data.rule.astype(bool), row["threshold"])
    metrics["intervals"] = _cluster_bootstrap(data, scores, rounds, seed)
    metrics["beats_baseline"] = beats_baseline(metrics)
    return metrics


ACTION_THRESHOLD = BANDS[0][0]  # from 5 % the worklist shows a moderate risk: the nurse looks closer


def beats_baseline(metrics: dict[str, Any]) -> bool:
    """The model is better than the rule on the test period: higher ROC AUC with the 95 % interval of the gain
    above zero, higher PR AUC, and a net benefit above the rule's at the threshold from which the worklist asks
    the nurse to look closer (5 %). No rule: no activation (nothing shows it does better than what the nurses
    already have)."""
    rule = metrics.get("rule")
    if not rule:
        return False
    gain = metrics.get("intervals", {}).get("roc_auc_gain", [None, None])
    at_action = [row for row in metrics["decision_curve"] if abs(row["threshold"] - ACTION_THRESHOLD) < 1e-9]
    return bool(metrics["roc_auc"] > rule["roc_auc"] and gain[0] is not None and gain[0] > 0
                and metrics["pr_auc"] > rule["pr_auc"] and at_action and at_action[0]["model"] > at_action[0]["rule"])


def top_factors(model: TrainedModel, X: np.ndarray, count: int = 3) -> list[list[tuple[str, float, float]]]:
    """Per row, the ``count`` features that raise the risk most: (feature, contribution to the log-odds, value)."""
    contrib = model.contributions(X)[:, :-1]
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :count]
    top = np.take_along_axis(contrib, order, axis=1)
    values = np.take_along_axis(X, order, axis=1)
    names = model.features
    return [[(names[j], c, v) for j, c, v in zip(o.tolist(), t.tolist(), x.tolist(), strict=True) if c > 0]
            for o, t, x in zip(order, top, values, strict=True)]
