"""Steering board and evaluation report: board p95 from stored results, report generation time.

    .venv/bin/python benchmarks/steering.py                        # reduced: 200,000 acts, 40 sites
    .venv/bin/python benchmarks/steering.py --acts 5000000 --sites 400   # a year of a large region's activity

A synthetic year of telemedicine activity (``OP_ACTIVITE_TELEMEDECINE``: acts by site, partner type and modality)
is written to a scratch warehouse; the two activity indicators are computed and gated once (stored, as the demo and
``maillage analytics`` do); then the board's figures are built ``--repeat`` times from the stored gated results
(``board.board``: what ``/pilotage/activite`` does per request once the caller is known, without HTTP; the
first request of a process reads the stored results, the next ones find them in memory) and the evaluation
report (PDF + CSV bundle) is written for a programme of 20 projects. Floors: board p95 < 300 ms, report < 60 s.
The national claims (100 M lines, see benchmarks/analytics.py) are not part of this run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import cpu_model, loadavg  # noqa: E402

from maillage.analytics import activity, engines, service, stored  # noqa: E402
from maillage.analytics.board import board  # noqa: E402
from maillage.analytics.extract import PSEUDONYM_COLUMN  # noqa: E402
from maillage.analytics.gate import GateConfig  # noqa: E402
from maillage.analytics.indicators import TOTAL  # noqa: E402
from maillage.analytics.warehouse import Warehouse  # noqa: E402
from maillage.models.programme import (  # noqa: E402
    ProgrammeAxis,
    ProgrammeBudgetLine,
    ProgrammeIndicator,
    ProgrammeIndicatorYear,
    ProgrammeProject,
)
from maillage.programme import report  # noqa: E402
from maillage.programme.service import IndicatorView, Programme, ProjectView  # noqa: E402

YEAR = 2026


def synthetic_activity(acts: int, sites: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    types = list(activity.PARTNER_TYPES)[:-1]
    site_type = [types[i % len(types)] for i in range(sites)]
    site = rng.integers(0, sites, acts)
    modality = rng.choice(["te", "tc", "ts"], acts, p=[0.5, 0.35, 0.15])
    days = rng.integers(0, 365, acts)
    answered = (modality == "te") & (rng.random(acts) < 0.9)
    orientation = np.where(answered, rng.choice(["advice_only", "act_relevant", "consultation", "urgent_transfer"],
                                                acts, p=[0.5, 0.2, 0.25, 0.05]), None)
    return pa.table({
        PSEUDONYM_COLUMN: [f"p{n}" for n in rng.integers(0, max(1, acts // 3), acts)],
        "site": [f"Site {s:04d}" for s in site],
        "type_partenaire": [site_type[s] for s in site],
        "modalite": modality.tolist(),
        "date_acte": [dt.date(YEAR, 1, 1) + dt.timedelta(days=int(d)) for d in days],
        "repondue": np.where(modality == "te", answered, None).tolist(),
        "delai_reponse_minutes": np.where(answered, rng.integers(10, 4000, acts), None).tolist(),
        "orientation": orientation.tolist(),
        "commune_residence": [f"{87000 + c:05d}" for c in rng.integers(1, 200, acts)],
    }, schema=activity.ACTIVITY_SCHEMA)


def programme(projects: int) -> Programme:
    axes = [ProgrammeAxis(id=uuid.uuid4(), position=i, title=f"Axe {i}", description="") for i in range(4)]
    views = []
    for i in range(projects):
        p = ProgrammeProject(id=uuid.uuid4(), axis_id=axes[i % 4].id, title=f"Projet {i}", owner="Direction",
                             sites=[], starts_on=dt.date(YEAR, 1, 1), ends_on=dt.date(YEAR + 1, 12, 31))
        ind = ProgrammeIndicator(id=uuid.uuid4(), project_id=p.id, label=f"Actes {i}", unit="actes",
                                 catalogue_code="activite-partenaires", measure="actes")
        views.append(ProjectView(p, budget=[ProgrammeBudgetLine(project_id=p.id, year=YEAR, planned_cents=10_000_000,
                                                                committed_cents=5_000_000, paid_cents=1_000_000)],
                                 indicators=[IndicatorView(ind, [ProgrammeIndicatorYear(
                                     indicator_id=ind.id, year=YEAR, target=Decimal("1000"))])]))
    return Programme(axes=axes, projects=views)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--acts", type=int, default=200_000)
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    print(f"Machine: {cpu_model()}, load average {loadavg()}; acts={args.acts:,} sites={args.sites}")
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(Path(tmp))
        warehouse.reset_table(activity.ACTIVITY_TABLE)
        warehouse.write_part(activity.ACTIVITY_TABLE, 0, synthetic_activity(args.acts, args.sites), synthetic=True)
        gate, config = GateConfig(), engines.EngineConfig()
        mark = time.perf_counter()
        for code in (activity.BY_PARTNER.code, activity.BY_SITE.code):
            service.gated_result(warehouse, service.run_indicator(code, {"annee": YEAR}, warehouse, config), gate)
        print(f"compute + gate, stored once: {time.perf_counter() - mark:.1f} s")
        stored.clear()
        start = time.perf_counter()
        board(warehouse, config, gate, "", "ehpad")
        print(f"board, first request of a process (reads the stored results): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
        timings = []
        partners = [TOTAL, *list(activity.PARTNER_TYPES)[:-1]]
        for n in range(args.repeat):
            start = time.perf_counter()
            board(warehouse, config, gate, "", partners[n % len(partners)])
            timings.append(time.perf_counter() - start)
        p95 = float(np.percentile(timings, 95)) * 1000
        print(f"board from stored results: p50 {np.median(timings) * 1000:.0f} ms, p95 {p95:.0f} ms "
              f"(floor 300 ms: {'met' if p95 < 300 else 'NOT met'})")
        start = time.perf_counter()
        plan = programme(20)
        report.pdf(plan, YEAR, warehouse, gate)
        report.csv_bundle(plan, YEAR, warehouse, gate)
        seconds = time.perf_counter() - start
        print(f"report (PDF + CSV, 20 projects): {seconds:.2f} s (floor 60 s: {'met' if seconds < 60 else 'NOT met'})")


if __name__ == "__main__":
    main()
