"""Server-drawn SVG curves."""

from __future__ import annotations

import datetime as dt

from maillage.monitoring.charts import _ticks, line_chart

UNTIL = dt.datetime(2026, 6, 14, 12, 0, tzinfo=dt.UTC)
SINCE = UNTIL - dt.timedelta(days=7)


class TestLineChart:
    def test_a_series_and_its_thresholds_are_drawn(self) -> None:
        points = [(UNTIL - dt.timedelta(days=d), 70.0 + d / 10) for d in range(6)]
        svg = str(line_chart("Poids", [("Poids", "s-main", points)], SINCE, UNTIL,
                             [("Poids sec + 2 kg", 72.0, "orange"), ("Poids sec", 70.0, "reference")], "kg"))
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert svg.count("<circle") == 6 and "<polyline" in svg
        assert svg.count('stroke-dasharray="6 4"') == 2 and "thr-orange" in svg and "thr-reference" in svg
        assert "style=" not in svg  # the content security policy forbids inline styles

    def test_labels_are_escaped(self) -> None:
        svg = str(line_chart("<script>", [("a<b", "s-main", [(UNTIL, 1.0)])], SINCE, UNTIL))
        assert "<script>" not in svg and "&lt;script&gt;" in svg

    def test_no_data_says_so(self) -> None:
        assert "Aucune mesure" in str(line_chart("Poids", [("Poids", "s-main", [])], SINCE, UNTIL))

    def test_points_outside_the_period_stay_inside_the_plot(self) -> None:
        svg = str(line_chart("Poids", [("Poids", "s-main", [(SINCE - dt.timedelta(days=3), 70.0)])], SINCE, UNTIL))
        assert 'cx="56.0"' in svg


class TestTicks:
    def test_round_steps_cover_the_range(self) -> None:
        ticks = _ticks(68.3, 74.9)
        assert ticks[0] >= 68.3 - 1e-9 and ticks[-1] <= 74.9 + 2 and len(ticks) >= 3
