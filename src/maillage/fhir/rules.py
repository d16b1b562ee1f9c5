"""Pure rules of the FHIR R4 door: SMART v2 scopes, search parameter values, paging cursors, OperationOutcome.

Nothing here does I/O. Sources:
- SMART App Launch v2, "Scopes and Launch Context" (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
  ``<context>/<resource>.<permissions>`` with context ``patient``, ``user`` or ``system``, resource a type or ``*``,
  permissions a subset of ``cruds`` in that order; the v1 forms ``.read``, ``.write`` and ``.*`` are accepted as
  ``rs``, ``cud`` and ``cruds``.
- FHIR R4 search (https://hl7.org/fhir/R4/search.html): date prefixes ``eq ne gt lt ge le sa eb ap`` and the implicit
  range of a date given to a precision (§3.1.1.5.4, §3.1.1.5.7), token ``[system]|[code]`` (§3.1.1.5.10), ``_count``,
  ``_sort``; the server chooses its paging links (§3.1.1.6).
- FHIR R4 OperationOutcome and the issue-type codes (https://hl7.org/fhir/R4/valueset-issue-type.html).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from maillage.security.smart import (
    CONTEXTS,
    INTERACTION_LETTER,
    NON_RESOURCE_SCOPES,
    PERMISSION_LETTERS,
    ScopeProblem,
    SmartScope,
    contexts_for,
    looks_like_smart_scope,
    parse_scope,
    scope_allows,
    smart_scopes,
)

__all__ = [
    "CONTEXTS", "INTERACTION_LETTER", "NON_RESOURCE_SCOPES", "PERMISSION_LETTERS", "ScopeProblem", "SmartScope",
    "contexts_for", "looks_like_smart_scope", "parse_scope", "scope_allows", "smart_scopes",
]

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"

# -- SMART v2 scopes: parsed in maillage.security.smart (tokens are checked against it when issued) ----------

# -- Search parameter values ----------------------------------------------------------------------------------

class SearchProblem(ValueError):
    """A search that cannot be run as asked; the message is French (FHIR answers 400)."""


DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
SUPPORTED_DATE_PREFIXES = ("eq", "gt", "lt", "ge", "le")
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,6}))?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True)
class DateBound:
    """``value <op> at``: op is one of ``>=``, ``>``, ``<``, ``<=``."""

    op: str
    at: dt.datetime


def _add_months(day: dt.datetime, months: int) -> dt.datetime:
    total = day.month - 1 + months
    return day.replace(year=day.year + total // 12, month=total % 12 + 1)


def date_range(text: str) -> tuple[dt.datetime, dt.datetime]:
    """The implicit range [start, end) of a FHIR date, dateTime or instant given to some precision (UTC when the
    value carries no offset: the server's times are UTC)."""
    match = _DATE.match(text)
    if match is None:
        raise SearchProblem(f"Date « {text[:40]} » illisible : attendu AAAA, AAAA-MM, AAAA-MM-JJ ou "
                            "AAAA-MM-JJThh:mm[:ss][Z|±hh:mm].")
    g = match.groupdict()
    try:
        tz = dt.UTC
        if g["tz"] and g["tz"] != "Z":
            sign = 1 if g["tz"][0] == "+" else -1
            tz = dt.timezone(sign * dt.timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][4:6])))
        start = dt.datetime(int(g["y"]), int(g["m"] or 1), int(g["d"] or 1), int(g["H"] or 0), int(g["M"] or 0),
                            int(g["S"] or 0), int((g["f"] or "0").ljust(6, "0")), tzinfo=tz)
    except ValueError as exc:
        raise SearchProblem(f"Date « {text[:40]} » impossible.") from exc
    if g["f"]:
        end = start + dt.timedelta(microseconds=10 ** (6 - len(g["f"])))
    elif g["S"]:
        end = start + dt.timedelta(seconds=1)
    elif g["M"]:
        end = start + dt.timedelta(minutes=1)
    elif g["d"]:
        end = start + dt.timedelta(days=1)
    elif g["m"]:
        end = _add_months(start, 1)
    else:
        end = start.replace(year=start.year + 1)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def parse_date(value: str) -> list[DateBound]:
    """A date search value with its prefix → the bounds the stored instant must meet (FHIR R4 §3.1.1.5.7: the
    stored value is an instant, compared with the range the searched value implies)."""
    prefix, text = (value[:2], value[2:]) if value[:2] in DATE_PREFIXES else ("eq", value)
    if prefix not in SUPPORTED_DATE_PREFIXES:
        raise SearchProblem(f"Préfixe de date « {prefix} » non pris en charge (eq, gt, lt, ge, le).")
    start, end = date_range(text)
    return {
        "eq": [DateBound(">=", start), DateBound("<", end)],
        "ge": [DateBound(">=", start)],
        "gt": [DateBound(">=", end)],
        "lt": [DateBound("<", start)],
        "le": [DateBound("<", end)],
    }[prefix]


@dataclass(frozen=True)
class Token:
    """A token search value: ``system`` None means any system; "" means no system (``|code``)."""

    system: str | None
    code: str | None


def parse_token(value: str) -> Token:
    if not value or len(value) > 300:
        raise SearchProblem("Valeur de recherche vide ou trop longue.")
    if "|" not in value:
        return Token(None, value)
    system, code = value.split("|", 1)
    if not system and not code:
        raise SearchProblem("Valeur « | » : indiquez un système, un code ou les deux.")
    return Token(system, code or None)


def parse_reference(value: str, resource: str) -> str:
    """``Patient/abc``, ``abc`` or an absolute URL ending in ``Patient/abc`` → ``abc``."""
    text = value.rstrip("/")
    marker = f"{resource}/"
    if marker in text:
        text = text.rsplit(marker, 1)[1]
    elif "/" in text:
        raise SearchProblem(f"Référence « {value[:80]} » : attendu {resource}/identifiant.")
    if not text or len(text) > 64:
        raise SearchProblem(f"Référence « {value[:80]} » vide ou trop longue.")
    return text


DEFAULT_COUNT = 20
MAX_COUNT = 100


def parse_count(value: str | None) -> int:
    """``_count``: a whole number from 1; above ``MAX_COUNT`` the server returns ``MAX_COUNT`` (R4 §3.1.1.6 lets
    it return fewer than asked)."""
    if value is None:
        return DEFAULT_COUNT
    if not value.isdigit() or int(value) < 1:
        raise SearchProblem("_count doit être un nombre entier positif.")
    return min(int(value), MAX_COUNT)


@dataclass(frozen=True)
class Sort:
    key: str  # the search parameter sorted on
    descending: bool


def parse_sort(value: str | None, allowed: tuple[str, ...], default: Sort) -> Sort:
    if value is None:
        return default
    descending = value.startswith("-")
    key = value.removeprefix("-")
    if "," in value or key not in allowed:
        names = ", ".join(allowed) or "aucun"
        raise SearchProblem(f"Tri « {value[:40]} » non pris en charge (un seul critère parmi : {names}).")
    return Sort(key, descending)


# -- Paging cursors -------------------------------------------------------------------------------------------

def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor: the last row's sort key and id. Keyset paging stays stable when rows are inserted."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        if len(cursor) > 400:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
        if not isinstance(position, dict):
            raise ValueError
        return position
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise SearchProblem("Curseur de pagination invalide : repartez du premier lien de la recherche.") from exc


# -- OperationOutcome -----------------------------------------------------------------------------------------

ISSUE_CODE_BY_STATUS = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 406: "not-supported",
    409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly", 415: "not-supported",
    422: "processing", 429: "throttled", 503: "transient",
}


def operation_outcome(status: int, diagnostics: str, *, details: Any = None) -> dict[str, Any]:
    """An OperationOutcome for an error answer: one issue per detail when the error has field details."""
    code = ISSUE_CODE_BY_STATUS.get(status, "exception")
    severity = "fatal" if status >= 500 else "error"
    issues: list[dict[str, Any]] = []
    if isinstance(details, list):
        for item in details[:20]:
            if isinstance(item, dict) and item.get("message"):
                issue: dict[str, Any] = {"severity": severity, "code": code,
                                         "diagnostics": f"{diagnostics} {item['message']}".strip()}
                if item.get("field"):
                    issue["expression"] = [str(item["field"])]
                issues.append(issue)
    if not issues:
        issues.append({"severity": severity, "code": code, "diagnostics": diagnostics})
    return {"resourceType": "OperationOutcome", "issue": issues}
