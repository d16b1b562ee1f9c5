"""Scores order the worklist within a colour only: a red alert of the rule is never placed below a score, and no
alert is dropped (issue 25; DOMAIN.md §3.1: the mandatory alerts cannot be disabled)."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

from maillage.monitoring.service import order_by_risk

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def alert(minutes: int) -> SimpleNamespace:
    return SimpleNamespace(id=uuid.uuid4(), enrolment_id=uuid.uuid4(), opened_at=T0 + dt.timedelta(minutes=minutes))


class TestOrderByRisk:
    def test_a_red_alert_without_score_stays_above_an_orange_alert_at_high_risk(self):
        red, orange = alert(0), alert(1)
        scores = {orange.enrolment_id: SimpleNamespace(probability=0.9)}
        groups = order_by_risk({"red": [red], "orange": [orange], "missing": [], "green": []}, scores)  # type: ignore[dict-item]
        assert list(groups) == ["red", "orange", "missing", "green"]
        assert groups["red"] == [red] and groups["orange"] == [orange]

    def test_within_a_colour_the_highest_risk_comes_first_then_the_unscored(self):
        low, high, none = alert(0), alert(1), alert(2)
        scores = {low.enrolment_id: SimpleNamespace(probability=0.02),
                  high.enrolment_id: SimpleNamespace(probability=0.3)}
        groups = order_by_risk({"red": [low, none, high]}, scores)  # type: ignore[dict-item]
        assert groups["red"] == [high, low, none]

    def test_no_alert_is_dropped(self):
        items = [alert(i) for i in range(5)]
        groups = order_by_risk({"red": items[:2], "orange": items[2:]}, {})  # type: ignore[dict-item]
        assert sorted(a.id for g in groups.values() for a in g) == sorted(a.id for a in items)
