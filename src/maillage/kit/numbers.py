"""Numbers written the French way: a comma before the decimals, a narrow no-break space between thousands.

One formatter for charts, tables, Jinja filters and messages: ``fr_number(12345.678, 2) == "12 345,68"`` (the
space is U+202F, which keeps a number on one line). A missing value (None, NaN) is a dash, as in every table of
the platform.
"""

from __future__ import annotations

import math
from typing import SupportsFloat

MISSING = "—"


def fr_number(value: float | None, decimals: int = 1) -> str:
    """``value`` rounded to ``decimals`` decimals, with French separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def fr_euros(value: SupportsFloat | None) -> str:
    """An amount in euros with cents: "1 234,50 €"."""
    return MISSING if value is None else f"{fr_number(float(value), 2)} €"
