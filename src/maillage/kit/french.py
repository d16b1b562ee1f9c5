"""French wording: plurals, agreement with a known sex, durations.

No "photographie(s)" nor "né(e)" in front of people: the count or the sex is known, so the word agrees.

- ``plural(n, "photographie")`` → "photographie" for 0 and 1, "photographies" from 2 (French rule: 0 and 1 take
  the singular; Académie française, and CLDR's "one" category for French covers 0 ≤ n < 2).
- ``count(3, "alerte ouverte", "alertes ouvertes")`` → "3 alertes ouvertes", the number written the French way.
- ``agree(sex, "né", "née")`` → "né" for a man, "née" for a woman, the inclusive "né·e" when the sex is unknown.
- ``duration_hours(1.5)`` → "1 h 30", ``duration_hours(0.2)`` → "moins d'une heure", ``duration_hours(50)`` →
  "2 j 2 h".
"""

from __future__ import annotations

import math

from maillage.kit.numbers import MISSING

# Sex codes as stored on a patient (INS: "M", "F") and their usual spellings elsewhere.
MALE = frozenset({"M", "m", "male", "homme", "masculin"})
FEMALE = frozenset({"F", "f", "female", "femme", "feminin", "féminin"})
# From this many hours on, a duration is written in days and hours.
DAYS_FROM_HOURS = 48


def is_plural(n: float) -> bool:
    """French rule: 0 and 1 (and any number below 2, such as 1,5) take the singular."""
    return abs(n) >= 2


def plural(n: float, singular: str, plural: str | None = None) -> str:
    """The form of the word (or group of words) for ``n``; ``plural`` defaults to ``singular`` + "s"."""
    if not is_plural(n):
        return singular
    return plural if plural is not None else f"{singular}s"


def _number(n: float) -> str:
    if isinstance(n, int) or float(n).is_integer():
        text = f"{int(n):,}".replace(",", "\u202f")
    else:
        text = f"{n:,}".replace(",", "\u202f").replace(".", ",")
    return text


def count(n: float, singular: str, plural_form: str | None = None) -> str:
    """The number and the agreeing word: "0 photographie", "1 alerte", "12 345 traces"."""
    return f"{_number(n)} {plural(n, singular, plural_form)}"


def agree(sex: str | None, masculine: str, feminine: str, neutral: str | None = None) -> str:
    """The word agreeing with a known sex; ``neutral`` (by default the inclusive "masculin·e" form) otherwise."""
    if sex in MALE:
        return masculine
    if sex in FEMALE:
        return feminine
    if neutral is not None:
        return neutral
    suffix = feminine[len(masculine):] if feminine.startswith(masculine) else ""
    return f"{masculine}·{suffix}" if suffix else f"{masculine} / {feminine}"


def duration_hours(hours: float | None) -> str:
    """A duration given in hours, the way people say it: "moins d'une heure", "2 h", "1 h 30", "3 j 4 h".

    Minutes are rounded to the nearest; a missing or negative value is a dash.
    """
    if hours is None or (isinstance(hours, float) and math.isnan(hours)) or hours < 0:
        return MISSING
    minutes = round(hours * 60)
    if minutes < 60:
        return "moins d'une heure"
    whole_hours, rest = divmod(minutes, 60)
    if whole_hours >= DAYS_FROM_HOURS:
        days, left = divmod(round(minutes / 60), 24)
        return f"{days} j {left} h" if left else f"{days} j"
    return f"{whole_hours} h {rest:02d}" if rest else f"{whole_hours} h"


def duration_seconds(seconds: float | None) -> str:
    """``duration_hours`` for a duration given in seconds."""
    return MISSING if seconds is None else duration_hours(seconds / 3600)
