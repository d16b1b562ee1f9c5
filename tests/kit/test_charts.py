"""Server-side SVG charts: escaped texts, masked values drawn as secret, French numbers, thresholds on a time axis."""

from __future__ import annotations

import datetime as dt

from maillage.kit import charts
from maillage.kit.charts import _ticks, time_chart


class TestBarChart:
    def test_masked_values_are_drawn_as_secret_not_as_zero(self):
        svg = str(charts.bar_chart("Titre", [charts.Bar("A", 3.0), charts.Bar("B", None)], "actes"))
        assert "secret" in svg and "3,0" in svg and svg.count("<rect") == 3  # A, the hatch pattern, B

    def test_labels_are_escaped(self):
        svg = str(charts.bar_chart("<script>", [charts.Bar("<b>x</b>", 1.0)], "u"))
        assert "<script>" not in svg and "&lt;b&gt;" in svg


class TestMonthlyChart:
    def test_a_masked_month_breaks_the_line(self):
        svg = str(charts.monthly_chart("Série", ["2025-01", "2025-02", "2025-03", "2025-04"], [1.0, 2.0, None, 3.0],
                                    "actes"))
        assert svg.count("<polyline") == 1 and "secret statistique" in svg


class TestCommuneMap:
    def test_draws_one_circle_per_commune_and_outlines_the_deserts(self):
        points = [charts.MapPoint("01001", "Un", 46.0, 5.0, 1000, 1.2, True),
                  charts.MapPoint("01002", "Deux", 46.1, 5.1, 200, 4.5, False)]
        svg = str(charts.commune_map("Carte", points, [2.5, 3.0, 3.5, 4.0, 5.0], "c/an"))
        assert svg.count("data-commune=") == 2 and 'stroke="#000"' in svg

    def test_colour_classes_follow_the_breaks(self):
        assert charts.colour_for(1.0, [2.5, 3.0]) == charts.PALETTE[0]
        assert charts.colour_for(2.7, [2.5, 3.0]) == charts.PALETTE[1]
        assert charts.colour_for(None, [2.5]) == "#cccccc"


UNTIL = dt.datetime(2026, 6, 14, 12, 0, tzinfo=dt.UTC)
SINCE = UNTIL - dt.timedelta(days=7)


class TestTimeChart:
    def test_a_series_and_its_thresholds_are_drawn(self) -> None:
        points = [(UNTIL - dt.timedelta(days=d), 70.0 + d / 10) for d in range(6)]
        svg = str(time_chart("Poids", [("Poids", "s-main", points)], SINCE, UNTIL,
                             [("Poids sec + 2 kg", 72.0, "orange"), ("Poids sec", 70.0, "reference")], "kg"))
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert svg.count("<circle") == 6 and "<polyline" in svg
        assert svg.count('stroke-dasharray="6 4"') == 2 and "thr-orange" in svg and "thr-reference" in svg
        assert "style=" not in svg  # the content security policy forbids inline styles

    def test_labels_are_escaped(self) -> None:
        svg = str(time_chart("<script>", [("a<b", "s-main", [(UNTIL, 1.0)])], SINCE, UNTIL))
        assert "<script>" not in svg and "&lt;script&gt;" in svg

    def test_no_data_says_so(self) -> None:
        assert "Aucune mesure" in str(time_chart("Poids", [("Poids", "s-main", [])], SINCE, UNTIL))

    def test_points_outside_the_period_stay_inside_the_plot(self) -> None:
        svg = str(time_chart("Poids", [("Poids", "s-main", [(SINCE - dt.timedelta(days=3), 70.0)])], SINCE, UNTIL))
        assert 'cx="56.0"' in svg


class TestTicks:
    def test_round_steps_cover_the_range(self) -> None:
        ticks = _ticks(68.3, 74.9)
        assert ticks[0] >= 68.3 - 1e-9 and ticks[-1] <= 74.9 + 2 and len(ticks) >= 3
