"""Synthetic communes for the warehouse (demo/communes.py): fictitious, reproducible, in the warehouse's columns."""

from __future__ import annotations

import pandas as pd
import pytest

from maillage.demo.communes import synthetic_communes
from maillage.exceptions import ValidationFailed


class TestSyntheticCommunes:
    def test_builds_unique_valid_looking_codes_and_fictitious_names(self):
        frame = synthetic_communes(500, seed=1)
        assert frame.code_insee.is_unique and frame.code_insee.str.fullmatch(r"\d{5}").all()
        assert frame.nom.str.startswith("Commune synthétique").all() and (frame.population > 0).all()

    def test_is_reproducible(self):
        pd.testing.assert_frame_equal(synthetic_communes(50, seed=4), synthetic_communes(50, seed=4))

    def test_needs_at_least_one_commune(self):
        with pytest.raises(ValidationFailed):
            synthetic_communes(0)
