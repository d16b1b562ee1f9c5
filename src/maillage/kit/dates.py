"""Dates and instants as the API documents them: ISO 8601 strings, never numbers.

In its default (lax) mode Pydantic reads a number, or a string of digits, as a Unix timestamp:
``?birth_date=0`` became 1 January 1970, and ``"20240101"`` sent for an instant became 23 August 1970,
without a word. The OpenAPI document promises ``format: date`` and ``format: date-time`` strings; use
``IsoDate`` and ``IsoDateTime`` for every date or instant a caller sends (query, path, body), so that the
server keeps that promise and a typo is a 422, not a patient born in 1970.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _refuse_numbers(expected: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise ValueError(f"{expected} au format ISO 8601 attendue, pas un nombre")
        return value

    return check


IsoDate = Annotated[dt.date, BeforeValidator(_refuse_numbers("Date (AAAA-MM-JJ)"))]
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_refuse_numbers("Date et heure (AAAA-MM-JJTHH:MM:SS+01:00)"))]
