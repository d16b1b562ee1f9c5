"""One source of time for the whole platform, so tests can freeze and move it.

Every timestamp is timezone-aware UTC; pages convert to Europe/Paris for people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    return _frozen if _frozen is not None else dt.datetime.now(dt.UTC)


def today_paris() -> dt.date:
    return now().astimezone(PARIS).date()


@contextmanager
def frozen(at: dt.datetime) -> Iterator[FrozenClock]:
    """Freeze ``now()`` at ``at`` (aware) inside the block; ``advance`` moves it."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("frozen() needs an aware datetime")
    previous = _frozen
    _frozen = at.astimezone(dt.UTC)
    try:
        yield FrozenClock()
    finally:
        _frozen = previous


class FrozenClock:
    def advance(self, delta: dt.timedelta) -> dt.datetime:
        global _frozen
        assert _frozen is not None
        _frozen = _frozen + delta
        return _frozen

    @property
    def now(self) -> dt.datetime:
        return now()
