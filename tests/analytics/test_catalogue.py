"""The catalogue lists every indicator and extractor once, and nothing needs importing for one to be known."""

from __future__ import annotations

import subprocess
import sys

import pytest

from maillage.analytics import activity, apl, billing_activity, catalogue, clinical, coverage, extract, indicators, pmsi
from maillage.analytics.indicators import Indicator
from maillage.exceptions import NotFound


class TestCatalogue:
    def test_every_indicator_defined_in_the_analytics_is_listed(self):
        defined = {id(value) for module in (indicators, apl, clinical, activity, billing_activity, pmsi, coverage)
                   for value in vars(module).values()
                   if isinstance(value, Indicator)}
        assert defined == {id(indicator) for indicator in catalogue.INDICATORS}

    def test_every_extractor_defined_in_the_analytics_is_listed(self):
        defined = {id(value) for module in (extract, clinical, activity, billing_activity)
                   for value in vars(module).values()
                   if isinstance(value, extract.Extractor)}
        assert defined == {id(extractor) for extractor in catalogue.EXTRACTORS}
        assert len({extractor.name for extractor in catalogue.EXTRACTORS}) == len(catalogue.EXTRACTORS)

    def test_the_patients_data_reuse_objections_are_a_source(self):
        assert clinical.data_reuse_objections in catalogue.OBJECTION_SOURCES

    def test_codes_are_unique(self):
        codes = [indicator.code for indicator in catalogue.all_indicators()]
        assert len(codes) == len(set(codes))

    def test_a_listed_code_twice_is_refused(self):
        with pytest.raises(ValueError, match="listed twice"):
            catalogue._by_code((indicators.TELEMEDICINE, indicators.TELEMEDICINE))

    def test_an_unknown_code_is_not_found(self):
        with pytest.raises(NotFound):
            catalogue.get_indicator("inconnu")

    def test_the_catalogue_alone_knows_every_indicator(self):
        """In a fresh interpreter, importing the catalogue is enough: no module has to register itself first."""
        code = ("from maillage.analytics.catalogue import all_indicators;"
                "print(' '.join(sorted(i.code for i in all_indicators())))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
        assert out.stdout.split() == sorted(i.code for i in catalogue.INDICATORS)
