"""Adherence: the share of expected transmissions received, and the regulatory checks at one and two months
(DOMAIN.md §2.4). No I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

ADHERENCE_MINIMUM = 0.5  # more than 50 % of data uploaded at 1 and 2 months, otherwise stop (ameli, DOMAIN.md §2.4)
CHECKPOINT_DAYS = (30, 60)


def expected_transmissions(active_days: int, every_days: int) -> int:
    if active_days <= 0:
        return 0
    return max(1, -(-active_days // every_days))


def adherence(received_periods: int, expected: int) -> float | None:
    """Share of expected transmissions received (None when nothing was expected)."""
    if expected <= 0:
        return None
    return min(1.0, received_periods / expected)


def received_periods(days_with_data: Iterable[dt.date], start: dt.date, every_days: int) -> int:
    """Number of distinct ``every_days``-long periods from ``start`` that hold at least one transmission."""
    return len({(d - start).days // every_days for d in days_with_data if d >= start})


def adherence_ok(value: float | None) -> bool | None:
    return None if value is None else value > ADHERENCE_MINIMUM
