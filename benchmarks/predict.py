"""Risk model of heart-failure decompensation: training time, scoring throughput, the worklist with scores.

Run: `.venv/bin/python benchmarks/predict.py` (full size: 100,000 enrolled patients with a year of daily readings)
or `--patients N` for fewer (scoring always covers `--score-patients`, default 100,000). Prints the machine it ran
on and its load: on a shared machine the figures are upper bounds of an idle machine's.

1. Training: the synthetic cohort generated (numpy), its features, the temporal split, the cross-validated grid
   (4 combinations × 3 folds), the calibration and the evaluation (200 bootstrap rounds by patient). Rows are one
   patient-day in seven at full size (one in three below 20,000 patients).
2. Scoring: the worker's scoring step for every patient at once, in memory: features from 37 days of readings,
   calibrated probability, the three top factors (LightGBM's own SHAP contributions). Floor: 100,000 patients in
   under 60 s.
3. The worklist with scores shown against without: the page's work after authorization, on SQLite in memory with
   200 open alerts: the alerts' statement (with scores: the same statement joined to each enrolment's score, four
   columns, no factors) and the fragment's template rendered (the factors are loaded only when a row is opened).
   The issue's floor: p95 unchanged within 10 ms. `--only-worklist` runs this part alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import platform
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from _machine import cpu_model, loadavg  # noqa: E402


def percentile(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def train(patients: int) -> object:
    from maillage.analytics.predict import pipeline, synthetic

    t0 = time.perf_counter()
    cohort = synthetic.generate(patients, seed=0)
    t1 = time.perf_counter()
    rows = pipeline.synthetic_dataset(cohort, every=7 if patients >= 20_000 else 3)
    train_rows, test_rows = pipeline.temporal_split(rows, 240)
    t2 = time.perf_counter()
    model = pipeline.train(train_rows, seed=0)
    t3 = time.perf_counter()
    metrics = pipeline.evaluate(model, test_rows, seed=0)
    t4 = time.perf_counter()
    print(f"training on {patients:,} patients × 365 days: generate {t1 - t0:.1f} s, features {t2 - t1:.1f} s "
          f"({len(train_rows.y):,} training rows), grid + refit + calibration {t3 - t2:.1f} s, evaluation "
          f"{t4 - t3:.1f} s; total {t4 - t0:.1f} s")
    print(f"  test ROC AUC {metrics['roc_auc']:.3f} {metrics['intervals']['model_roc_auc']}, rule "
          f"{metrics['rule']['roc_auc']:.3f}; calibration slope {metrics['calibration_slope']:.2f}; "
          f"Brier {metrics['brier']:.4f}; beats the rule: {metrics['beats_baseline']}")
    return model


def score(model: object, patients: int) -> None:
    from maillage.analytics.predict import features, pipeline, synthetic

    cohort = synthetic.generate(min(patients, 20_000), seed=1, days=37)
    reps = math.ceil(patients / cohort.patients)
    weight = np.tile(cohort.weight, (reps, 1))[:patients]
    systolic = np.tile(cohort.systolic, (reps, 1))[:patients]
    heart = np.tile(cohort.heart_rate, (reps, 1))[:patients]
    age = np.tile(cohort.age, reps)[:patients]
    prior = np.full(patients, np.nan)
    t0 = time.perf_counter()
    daily = features.daily_features(weight, systolic, heart, prior, age)
    X = daily.matrix(np.arange(patients), np.full(patients, 36))
    t1 = time.perf_counter()
    p = model.predict(X)  # type: ignore[attr-defined]
    bands = [pipeline.band(float(v)) for v in p]
    t2 = time.perf_counter()
    tops = pipeline.top_factors(model, X)  # type: ignore[arg-type]
    texts = [[features.describe(n, v) for n, _, v in top] for top in tops]
    t3 = time.perf_counter()
    assert len(bands) == len(texts) == patients
    print(f"scoring {patients:,} patients: features {t1 - t0:.1f} s, calibrated probability and band {t2 - t1:.1f} s "
          f"({patients / (t2 - t0):,.0f} patients/s; floor: 100,000 in < 60 s), top three factors (TreeSHAP) "
          f"{t3 - t2:.1f} s; all {t3 - t0:.1f} s")


def worklist(model_id: uuid.UUID, runs: int) -> None:
    from sqlalchemy import create_engine, insert, select
    from sqlalchemy.orm import Session

    from maillage.kit.db import Base
    from maillage.kit.templating import templates
    from maillage.models.monitoring import MonitoringAlert
    from maillage.models.prediction import PredictionModel, PredictionScore
    from maillage.monitoring import repository as repo
    from maillage.monitoring.pages import GROUP_TITLES
    from maillage.monitoring.service import Worklist, order_by_risk, worklist_group

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[MonitoringAlert.__table__, PredictionModel.__table__,
                                             PredictionScore.__table__])
    rng = np.random.default_rng(0)
    now = dt.datetime.now(dt.UTC)
    alerts, scores = [], []
    for i in range(200):
        enrolment, patient = uuid.uuid4(), uuid.uuid4()
        severity = ("red", "orange", "green")[i % 3]
        alerts.append({"id": uuid.uuid4(), "enrolment_id": enrolment, "patient_id": patient, "team_id": model_id,
                       "condition": "weight_gain_3d", "severity": severity, "silence": False, "status": "open",
                       "open_key": f"{enrolment}:weight_gain_3d",
                       "message": "Prise de poids rapide", "source": "", "occurrences": 1,
                       "opened_at": now - dt.timedelta(minutes=i), "last_seen_at": now, "updated_at": now})
        p = float(rng.beta(1, 15))
        scores.append({"enrolment_id": enrolment, "patient_id": patient, "model_id": model_id, "probability": p,
                       "band": "modéré", "computed_at": now,
                       "factors": [{"feature": "weight_change_3d", "value": 2.4,
                                    "text": "Variation de poids sur 3 jours : +2,4 kg"}] * 3})
    with engine.begin() as conn:
        conn.execute(insert(PredictionModel.__table__), [{"id": model_id, "name": "m", "version": 1,
                                                          "status": "active", "data_window": {}, "code_version": "x",
                                                          "metrics": {}, "artefact": {}, "trained_at": now}])
        conn.execute(insert(MonitoringAlert.__table__), alerts)
        conn.execute(insert(PredictionScore.__table__), scores)
    template = templates().get_template("monitoring/_worklist.html")
    request = SimpleNamespace(state=SimpleNamespace(csrf_token="x"))

    def page(with_scores: bool) -> float:
        t0 = time.perf_counter()
        with Session(engine) as session:
            scope = select(MonitoringAlert.patient_id)
            found = (repo.worklist_scored(session, scope) if with_scores
                     else [(alert, None) for alert in repo.worklist(session, scope)])
            work = Worklist({g: [] for g in ("red", "orange", "missing", "green")}, by_risk=with_scores)
            for alert, shown in found:
                work.groups[worklist_group(alert)].append(alert)
                if shown is not None:
                    work.scores[alert.enrolment_id] = shown
            if with_scores:
                work.groups = order_by_risk(work.groups, work.scores)
            template.render(work=work, titles=GROUP_TITLES, labels={}, notifications=[], now=now, request=request,
                            order="risque" if with_scores else "couleur")
        return (time.perf_counter() - t0) * 1000

    page(False), page(True)
    timings: dict[bool, list[float]] = {False: [], True: []}
    for i in range(runs):  # interleaved, so that a change of load weighs on both alike
        for with_scores in ((False, True) if i % 2 else (True, False)):
            timings[with_scores].append(page(with_scores))
    for with_scores in (False, True):
        times = sorted(timings[with_scores])
        print(f"worklist (200 open alerts) {'with' if with_scores else 'without'} scores: p50 "
              f"{percentile(times, 0.5):.1f} ms, p95 {percentile(times, 0.95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--score-patients", type=int, default=100_000)
    parser.add_argument("--only-worklist", action="store_true", help="the worklist part alone")
    args = parser.parse_args()
    print(f"machine: {cpu_model()}, {platform.system()} {platform.release()}, load average {loadavg()}")
    if not args.only_worklist:
        model = train(args.patients)
        score(model, args.score_patients)
    worklist(uuid.uuid4(), args.runs)
    print(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
