"""Every indicator, extractor and objection source of the analytics, listed once: a new one is added here, and
nothing registers itself.

The lists are explicit so that what the analyst's pages, the command line, the extraction and the small-cell gate
know does not depend on which modules happen to have been imported.
"""

from __future__ import annotations

from maillage.analytics import activity, apl, billing_activity, clinical, coverage, extract, pmsi
from maillage.analytics.extract import Extractor, ObjectionSource
from maillage.analytics.indicators import GP_CONSULTATIONS, TELEMEDICINE, Indicator
from maillage.exceptions import NotFound

INDICATORS: tuple[Indicator, ...] = (
    GP_CONSULTATIONS,
    TELEMEDICINE,
    apl.APL,
    clinical.TELEEXPERTISE,
    clinical.TELEMONITORING,
    activity.BY_PARTNER,
    activity.BY_SITE,
    billing_activity.BY_PARTNER,
    billing_activity.BY_SITE,
    *pmsi.INDICATORS,
    coverage.COVERAGE,
)

EXTRACTORS: tuple[Extractor, ...] = (extract.COMMUNES_EXTRACTOR, *clinical.EXTRACTORS, activity.ACTIVITY_EXTRACTOR,
                                     billing_activity.BILLED_EXTRACTOR)

# The patients who objected to the reuse of their data: excluded from every extraction.
OBJECTION_SOURCES: tuple[ObjectionSource, ...] = (clinical.data_reuse_objections,)


def _by_code(indicators: tuple[Indicator, ...]) -> dict[str, Indicator]:
    by_code: dict[str, Indicator] = {}
    for indicator in indicators:
        if indicator.code in by_code:
            raise ValueError(f"indicator {indicator.code!r} is listed twice")
        by_code[indicator.code] = indicator
    return by_code


_BY_CODE = _by_code(INDICATORS)


def get_indicator(code: str) -> Indicator:
    try:
        return _BY_CODE[code]
    except KeyError:
        raise NotFound(f"Indicateur inconnu : {code}.") from None


def all_indicators() -> list[Indicator]:
    return list(INDICATORS)
