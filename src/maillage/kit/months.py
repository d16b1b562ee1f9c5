"""Calendar months: adding months to a date, the first and the last day of a month.

One ``add_months`` for the whole code base. It keeps the day of the month and clamps it to the last day of the
target month (31 January + 1 month = 28 or 29 February), as a month-based duration is counted in French
social-security texts and by ``dateutil.relativedelta``. Who needs which behaviour:

- a duration that starts on any day (a telesurveillance prescription of N months, an enhanced forfait period:
  ``monitoring.rules``) needs the day kept and clamped;
- month arithmetic on the first day of a month (the SNDS flux months of ``analytics.rules``, the months of an
  adherence report, ``month_end``) passes a first day and gets a first day back: the clamping never applies.
  ``analytics.rules`` used to return the first day of the month whatever the day given; every caller passes a
  first day, so the two behaviours agree on every call made.
"""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months (negative: back), the day clamped to the target month's end."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def month_start(day: dt.date) -> dt.date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    """The last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])
