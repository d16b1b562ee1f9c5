"""What the resource modules share: instants in FHIR form, ids, the search helpers over declared parameters."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Select, false

from maillage.exceptions import NotFound
from maillage.fhir import rules
from maillage.fhir.registry import SearchParam, SearchQuery

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition"
ID_PARAM = SearchParam("_id", "token", "Identifiant logique de la ressource (plusieurs séparés par des virgules).")
LAST_UPDATED_PARAM = SearchParam("_lastUpdated", "date",
                                 "Date de dernière modification, avec préfixe eq, ge, gt, le ou lt.")


def instant(at: dt.datetime) -> str:
    """A FHIR instant (UTC, to the second's fraction the database keeps)."""
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def uuid_or_404(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound() from None


def ids_of(values: list[str], convert: Callable[[str], object]) -> list[object]:
    """``_id`` values (a comma is OR) converted; a value that cannot be an id matches nothing."""
    out: list[object] = []
    for value in values:
        for part in value.split(","):
            try:
                out.append(convert(part.strip()))
            except ValueError:
                continue
    return out


def dates(values: list[str]) -> list[rules.DateBound]:
    bounds: list[rules.DateBound] = []
    for value in values:
        bounds.extend(rules.parse_date(value))
    return bounds


def where_ids(stmt: Select[Any], query: SearchQuery, column: Any,
              convert: Callable[[str], object] = uuid.UUID) -> Select[Any]:
    """``_id`` on ``column``: each occurrence ANDed, commas ORed, a value that cannot be an id matches nothing."""
    for value in query.params.get("_id", []):
        wanted = ids_of([value], convert)
        stmt = stmt.where(column.in_(wanted) if wanted else false())
    return stmt


def where_references(stmt: Select[Any], query: SearchQuery, column: Any, *, names: tuple[str, ...],
                     target: str) -> Select[Any]:
    """A reference parameter (``target/id`` or a bare id; commas ORed) on the uuid ``column``, under each of
    ``names`` (``patient`` and ``subject`` say the same thing)."""
    for name in names:
        for value in query.params.get(name, []):
            wanted = ids_of([rules.parse_reference(v, target) for v in value.split(",")], uuid.UUID)
            stmt = stmt.where(column.in_(wanted) if wanted else false())
    return stmt


def where_codes(stmt: Select[Any], query: SearchQuery, column: Any, codes: Mapping[Any, str], *,
                name: str = "status") -> Select[Any]:
    """A token parameter whose FHIR codes stand for the platform's values (``codes``: value → code) on ``column``:
    each occurrence ANDed, commas ORed, a code that stands for no value matches nothing."""
    for value in query.params.get(name, []):
        asked = value.split(",")
        wanted = [internal for internal, code in codes.items() if code in asked]
        stmt = stmt.where(column.in_(wanted) if wanted else false())
    return stmt


def where_patient(stmt: Select[Any], query: SearchQuery, column: Any) -> Select[Any]:
    """``patient`` and ``subject`` (both a reference to ``Patient``) on ``column``."""
    return where_references(stmt, query, column, names=("patient", "subject"), target="Patient")
