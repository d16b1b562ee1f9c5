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
