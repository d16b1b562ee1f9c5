"""Communes for the warehouse: the directory's real data, or a synthetic territory."""

from __future__ import annotations

import pandas as pd
import pytest

from maillage.analytics import communes
from maillage.exceptions import ValidationFailed


class TestLoadRealCommunes:
    def test_reads_the_directory_file_in_the_warehouse_columns(self):
        frame = communes.load_real_communes("2A")
        assert list(frame.columns) == communes.COLUMNS
        assert set(frame.departement) == {"2A"} and frame.code_insee.str.startswith("2A").all()


class TestNormaliseCommunes:
    def test_renames_aliases_and_drops_communes_without_coordinates(self):
        raw = pd.DataFrame({"insee": ["01001", "01002"], "name": ["A", "B"], "departement": ["01", "01"],
                            "population": [10, 20], "latitude": [46.0, None], "longitude": [5.0, 5.0]})
        assert communes.normalise_communes(raw).code_insee.tolist() == ["01001"]

    def test_duplicate_codes_are_refused(self):
        raw = pd.DataFrame({"code_insee": ["01001", "01001"], "nom": ["A", "B"], "departement": ["01", "01"],
                            "population": [10, 20], "latitude": [46.0, 46.1], "longitude": [5.0, 5.0]})
        with pytest.raises(ValidationFailed, match="double"):
            communes.normalise_communes(raw)

    def test_missing_columns_are_named(self):
        with pytest.raises(ValidationFailed, match="population"):
            communes.normalise_communes(pd.DataFrame({"code_insee": ["01001"]}))


class TestSyntheticCommunes:
    def test_builds_unique_valid_looking_codes_and_fictitious_names(self):
        frame = communes.synthetic_communes(500, seed=1)
        assert frame.code_insee.is_unique and frame.code_insee.str.fullmatch(r"\d{5}").all()
        assert frame.nom.str.startswith("Commune synthétique").all() and (frame.population > 0).all()

    def test_is_reproducible(self):
        pd.testing.assert_frame_equal(communes.synthetic_communes(50, seed=4), communes.synthetic_communes(50, seed=4))

    def test_needs_at_least_one_commune(self):
        with pytest.raises(ValidationFailed):
            communes.synthetic_communes(0)


class TestDepartementOutlines:
    def test_every_commune_lies_inside_its_departements_outline(self):
        import shapely

        from maillage.analytics.communes import departement_outlines

        territory = communes.synthetic_communes(120, seed=5, departements=2)
        outlines = departement_outlines(territory)
        assert set(outlines) == set(territory.departement)
        for dep, rings in outlines.items():
            shape = shapely.union_all([shapely.Polygon([(lon, lat) for lat, lon in ring]) for ring in rings])
            inside = territory[territory.departement == dep]
            assert all(shape.contains(shapely.Point(lon, lat)) for lat, lon in zip(inside.latitude, inside.longitude,
                                                                                    strict=True))

    def test_the_map_draws_the_outline_beneath_the_communes(self):
        from maillage.analytics.communes import departement_outlines
        from maillage.kit import charts

        territory = communes.synthetic_communes(30, seed=2, departements=1)
        points = [charts.MapPoint(r.code_insee, r.nom, r.latitude, r.longitude, int(r.population), 3.0)
                  for r in territory.itertuples()]
        svg = str(charts.commune_map("APL", points, [2.5, 3, 3.5, 4, 5], "u", outlines=departement_outlines(territory)))
        assert svg.count('class="departement"') == 1 and svg.index("<polygon") < svg.index("<circle")
        assert "contour approché" in svg
