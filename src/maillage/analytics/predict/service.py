"""Use cases of the risk models: train and store a version, activate it (only if it beats the rule), score the
enrolments whose readings changed (the worker), read a model card, run the pipeline on WHAS500."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from maillage.analytics import service as analytics_service
from maillage.analytics.predict import features as feats
from maillage.analytics.predict import pipeline, population, synthetic
from maillage.analytics.predict import repository as repo
from maillage.exceptions import Conflict, NotFound
from maillage.kit.clock import now, today_paris
from maillage.models.prediction import PredictionModel
from maillage.patient import labels as patient_labels

MODEL_NAME = "hf_decompensation_14d"
PROGRAMME = "heart_failure"
HISTORY_DAYS = 37  # a week of weight changes plus the thirty days of alert history
CUT_DAY = 240  # the synthetic year: train on days 0-225 (horizon closed), test on days 240-350


def code_version() -> str:
    """A digest of the code that makes a model: the generator, the features and the pipeline."""
    digest = hashlib.sha256()
    for name in ("synthetic.py", "features.py", "pipeline.py", "population.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return f"predict-{digest.hexdigest()[:12]}"


def _json_safe(value: Any) -> Any:
    """NaN (a metric undefined on a subgroup without event) as None: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def train_synthetic(session: Session, *, patients: int = 400, seed: int = 0, every: int = 3,
                    rounds: int = pipeline.BOOTSTRAP, grid: dict[str, list[Any]] | None = None,
                    model_id: uuid.UUID | None = None) -> PredictionModel:
    """Generate the synthetic cohort, train on the earlier days, evaluate on the later ones, store the version
    (status ``trained``: activation is a separate, approved step)."""
    cohort = synthetic.generate(patients, seed=seed)
    train_rows, test_rows = pipeline.temporal_split(pipeline.synthetic_dataset(cohort, every=every), CUT_DAY)
    model = pipeline.train(train_rows, seed=seed, grid=grid)
    metrics = pipeline.evaluate(model, test_rows, seed=seed, rounds=rounds)
    version = PredictionModel(
        id=model_id or uuid.uuid4(), name=MODEL_NAME, version=repo.next_version(session, MODEL_NAME), status="trained",
        data_window={"source": "Cohorte synthétique (docs/predict.md)", "patients": patients, "seed": seed,
                     "train_days": [0, CUT_DAY - synthetic.HORIZON - 1], "test_days": [CUT_DAY,
                                                                            synthetic.DAYS - synthetic.HORIZON - 1],
                     "train_rows": len(train_rows.y), "test_rows": len(test_rows.y)},
        code_version=code_version(), metrics=_json_safe(metrics), artefact=model.to_dict(), trained_at=now())
    session.add(version)
    session.flush()
    return version


def activate(session: Session, model_id: uuid.UUID, approver_id: uuid.UUID | None) -> PredictionModel:
    """Put a version in care. Refused (and recorded as refused) when its evaluation does not beat the programme's
    weight rule on the test period (``pipeline.beats_baseline``); the previous active version is retired."""
    model = repo.get_model(session, model_id)
    if model is None:
        raise NotFound()
    if model.status == "active":
        return model
    if not pipeline.beats_baseline(model.metrics):
        model.status = "refused"
        model.refusal = "Le modèle ne fait pas mieux que la règle de poids du programme sur la période de test."
        session.flush()
        raise Conflict(model.refusal)
    current = repo.active_model(session, model.name)
    if current is not None:
        current.status = "retired"
        session.flush()
    model.status, model.approved_by, model.approved_at = "active", approver_id, now()
    session.flush()
    return model


def get_model(session: Session, model_id: uuid.UUID) -> PredictionModel:
    model = repo.get_model(session, model_id)
    if model is None:
        raise NotFound()
    return model


def score_due(session: Session, limit: int = 500) -> int:
    """Recompute the scores of the heart-failure enrolments that received readings since their last score (one
    batch of at most ``limit``; the worker's periodic job calls it, never the ingestion path)."""
    active = repo.active_model(session, MODEL_NAME)
    if active is None:
        return 0
    due = repo.due_for_scoring(session, PROGRAMME, active.id, limit)
    if not due:
        return 0
    model = pipeline.TrainedModel.from_dict(active.artefact)
    today = today_paris()
    first = today - dt.timedelta(days=HISTORY_DAYS - 1)
    index = {eid: i for i, (eid, _, _) in enumerate(due)}
    shape = (len(due), HISTORY_DAYS)
    series = {m: np.full(shape, np.nan) for m in ("weight", "systolic", "heart_rate")}
    for eid, measure, day, value in repo.readings(session, list(index), list(series), first):
        if first <= day <= today:
            series[measure][index[eid], (day - first).days] = value  # the day's last reading
    births = patient_labels.birth_dates_for_risk_scores(session, [pid for _, pid, _ in due])
    age = np.array([(today - births[pid]).days / 365.25 if pid in births else np.nan for _, pid, _ in due])
    prior = np.full(len(due), np.nan)  # prior stays: not linked in care yet (docs/predict.md, limits)
    daily = feats.daily_features(series["weight"], series["systolic"], series["heart_rate"], prior, age)
    X = daily.matrix(np.arange(len(due)), np.full(len(due), HISTORY_DAYS - 1))
    probabilities = model.predict(X)
    factors = pipeline.top_factors(model, X)
    at = now()
    repo.save_scores(session, [
        {"enrolment_id": eid, "patient_id": pid, "model_id": active.id, "probability": float(p),
         "band": pipeline.band(float(p)), "readings_until": last, "computed_at": at,
         "factors": [{"feature": name, "value": None if math.isnan(value) else round(value, 2),
                      "text": feats.describe(name, value)} for name, _, value in top]}
        for (eid, pid, last), p, top in zip(due, probabilities, factors, strict=True)])
    return len(due)


def whas500_report(seed: int = 0, rounds: int = 100) -> dict[str, Any]:
    """The same training and evaluation on WHAS500 (Worcester Heart Attack Study, shipped by scikit-survival):
    death within a year of admission for a myocardial infarction. No admission date in this extract: a stratified
    random split (30 % test) instead of a temporal one, and no rule to compare with."""
    from sksurv.datasets import load_whas500

    X_frame, outcome = load_whas500()
    days, died = outcome["lenfol"], outcome["fstat"]
    known = died & (days <= 365) | (days > 365)
    frame = X_frame[known].astype(float)
    y = (died & (days <= 365))[known].astype(np.int8)
    names = tuple(str(c) for c in frame.columns)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for value in (0, 1):
        members = np.flatnonzero(y == value)
        test[rng.choice(members, round(len(members) * 0.3), replace=False)] = True
    sex = np.where(frame["gender"].to_numpy() == 1, "F", "M")  # WHAS500: gender 0 = male, 1 = female
    data = pipeline.Dataset(X=frame.to_numpy(), y=np.asarray(y), day=np.zeros(len(y), int),
                            patient=np.arange(len(y)), age_band=pipeline.age_band(frame["age"].to_numpy()), sex=sex,
                            rule=None, features=names)
    model = pipeline.train(data.take(~test), seed=seed, temporal=False, calibration="sigmoid",
                           grid={"num_leaves": [3, 7], "learning_rate": [0.05], "n_estimators": [100]})
    metrics = pipeline.evaluate(model, data.take(test), seed=seed, rounds=rounds)
    return _json_safe({"rows": len(y), "test_rows": int(test.sum()), **metrics})


def train_population(session: Session, communes: Any, *, persons: int = 20_000, seed: int = 0,
                     rounds: int = pipeline.BOOTSTRAP, grid: dict[str, list[Any]] | None = None) -> PredictionModel:
    """Model 2 (``population``): train, evaluate and store a version with its aggregates already through the
    small-cell gate; the person-level rows are dropped with the run. Never activated in care: it has no
    individual use, only the steering page's aggregates."""
    # The deployment's own threshold, as every other published aggregate (never the gate's default).
    result = population.run(communes, persons, seed=seed, rounds=rounds, grid=grid,
                            config=analytics_service.gate_config_from_settings())
    threshold = int(result.gated.report["seuil"])
    subgroups = population.gated_subgroups(result.metrics.get("subgroups", []), threshold)
    metrics = _json_safe({**result.metrics, "subgroups": subgroups,
                          "aggregats": population.published_rows(result.gated),
                          "controle_secret": result.gated.report})
    version = PredictionModel(
        name=population.MODEL_NAME, version=repo.next_version(session, population.MODEL_NAME), status="trained",
        data_window={"source": "Population synthétique sur les communes de l'entrepôt (docs/predict.md, modèle 2)",
                     "persons": persons, "seed": seed, "communes": len(communes),
                     "train_years": "caractéristiques de l'année 1, hospitalisation de l'année 2",
                     "test_years": "caractéristiques de l'année 2, hospitalisation de l'année 3"},
        code_version=code_version(), metrics=metrics, artefact=result.model.to_dict(), trained_at=now())
    session.add(version)
    session.flush()
    return version


def latest_population(session: Session) -> PredictionModel | None:
    """The newest version of Model 2 (its gated aggregates are what the steering page shows)."""
    found = repo.models(session, population.MODEL_NAME)
    return found[0] if found else None


def approver(session: Session, email: str) -> uuid.UUID:
    """The physician who approves an activation, by e-mail address."""
    user = repo.user_by_email(session, email)
    if user is None:
        raise NotFound("Aucun utilisateur avec cette adresse.")
    return user.id
