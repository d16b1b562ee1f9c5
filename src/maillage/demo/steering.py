"""The steering board's demo data: a year of SYNTHETIC telemedicine activity of the demo's sites, and a synthetic
telesurveillance cohort with its hospital stays, added to the demo warehouse beside what the extraction copied.

The demo's operational database holds a few weeks of activity: extracted alone, nearly every cell of the board is
under the small-cell threshold and shows « secret ». This module adds, for the current year up to today, acts of
every site of the demo territory (its name and partner type as the extraction writes them), so that the charts and
their tables show numbers; the gate still applies to every figure. The rows are marked synthetic in the Parquet
metadata (``DONNÉES SYNTHÉTIQUES``) and their pseudonyms are not those of any extracted patient. A new extraction
replaces the activity table: ``maillage demo`` adds the history again.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from maillage.analytics import activity
from maillage.analytics.extract import PSEUDONYM_COLUMN
from maillage.analytics.warehouse import Warehouse
from maillage.demo import hospital_stays
from maillage.demo.territory_plan import TerritoryPlan

ACTS_PER_YEAR = 14_000
COHORT_PATIENTS = 600
# Relative volume of a site, and its modality mix (tele-expertise, teleconsultation, telesurveillance), by type.
WEIGHT = {"support_hospital": 8.0, "member_hospital": 4.0, "city_practice": 1.0, "ehpad": 1.5, "usmp": 1.0,
          "pharmacy": 0.6, "other": 0.3}
MIX = {"support_hospital": (0.4, 0.3, 0.3), "member_hospital": (0.45, 0.3, 0.25), "city_practice": (0.6, 0.4, 0.0),
       "ehpad": (0.6, 0.4, 0.0), "usmp": (0.5, 0.5, 0.0), "pharmacy": (0.3, 0.7, 0.0), "other": (0.5, 0.5, 0.0)}
ORIENTATIONS = ("advice_only", "act_relevant", "teleconsultation", "consultation", "scheduled_hospitalisation",
                "urgent_transfer")
ORIENTATION_SHARES = (0.45, 0.12, 0.08, 0.22, 0.08, 0.05)


# The gate's work grows faster than the site table: a few sites of each partner type show the board, and three is
# the least that keeps a partner type's cells publishable (no cell may be one or two sites' activity).
SITES_PER_TYPE = 3


def demo_sites(plan: TerritoryPlan) -> list[tuple[str, str]]:
    """(name, partner type) of the first ``SITES_PER_TYPE`` establishments of each partner type of the plan, as the
    activity extract names them."""
    chosen: list[tuple[str, str]] = []
    for e in plan.establishments:
        kind = activity.partner_type(e.kind.value, e.ght_role.value if e.ght_role else None)
        if sum(1 for _, k in chosen if k == kind) < SITES_PER_TYPE:
            chosen.append((e.name, kind))
    return chosen


def activity_history(sites: list[tuple[str, str]], communes: list[str], today: dt.date, acts: int = ACTS_PER_YEAR,
                     seed: int = 24) -> pa.Table:
    """Synthetic acts of ``sites`` from 1 January of ``today``'s year to ``today``, in the extract's schema; each
    patient lives in one of ``communes`` (drawn as given: repeat a commune to weigh it)."""
    rng = np.random.default_rng(seed)
    weights = np.array([WEIGHT[kind] for _, kind in sites])
    site = rng.choice(len(sites), acts, p=weights / weights.sum())
    days = rng.integers(0, (today - dt.date(today.year, 1, 1)).days + 1, acts)
    rows: dict[str, list[object]] = {name: [] for name in activity.ACTIVITY_SCHEMA.names}
    for n in range(acts):
        name, kind = sites[int(site[n])]
        modality = ("te", "tc", "ts")[int(rng.choice(3, p=MIX[kind]))]
        answered = modality == "te" and bool(rng.random() < 0.9)
        patient = int(rng.integers(0, acts // 3))
        rows[PSEUDONYM_COLUMN].append(f"SYNACT{patient:08d}")
        rows["commune_residence"].append(communes[patient % len(communes)])
        rows["site"].append(name)
        rows["type_partenaire"].append(kind)
        rows["modalite"].append(modality)
        rows["date_acte"].append(dt.date(today.year, 1, 1) + dt.timedelta(days=int(days[n])))
        rows["repondue"].append(answered if modality == "te" else None)
        rows["delai_reponse_minutes"].append(int(rng.integers(20, 4 * 24 * 60)) if answered else None)
        rows["orientation"].append(str(rng.choice(ORIENTATIONS, p=ORIENTATION_SHARES)) if answered else None)
    return pa.table(rows, schema=activity.ACTIVITY_SCHEMA)


def add_demo_steering_data(warehouse: Warehouse, plan: TerritoryPlan, today: dt.date, care_year: int) -> None:
    """Add the synthetic activity history (a new part of the activity table) and the telesurveillance cohort
    enrolled in ``care_year - 1`` with its stays (followed through ``care_year``) to the demo warehouse."""
    communes = warehouse.read_table("COMMUNES").to_pandas().sort_values("population", ascending=False)
    # Communes drawn in proportion to their population (the 30 largest), as patients are.
    largest = communes.head(30)
    shares = (largest.population / largest.population.sum() * 100).round().astype(int).clip(lower=1)
    drawn = [code for code, share in zip(largest.code_insee, shares, strict=True) for _ in range(share)]
    folder = warehouse.table_dir(activity.ACTIVITY_TABLE)
    part = len(list(folder.glob("*.parquet"))) if folder.is_dir() else 0
    warehouse.write_part(activity.ACTIVITY_TABLE, part,
                         activity_history(demo_sites(plan), drawn, today, seed=plan.seed), synthetic=True)
    stays, matching = hospital_stays.synthetic_cohort(drawn, care_year - 1, COHORT_PATIENTS, seed=plan.seed)
    hospital_stays.write(warehouse, stays, matching)
