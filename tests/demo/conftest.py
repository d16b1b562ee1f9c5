"""Shared demo fixtures: the Haute-Vienne territory of seed 1, planned once per module."""

from __future__ import annotations

import pytest

from maillage.demo import territory
from maillage.demo.territory_plan import TerritoryPlan


@pytest.fixture(scope="module")
def haute_vienne() -> TerritoryPlan:
    return territory.build_territory("87", 1)
