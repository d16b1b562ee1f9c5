"""The programme's part of the demo: the seed's four axes, projects with budgets, milestones and 2026 targets,
written by the programme manager (the history names him), read by the GHT direction."""

from __future__ import annotations

import datetime as dt

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.programme import service


class TestDemoProgramme:
    def test_the_demo_territory_has_a_programme_with_targets_and_its_two_accounts(self, db):
        demo.build_demo(db, "87", 1)
        direction = auth.actor_for(db, auth.get_user(db, "direction.lambert"))
        seen = service.programme(db, direction)
        assert len(seen.axes) == 4 and all(seen.of_axis(a.id) for a in seen.axes)
        assert seen.total("planned_cents", 2026) == 95_000_000
        rows = [(i.indicator.label, i.year(2026)) for _, i in seen.indicators]
        assert len(rows) == 7 and all(year is not None for _, year in rows)
        assert {i.indicator.catalogue_code for _, i in seen.indicators} >= {"teleexpertise-reponses",
                                                                               "telesurveillance", None}
        history = service.history(db, direction)
        assert history and {c.actor_name for c in history} == {"Thomas Girard (chef de programme numérique)"}
        assert service.watch(db, direction, dt.date(2026, 12, 7)).late == 1
