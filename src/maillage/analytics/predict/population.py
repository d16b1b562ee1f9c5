"""Model 2: unplanned hospitalisation within 12 months, at population level, for steering (issue 25).

Only gated aggregates ever leave: by commune, département and territory crossed with age bands, the persons
counted, those hospitalised (observed), the hospitalisations expected by the model and the mean predicted risk,
through the small-cell gate (``analytics.gate.publish``, with its linear-programming audit). No list of persons,
named or pseudonymous, is returned by anything here: the person-level frame lives only inside ``run``.

Data. The warehouse's generator writes one care year and no long-term-condition (ALD) table, so the 12-month
outcome cannot be drawn from it yet. The person-years here come from a documented data-generating process
(``generate``, docs/predict.md) placed on the warehouse's own communes: each person has a commune (drawn by its
population), an age, a sex, an ALD flag, stays and dispensed drug classes per year and the commune's GP access
(APL, consultations per year per standardised inhabitant). A latent frailty raises ALD, drugs and stays at once
(a confounder). The yearly rate of unplanned stays follows a planted logistic model, so the evaluation can show
how far the model recovers it.

Temporal split: train on the features of year 1 with the outcome of year 2, test on the features of year 2 with
the outcome of year 3 (the pipeline's calibration, AUC with person bootstrap intervals, subgroups by age band and
sex)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from maillage.analytics import indicators as ind
from maillage.analytics.gate import GateConfig, GatedTable, publish
from maillage.analytics.predict import pipeline

MODEL_NAME = "hospitalisation_12m"
FEATURES = ("age", "sexe_femme", "ald", "sejours_annee", "classes_medicaments", "apl_commune")
AGE_BOUNDS = (0, 45, 65, 75, 85)
TABLE = "PERSONNES_RISQUE"  # the person-level frame the aggregation reads; never written anywhere
# The planted model (per year, on the logit of the probability of at least one unplanned stay).
INTERCEPT = -3.6
EFFECTS = {"age_per_10_years": 0.25, "ald": 0.8, "log1p_prior_stays": 0.6, "drug_classes": 0.06,
           "apl_per_unit": -0.12, "frailty": 0.7}
APL_REFERENCE = 3.5


# The model card's text (the steering page is Model 2's card).
INTENDED = ("Pilotage territorial : repérer les communes, départements et tranches d'âge où les hospitalisations non "
            "programmées attendues sont nombreuses, et comparer l'attendu à l'observé pour orienter l'offre de soins "
            "de premier recours.")
NOT_INTENDED = ("Aucun usage individuel : le modèle ne produit ni ne publie de liste de personnes, nominative ou "
                "pseudonyme, et ne sert pas à cibler, trier ou contacter des patients.")
LIMITS = ("Population synthétique sur les communes de l'entrepôt : l'entrepôt ne contient qu'une année de soins et "
          "pas de table des affections de longue durée, si bien que le modèle n'est pas encore appris sur ses "
          "données. Les séjours ne distinguent pas l'hospitalisation programmée de la non programmée ; le "
          "générateur ne produit que des séjours non programmés. Les cellules de moins de 11 personnes, et celles "
          "qui permettraient de les retrouver, sont masquées ; les sous-groupes ayant un groupe de moins de 11 "
          "personnes ou événements ne sont pas affichés.")


@dataclass(frozen=True)
class Population:
    """Persons over three years: ``stays[:, t]`` unplanned stays in year t, ``drugs[:, t]`` drug classes."""

    commune: np.ndarray
    departement: np.ndarray
    age: np.ndarray  # in year 0
    female: np.ndarray
    ald: np.ndarray  # (persons, 3)
    stays: np.ndarray  # (persons, 3)
    drugs: np.ndarray  # (persons, 3)
    apl: np.ndarray  # of the person's commune


def generate(communes: pd.DataFrame, persons: int, *, seed: int = 0, years: int = 3) -> Population:
    """The documented data-generating process (module docstring; docs/predict.md, Model 2)."""
    rng = np.random.default_rng(seed)
    weights = communes["population"].to_numpy(dtype=float)
    where = rng.choice(len(communes), persons, p=weights / weights.sum())
    commune_apl = np.clip(rng.lognormal(np.log(APL_REFERENCE), 0.35, len(communes)), 0.5, 8.0)
    age = np.clip(rng.gamma(4.0, 11.0, persons), 0, 100).round()
    female = rng.random(persons) < 0.52
    frailty = rng.normal(0.0, 1.0, persons)
    ald_logit = -3.0 + 0.045 * age + 0.8 * frailty
    ald = np.zeros((persons, years), dtype=np.int8)
    stays = np.zeros((persons, years), dtype=np.int16)
    drugs = np.zeros((persons, years), dtype=np.int16)
    apl = commune_apl[where]
    for t in range(years):
        if t == 0:
            ald[:, 0] = rng.random(persons) < 1 / (1 + np.exp(-ald_logit))
        else:  # a condition once declared stays; new ones appear with age
            ald[:, t] = ald[:, t - 1] | (rng.random(persons) < 0.02 * (1 + age / 50))
        drugs[:, t] = rng.poisson(0.4 + 1.8 * ald[:, t] + (age + t) / 40 + 0.5 * np.maximum(frailty, 0))
        prior = stays[:, t - 1] if t else rng.poisson(0.08 * (1 + ald[:, 0] + np.maximum(frailty, 0)))
        logit = (INTERCEPT + EFFECTS["age_per_10_years"] * (age + t - 50) / 10 + EFFECTS["ald"] * ald[:, t]
                 + EFFECTS["log1p_prior_stays"] * np.log1p(prior) + EFFECTS["drug_classes"] * drugs[:, t]
                 + EFFECTS["apl_per_unit"] * (apl - APL_REFERENCE) + EFFECTS["frailty"] * frailty)
        p = 1 / (1 + np.exp(-logit))
        hospitalised = rng.random(persons) < p
        stays[:, t] = hospitalised * (1 + rng.poisson(0.3, persons))
    return Population(communes["code_insee"].to_numpy()[where], communes["departement"].to_numpy()[where],
                      age, female, ald, stays, drugs, apl)


def person_years(population: Population, year: int) -> tuple[pipeline.Dataset, pd.DataFrame]:
    """Features of ``year``, outcome: at least one unplanned stay in ``year + 1``; with the person's commune and
    age band for the aggregates (kept with the frame, never published row by row)."""
    age = population.age + year
    X = np.column_stack([age, population.female, population.ald[:, year], population.stays[:, year],
                         population.drugs[:, year], population.apl]).astype(float)
    y = (population.stays[:, year + 1] > 0).astype(np.int8)
    bands = _bands(age)
    data = pipeline.Dataset(X=X, y=y, day=np.full(len(y), year), patient=np.arange(len(y)), age_band=bands,
                            sex=np.where(population.female, "F", "M"), rule=None, features=FEATURES)
    places = pd.DataFrame({"commune": population.commune, "departement": population.departement,
                           "tranche_age": bands})
    return data, places


def _bands(age: np.ndarray) -> np.ndarray:
    labels = ind.age_band_labels(AGE_BOUNDS)
    return np.array(labels, dtype=object)[np.searchsorted(np.array(AGE_BOUNDS[1:]), age, side="right")]


# -- the published aggregates ----------------------------------------------------------------------------------

def build_aggregates(tables: Any, params: dict[str, Any]) -> ir.Table:
    """Persons, observed and expected hospitalisations by commune, département, territory and age band (all ages
    included), from the scored person-years: one aggregation over the levels (``indicators.expand_levels``)."""
    people = tables[TABLE]
    levels = ind.expand_levels(people, age=True)
    out = levels.group_by(["niveau_geo", "code_geo", "tranche_age"]).aggregate(
        personnes=levels.count(), hospitalises=levels.hospitalise.sum(), attendus=levels.risque.sum())
    return out.mutate(taux_observe=out.hospitalises / out.personnes, risque_moyen=out.attendus / out.personnes,
                      attendus_sur_observes=ibis.ifelse(out.hospitalises > 0, out.attendus / out.hospitalises,
                                                        ibis.null()))


AGGREGATES = ind.Indicator(
    code="hospitalisation-12-mois",
    label="Risque d'hospitalisation non programmée à 12 mois (modèle 2)",
    description="Personnes, hospitalisations observées et attendues par le modèle, risque moyen prédit, par "
                "commune, département et tranche d'âge. Cellules de moins de 11 personnes masquées.",
    unit="personnes",
    version="1.0",
    measures=(
        ind.Measure("personnes", "Personnes", "personnes", "patients"),
        ind.Measure("hospitalises", "Hospitalisées dans l'année (observé)", "personnes", "patients"),
        ind.Measure("attendus", "Hospitalisations attendues (modèle)", "personnes", "ratio", 1),
        ind.Measure("taux_observe", "Part hospitalisée (observé)", "proportion", "ratio", 4),
        ind.Measure("risque_moyen", "Risque moyen prédit", "proportion", "ratio", 4),
        ind.Measure("attendus_sur_observes", "Attendus / observés", "rapport", "ratio", 2),
    ),
    dimensions=("geo", "age"),
    parameters=(),
    build=build_aggregates,
    tables=(TABLE,),
    patients=("personnes", "hospitalises"),
    main_measure="risque_moyen",
    relations=((("hospitalises",), ("personnes",), 1.0),),
)


def aggregate(places: pd.DataFrame, y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """The raw (ungated) aggregates; the caller publishes them through the gate and keeps nothing else."""
    people = places.assign(hospitalise=y.astype(np.int64), risque=p.astype(float))
    frame = build_aggregates({TABLE: ibis.memtable(people)}, {}).to_pandas()
    return ind.finalise(AGGREGATES, frame)


def gated_aggregates(places: pd.DataFrame, y: np.ndarray, p: np.ndarray, geo_parent: dict[str, str],
                     config: GateConfig | None = None) -> GatedTable:
    return publish(AGGREGATES, aggregate(places, y, p), config=config, geo_parent=geo_parent)


@dataclass(frozen=True)
class Result:
    metrics: dict[str, Any]
    gated: GatedTable
    model: pipeline.TrainedModel
    persons: int


def run(communes: pd.DataFrame, persons: int, *, seed: int = 0, rounds: int = pipeline.BOOTSTRAP,
        grid: dict[str, list[Any]] | None = None, config: GateConfig | None = None) -> Result:
    """Generate, train on year 1 → 2, evaluate on year 2 → 3, and publish the test year's aggregates gated."""
    population = generate(communes, persons, seed=seed)
    train_rows, _ = person_years(population, 0)
    test_rows, places = person_years(population, 1)
    model = pipeline.train(train_rows, seed=seed, temporal=False, grid=grid)
    metrics = pipeline.evaluate(model, test_rows, seed=seed, rounds=rounds)
    p = model.predict(test_rows.X)
    parents = dict(zip(communes["code_insee"], communes["departement"], strict=True))
    gated = gated_aggregates(places, test_rows.y, p, parents, config)
    return Result(metrics, gated, model, persons)


def published_rows(gated: GatedTable) -> list[dict[str, Any]]:
    """The gated table as JSON-ready rows (masked values as None): what is stored and shown, nothing else."""
    frame = gated.frame.astype(object)
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def gated_subgroups(subgroups: list[dict[str, Any]], threshold: int) -> list[dict[str, Any]]:
    """The evaluation's subgroup table under the same rule: an attribute (age band, sex) whose groups do not all
    count at least ``threshold`` persons and events is left out whole (one small group and the total would give it
    back)."""
    small = {g["attribute"] for g in subgroups if min(g["n"], g["events"]) < threshold}
    return [g for g in subgroups if g["attribute"] not in small]
