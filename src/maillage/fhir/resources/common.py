"""What the resource modules share: instants in FHIR form, ids, the search helpers over declared parameters."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from maillage.exceptions import NotFound
from maillage.fhir import rules
from maillage.fhir.registry import SearchParam

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
