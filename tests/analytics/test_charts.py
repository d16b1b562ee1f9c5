"""Server-side SVG: escaped texts, masked values drawn as secret, French numbers."""

from __future__ import annotations

import math

from maillage.analytics import charts


class TestFrNumber:
    def test_uses_a_decimal_comma_and_thin_spaces(self):
        assert charts.fr_number(12345.678, 2) == "12\u202f345,68"

    def test_a_missing_value_is_a_dash(self):
        assert charts.fr_number(None) == "—" and charts.fr_number(math.nan) == "—"


class TestBarChart:
    def test_masked_values_are_drawn_as_secret_not_as_zero(self):
        svg = str(charts.bar_chart("Titre", [charts.Bar("A", 3.0), charts.Bar("B", None)], "actes"))
        assert "secret" in svg and "3,0" in svg and svg.count("<rect") == 3  # A, the hatch pattern, B

    def test_labels_are_escaped(self):
        svg = str(charts.bar_chart("<script>", [charts.Bar("<b>x</b>", 1.0)], "u"))
        assert "<script>" not in svg and "&lt;b&gt;" in svg


class TestLineChart:
    def test_a_masked_month_breaks_the_line(self):
        svg = str(charts.line_chart("Série", ["2025-01", "2025-02", "2025-03", "2025-04"], [1.0, 2.0, None, 3.0],
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
