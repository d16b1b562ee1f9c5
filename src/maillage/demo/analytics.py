"""The demo's analytics: a year of SYNTHETIC claims for the demo's département, the demo's own activity extracted,
every indicator computed and gated, so that the analyst's pages open on figures and read stored results.

The claims cover the département only (its real communes and populations), one synthetic beneficiary per
inhabitant (a sample of 400,000 in the most populous départements) and 18 care lines each a year (the national
rate), so that commune figures are large enough to pass the small-cell gate where a real département's would. The
general practitioners work in group practices of at least three, one of them in each commune where the demo's
directory has a GP practice: the APL then counts them, and the professional rule of the gate (no figure that shows
one or two doctors' activity) masks nothing it would not have to. Same département and seed, same claims and same
figures.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field

from maillage.analytics import catalogue, engines, extract, service
from maillage.analytics.communes import load_real_communes
from maillage.analytics.indicators import CURRENT_YEAR_DEFAULT
from maillage.analytics.warehouse import Warehouse
from maillage.demo.claims import LINES_PER_BENEFICIARY, MAX_ROWS, MIN_ROWS, GenerationReport, generate_claims
from maillage.demo.steering import add_demo_steering_data
from maillage.demo.territory_plan import TerritoryPlan
from maillage.directory import rules as directory_rules
from maillage.kit.clock import now
from maillage.kit.db import make_engine, make_sessionmaker

CARE_YEAR = CURRENT_YEAR_DEFAULT
GP_GROUP = 3  # the professional threshold of the gate: a group practice shows no one doctor's activity
CHUNK_ROWS = 1_000_000  # bounded memory: about 0.7 GB at the peak
# One beneficiary per inhabitant up to this many (Haute-Vienne has 373,167); a larger département gets a sample of
# this size spread by population, so that the demo stays within a minute and a gigabyte (Nord: 2.6 M inhabitants).
MAX_BENEFICIARIES = 400_000


@dataclass(frozen=True)
class DemoAnalytics:
    departement: str
    care_year: int
    communes: int
    claim_lines: int
    beneficiaries: int
    indicators: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)


def claim_rows(population: int) -> int:
    """A year of care lines for ``population`` inhabitants (at most ``MAX_BENEFICIARIES``), within the generator's
    bounds."""
    return max(MIN_ROWS, min(MAX_ROWS, min(population, MAX_BENEFICIARIES) * LINES_PER_BENEFICIARY))


def gp_practice_communes(plan: TerritoryPlan) -> tuple[str, ...]:
    """The communes where the demo's directory places a general practitioner in a city practice."""
    city = {directory_rules.EstablishmentKind.CITY_PRACTICE, directory_rules.EstablishmentKind.HEALTH_CENTRE}
    found = {plan.establishment(p.establishment_key).commune.insee for p in plan.professionals
             if p.specialty_code == "SM54" and plan.establishment(p.establishment_key).kind in city}
    return tuple(sorted(found))


def fill_claims(warehouse: Warehouse, plan: TerritoryPlan) -> tuple[int, GenerationReport]:
    """Replace the warehouse's content by a year of synthetic claims for the département of ``plan``; returns the
    number of communes and the generator's report."""
    for folder in (warehouse.tables_dir, warehouse.results_dir):
        if folder.exists():
            shutil.rmtree(folder)
    communes = load_real_communes(plan.departement.code)
    rows = claim_rows(int(communes["population"].sum()))
    report = generate_claims(warehouse, communes, rows=rows, seed=plan.seed, year=CARE_YEAR,
                             chunk_rows=CHUNK_ROWS, territory=plan.departement.code, gp_group=GP_GROUP,
                             practice_communes=gp_practice_communes(plan))
    return len(communes), report


def _train_population_model(database_url: str, warehouse: Warehouse, seed: int) -> None:
    """Model 2 on the territory's communes (``demo.predict``), stored in the operational database."""
    from maillage.demo.predict import seed_demo_population

    engine = make_engine(database_url, pool=False)
    try:
        with make_sessionmaker(engine)() as session:
            seed_demo_population(session, warehouse.read_table("COMMUNES").to_pandas(), seed)
            session.commit()
    finally:
        engine.dispose()


def build_demo_analytics(database_url: str, warehouse: Warehouse, plan: TerritoryPlan) -> DemoAnalytics:
    """Fill ``warehouse`` for the demo territory of ``plan`` (its département and seed), replacing what it held:
    the claims, then the demo's activity read from the operational database at ``database_url`` (on a read-only
    connection, like ``maillage analytics extract``), then every indicator computed, stored and gated."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    communes, report = fill_claims(warehouse, plan)
    seconds["claims"] = time.perf_counter() - started
    mark = time.perf_counter()
    extract.extract_from_database(database_url, warehouse, extractors=catalogue.EXTRACTORS,
                                  objection_sources=catalogue.OBJECTION_SOURCES)
    add_demo_steering_data(warehouse, plan, now().date(), CARE_YEAR)
    seconds["extract"] = time.perf_counter() - mark
    mark = time.perf_counter()
    done = service.refresh_results(warehouse, engines.config_from_settings())
    seconds["indicators"] = time.perf_counter() - mark
    mark = time.perf_counter()
    _train_population_model(database_url, warehouse, plan.seed)
    seconds["population_model"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    return DemoAnalytics(departement=plan.departement.code, care_year=CARE_YEAR, communes=communes,
                         claim_lines=report.rows, beneficiaries=report.beneficiaries,
                         indicators=tuple(sorted(done)), seconds=seconds)
