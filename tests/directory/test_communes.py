"""The communes data file and its loader (directory/communes.py, directory/data/).

Figures come from the source package @etalab/decoupage-administratif 6.0.0, as recorded in
src/maillage/directory/data/README.md when the file was built.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from maillage.directory import communes
from maillage.directory.communes import CoordinateSource, get_commune, load_communes, load_departements
from maillage.exceptions import ValidationFailed

# Sum of the populations the package carries for the communes of the metro and drom zones (data/README.md).
NATIONAL_POPULATION = 68_350_798
COMMUNE_COUNT = 34_875
# Rough bounding boxes (latitude, longitude) of mainland France with Corsica, and of each overseas département.
BOXES = {
    "metro": ((41.3, 51.1), (-5.2, 9.6)),
    "971": ((15.8, 16.6), (-61.9, -61.0)),
    "972": ((14.3, 14.9), (-61.3, -60.8)),
    "973": ((2.0, 5.8), (-54.7, -51.6)),
    "974": ((-21.4, -20.8), (55.2, 55.9)),
    "976": ((-13.1, -12.6), (44.9, 45.4)),
}


def box_for(departement: str):
    return BOXES.get(departement, BOXES["metro"])


class TestLoadCommunes:
    def test_every_current_commune_of_mainland_and_overseas_departements_is_there(self):
        """34 875 current communes of the metro and drom zones of the 2026 COG (package 6.0.0)."""
        assert len(load_communes()) == COMMUNE_COUNT
        assert len({c.insee for c in load_communes()}) == COMMUNE_COUNT

    def test_populations_sum_to_the_national_figure_of_the_package(self):
        """Sum of the package's commune populations, about 68.4 million (INSEE populations légales)."""
        assert sum(c.population for c in load_communes()) == NATIONAL_POPULATION

    def test_departement_populations_are_the_sums_of_their_communes(self):
        """departements.csv carries the sum of its communes' populations."""
        by_dep = Counter()
        for commune in load_communes():
            by_dep[commune.departement] += commune.population
        assert {d.code: d.population for d in load_departements()} == dict(by_dep)

    def test_codes_are_valid_cog_codes_consistent_with_their_departement(self):
        """INSEE code = département (2 characters, 2A/2B, or 97x overseas) + commune number (COG)."""
        departements = {d.code: d for d in load_departements()}
        for commune in load_communes():
            assert re.fullmatch(r"(?:\d{2}|2A|2B)\d{3}", commune.insee), commune
            assert commune.insee.startswith(commune.departement), commune
            assert commune.region == departements[commune.departement].region, commune
            assert commune.epci is None or re.fullmatch(r"\d{9}", commune.epci), commune
            assert commune.population >= 0

    def test_every_commune_has_coordinates_inside_its_part_of_france(self):
        """Coordinates come from GeoNames or from a centroid of matched communes, so they lie in the territory."""
        for commune in load_communes():
            (lat_min, lat_max), (lon_min, lon_max) = box_for(commune.departement)
            assert lat_min <= commune.latitude <= lat_max, commune
            assert lon_min <= commune.longitude <= lon_max, commune

    def test_the_share_matched_directly_is_the_one_documented(self):
        """data/README.md: 41.9 % of the communes and 90.3 % of the population matched in GeoNames."""
        items = load_communes()
        direct = [c for c in items if c.coordinate_source is CoordinateSource.GEONAMES]
        assert len(direct) / len(items) == pytest.approx(0.419, abs=0.001)
        assert sum(c.population for c in direct) / NATIONAL_POPULATION == pytest.approx(0.903, abs=0.001)

    def test_one_departement_is_returned_alone(self):
        """Filter by COG département code; Corse-du-Sud has 124 communes."""
        corse = load_communes("2a")
        assert len(corse) == 124
        assert {c.departement for c in corse} == {"2A"}

    def test_an_unknown_departement_is_refused_in_french(self):
        """Bad input gets a clear French error."""
        with pytest.raises(ValidationFailed, match="Département : « 20 » n'existe pas"):
            load_communes("20")

    def test_the_file_is_read_once(self):
        """Cached: the second call returns the very same tuple."""
        assert load_communes() is load_communes()
        assert communes.load_departements() is communes.load_departements()


class TestLoadDepartements:
    def test_there_are_101_departements(self):
        """96 mainland + 5 overseas départements (COG)."""
        codes = [d.code for d in load_departements()]
        assert len(codes) == 101
        assert {"01", "2A", "2B", "95", "971", "972", "973", "974", "976"} <= set(codes)

    def test_every_departement_has_a_prefecture_with_coordinates(self):
        """The chef-lieu of each département is one of its current communes, located."""
        for departement in load_departements():
            prefecture = get_commune(departement.prefecture_insee)
            assert prefecture.departement == departement.code
            (lat_min, lat_max), (lon_min, lon_max) = box_for(departement.code)
            assert lat_min <= prefecture.latitude <= lat_max
            assert lon_min <= prefecture.longitude <= lon_max

    def test_all_prefectures_but_evry_courcouronnes_are_located_directly(self):
        """data/README.md: Évry-Courcouronnes is the one prefecture without a GeoNames match."""
        not_direct = [
            d.prefecture_insee
            for d in load_departements()
            if get_commune(d.prefecture_insee).coordinate_source is not CoordinateSource.GEONAMES
        ]
        assert not_direct == ["91228"]


class TestGetCommune:
    def test_paris_is_where_paris_is(self):
        """Paris (75056) matched to its GeoNames place, about 48.85 N 2.35 E."""
        paris = get_commune("75056")
        assert paris.name == "Paris" and paris.coordinate_source is CoordinateSource.GEONAMES
        assert paris.latitude == pytest.approx(48.85, abs=0.05)
        assert paris.longitude == pytest.approx(2.35, abs=0.05)

    def test_an_unknown_code_is_refused_in_french(self):
        """Bad input gets a clear French error."""
        with pytest.raises(ValidationFailed, match="ne correspond à aucune commune actuelle"):
            get_commune("75000")
