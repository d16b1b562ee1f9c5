"""The operator forfait: its levels and amounts, the enhanced periods of a complex patient, the level due for a
month and the days monitored in it (DOMAIN.md §2.4). No I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maillage.directory.tariffs import FORFAIT_FROM, find_tariff
from maillage.exceptions import ValidationFailed
from maillage.kit.enums import LabelledEnum
from maillage.kit.months import add_months, month_end, month_start

if TYPE_CHECKING:
    from maillage.monitoring.rules.programmes import Programme


class ForfaitLevel(LabelledEnum):
    """Operator forfait (arrêté 16 May 2023 art. 2 as replaced by arrêté 21 Dec 2023, DOMAIN.md §2.4)."""

    LEVEL_1 = "1", "Forfait opérateur niveau 1"
    LEVEL_2 = "2", "Forfait opérateur niveau 2"
    ENHANCED_1 = "enhanced_1", "Forfait opérateur majoré niveau 1"
    ENHANCED_2 = "enhanced_2", "Forfait opérateur majoré niveau 2"


# The billing code of each level in the dated tariff table (``maillage.directory.tariffs``, DOMAIN.md §2.4).
FORFAIT_CODES: dict[ForfaitLevel, str] = {
    ForfaitLevel.LEVEL_1: "TVA",
    ForfaitLevel.LEVEL_2: "TVB",
    ForfaitLevel.ENHANCED_1: "TVB2",
    ForfaitLevel.ENHANCED_2: "TVB25",
}


def forfait_amount_cents(level: ForfaitLevel, month: dt.date) -> int | None:
    """The forfait of ``level`` for ``month``, in cents, at the tariff in force that month (billed at its end); None
    when the dated table has no tariff then (before April 2024, DOMAIN.md §2.4): never today's rate for an old
    month."""
    tariff = find_tariff(FORFAIT_CODES[level], month_end(month))
    return None if tariff is None else int(tariff.amount * 100)


# The amounts in force since the current forfaits apply (shown in the programmes' description).
FORFAIT_AMOUNTS_CENTS: dict[ForfaitLevel, int] = {
    level: cents for level in ForfaitLevel if (cents := forfait_amount_cents(level, FORFAIT_FROM)) is not None}


@dataclass(frozen=True)
class EnhancedLimit:
    """Enhanced forfaits: ``months`` per period, renewable ``renewals`` times (DOMAIN.md §2.4)."""

    months: int
    renewals: int

    @property
    def max_months(self) -> int:
        return self.months * (1 + self.renewals)


# -- Enhanced periods and the forfait due per month ---------------------------------------------------------


@dataclass(frozen=True)
class EnhancedPeriod:
    level: ForfaitLevel
    starts_on: dt.date
    months: int

    @property
    def ends_on(self) -> dt.date:
        return add_months(self.starts_on, self.months) - dt.timedelta(days=1)


def check_enhanced_period(programme: Programme, existing: Sequence[EnhancedPeriod], new: EnhancedPeriod,
                          prescription_ends_on: dt.date) -> None:
    """Enhanced forfaits: only where the programme allows them, ``months`` per period, renewable once."""
    limit = programme.enhanced
    if limit is None:
        raise ValidationFailed("Pas de forfait majoré pour ce programme (DOMAIN.md §2.4 : insuffisance cardiaque "
                               "et diabète seulement).")
    if new.level not in (ForfaitLevel.ENHANCED_1, ForfaitLevel.ENHANCED_2):
        raise ValidationFailed("Niveau de forfait majoré inconnu.")
    if not 1 <= new.months <= limit.months:
        raise ValidationFailed(f"Une période de forfait majoré dure au plus {limit.months} mois pour ce programme.")
    if len(existing) > limit.renewals:
        raise ValidationFailed(f"Le forfait majoré n'est renouvelable que {limit.renewals} fois.")
    for period in existing:
        if new.starts_on <= period.ends_on and period.starts_on <= new.ends_on:
            raise ValidationFailed("Cette période chevauche une période de forfait majoré existante.")
    if new.ends_on > prescription_ends_on:
        raise ValidationFailed("La période de forfait majoré dépasse la fin de la prescription.")


def forfait_for_month(programme: Programme, month: dt.date, enhanced: Sequence[EnhancedPeriod]) -> ForfaitLevel:
    """The level due for ``month``: an enhanced period covering part of the month, else the programme's level."""
    first, last = month_start(month), month_end(month)
    for period in enhanced:
        if period.starts_on <= last and first <= period.ends_on:
            return period.level
    return programme.forfait


def monitored_days(month: dt.date, starts_on: dt.date, ends_on: dt.date | None,
                   pauses: Sequence[tuple[dt.date, dt.date | None]]) -> int:
    """Days of ``month`` during which the patient was enrolled and not paused (a pause day counts as paused)."""
    first = max(month_start(month), starts_on)
    last = month_end(month) if ends_on is None else min(month_end(month), ends_on)
    if last < first:
        return 0
    days = {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
    for p_start, p_end in pauses:
        p_last = p_end if p_end is not None else last
        day = max(p_start, first)
        while day <= min(p_last, last):
            days.discard(day)
            day += dt.timedelta(days=1)
    return len(days)


def forfait_due(days_monitored: int) -> bool:
    """A month is billed when the patient was monitored at least one day of it (billed at month end).

    [Interpretation: the texts bill a monthly forfait per monitored patient; a month entirely paused
    (hospitalisation) has no monitoring to bill.]
    """
    return days_monitored > 0
