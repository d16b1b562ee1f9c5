"""How far each indicator of the programme is from its target, for a year.

An indicator bound to the analytics catalogue reads one measure of that indicator's **stored, gated** result for
the year (the confidentiality gate has already masked small cells: a masked value is "secret", never guessed), on
the whole territory: the row whose every dimension is at its margin (territory, year, all ages, all groups). An
indicator entered by hand reads the value the programme manager entered, with its source. Nothing is computed
here on request: a page that reads progress never starts a warehouse computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from maillage.analytics import service as analytics
from maillage.analytics.catalogue import all_indicators, get_indicator
from maillage.analytics.gate import GateConfig
from maillage.analytics.indicators import ALL_AGES, TOTAL, Indicator
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import MaillageError, ValidationFailed
from maillage.programme.rules import Progress
from maillage.programme.service import IndicatorView

NOT_STORED = "non calculé pour cette année (l'indicateur de l'entrepôt n'a pas de résultat enregistré)"
MASKED = "secret statistique (effectif inférieur au seuil)"
NOT_ENTERED = "valeur non saisie"
NO_TARGET = "pas de cible pour cette année"


@dataclass(frozen=True)
class Choice:
    """A measure of the catalogue a programme indicator may be bound to (counts and ratios, never populations)."""

    code: str
    measure: str
    label: str

    @property
    def key(self) -> str:
        return f"{self.code}:{self.measure}"


def _has_year(indicator: Indicator) -> bool:
    return any(p.name == "annee" for p in indicator.parameters)


def choices() -> list[Choice]:
    return [Choice(i.code, m.name, f"{i.label} — {m.label}") for i in all_indicators() if _has_year(i)
            for m in i.measures if m.kind != "population"]


def check_binding(code: str, measure: str) -> None:
    if not any(c.code == code and c.measure == measure for c in choices()):
        raise ValidationFailed("Choisissez un indicateur du catalogue dans la liste.")


def territory_row(frame: pd.DataFrame, indicator: Indicator) -> pd.DataFrame:
    """The row of a gated table that covers the whole territory and the whole year."""
    rows = frame
    if "geo" in indicator.dimensions:
        rows = rows[(rows.niveau_geo == "territoire") & (rows.code_geo == TOTAL)]
    if "periode" in indicator.dimensions:
        rows = rows[rows.niveau_periode == "annee"]
    if "age" in indicator.dimensions:
        rows = rows[rows.tranche_age == ALL_AGES]
    for group in indicator.groups:
        rows = rows[rows[group] == TOTAL]
    return rows


Territory = dict[tuple[str, int], pd.DataFrame | None]


def _territory(warehouse: Warehouse, gate: GateConfig, code: str, year: int,
               cache: Territory | None) -> pd.DataFrame | None:
    """The gated territory row of ``code`` for ``year`` (None: no stored result), read once per ``cache``."""
    if cache is not None and (code, year) in cache:
        return cache[(code, year)]
    try:
        result = analytics.latest_result(warehouse, code, {"annee": year})
    except MaillageError:
        result = None
    rows = None if result is None else territory_row(analytics.gated_result(warehouse, result, gate).frame,
                                                     get_indicator(code))
    if cache is not None:
        cache[(code, year)] = rows
    return rows


def catalogue_value(warehouse: Warehouse, gate: GateConfig, code: str, measure: str,
                    year: int, cache: Territory | None = None) -> tuple[Decimal | None, str]:
    """The gated territory value of ``measure`` for ``year`` from the stored result, and why it is missing."""
    indicator = get_indicator(code)
    rows = _territory(warehouse, gate, code, year, cache)
    if rows is None or rows.empty:
        return None, NOT_STORED
    value: Any = rows.iloc[0][measure]
    if value is None or pd.isna(value):
        return None, MASKED
    decimals = next((m.decimals for m in indicator.measures if m.name == measure), None) or 0
    return Decimal(str(round(float(value), decimals))), ""


def progress(view: IndicatorView, year: int, warehouse: Warehouse, gate: GateConfig,
             cache: Territory | None = None) -> Progress | None:
    """The indicator against its target for ``year``; None when it has no target that year."""
    target = view.year(year)
    if target is None:
        return None
    indicator = view.indicator
    if indicator.catalogue_code and indicator.measure:
        value, why = catalogue_value(warehouse, gate, indicator.catalogue_code, indicator.measure, year, cache)
        return Progress(target=target.target, value=value, why_missing=why)
    if target.manual_value is None:
        return Progress(target=target.target, value=None, why_missing=NOT_ENTERED)
    return Progress(target=target.target, value=target.manual_value)
