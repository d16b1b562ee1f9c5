"""The steering board's demo data (``demo.steering``): with the synthetic year of activity and the telesurveillance
cohort, the board's charts and the hospital-stay outcomes show numbers for the demo territory, not « secret »."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from maillage.analytics import activity, engines, outcomes, service
from maillage.analytics.board import board
from maillage.analytics.gate import GateConfig
from maillage.analytics.indicators import TOTAL
from maillage.analytics.warehouse import Warehouse
from maillage.demo.analytics import CARE_YEAR
from maillage.demo.steering import add_demo_steering_data, demo_sites
from tests.demo.test_analytics import demo_warehouse, lozere  # noqa: F401 - fixtures

TODAY = dt.date(2026, 12, 7)


@pytest.fixture(scope="module")
def steering(demo_warehouse, lozere, tmp_path_factory):  # noqa: F811
    warehouse = Warehouse(tmp_path_factory.mktemp("demo-steering") / "warehouse")
    shutil.copytree(demo_warehouse.tables_dir, warehouse.tables_dir)
    add_demo_steering_data(warehouse, lozere, TODAY, CARE_YEAR)
    service.refresh_results(warehouse, engines.EngineConfig(name="duckdb"), GateConfig(), codes=[
        activity.BY_PARTNER.code, activity.BY_SITE.code, "rehospitalisations-ic", "hospitalisations-telesurveillance"])
    return warehouse


def test_every_site_of_the_territory_has_a_partner_type(lozere):  # noqa: F811
    kinds = {kind for _, kind in demo_sites(lozere)}
    assert {"support_hospital", "ehpad", "city_practice"} <= kinds and "other" not in kinds


def test_the_board_shows_numbers_for_every_modality_and_the_sites(steering):
    shown = board(steering, engines.EngineConfig(name="duckdb"), GateConfig(), "", TOTAL)
    assert shown.provenance.parameters["annee"] == TODAY.year
    cells = [c for f in shown.figures for r in f.rows for c in r[1:]]
    assert cells.count("secret") < len(cells) / 4
    for figure in shown.figures[:3]:  # the three modalities, month by month
        assert sum(r[1] != "secret" for r in figure.rows) >= 6, figure.title


def test_the_hospital_stay_outcomes_show_numbers(steering):
    tables = outcomes.outcome_tables(steering, GateConfig(), TODAY.year)
    assert [(t.code, t.year) for t in tables] == [("rehospitalisations-ic", CARE_YEAR),
                                                  ("hospitalisations-telesurveillance", CARE_YEAR - 1)]
    for table in tables:
        territory = next(r for r in table.rows if r[0] in ("Territoire", "Ensemble"))
        assert "secret" not in territory, table.code
