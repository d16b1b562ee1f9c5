"""The communes and départements of France (mainland and the five overseas départements), from the data file
shipped with the package (``data/communes.csv.gz``, ``data/departements.csv``; how they were made and how far
they fall short: ``data/README.md``). Read once, cached, never downloaded.
"""

from __future__ import annotations

import csv
import enum
import functools
import gzip
import io
from dataclasses import dataclass
from importlib import resources

from maillage.directory.rules import fail

DATA_PACKAGE = "maillage.directory"
DATA_FOLDER = "data"
COMMUNES_FILE = "communes.csv.gz"
DEPARTEMENTS_FILE = "departements.csv"


class CoordinateSource(enum.StrEnum):
    """Where a commune's coordinates come from (see data/README.md)."""

    GEONAMES = "geonames"
    EPCI_CENTROID = "epci_centroid"
    DEPARTEMENT_CENTROID = "departement_centroid"


@dataclass(frozen=True, slots=True)
class Commune:
    insee: str
    name: str
    departement: str
    region: str
    epci: str | None
    population: int
    latitude: float
    longitude: float
    coordinate_source: CoordinateSource


@dataclass(frozen=True, slots=True)
class Departement:
    code: str
    name: str
    prefecture_insee: str
    region: str
    region_name: str
    population: int


def _read_text(name: str) -> str:
    ref = resources.files(DATA_PACKAGE).joinpath(DATA_FOLDER, name)
    raw = ref.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


@functools.cache
def _all_communes() -> tuple[Commune, ...]:
    reader = csv.DictReader(io.StringIO(_read_text(COMMUNES_FILE)))
    return tuple(
        Commune(
            insee=row["insee"],
            name=row["name"],
            departement=row["departement"],
            region=row["region"],
            epci=row["epci"] or None,
            population=int(row["population"]),
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            coordinate_source=CoordinateSource(row["coordinate_source"]),
        )
        for row in reader
    )


@functools.cache
def _communes_by_departement() -> dict[str, tuple[Commune, ...]]:
    grouped: dict[str, list[Commune]] = {}
    for commune in _all_communes():
        grouped.setdefault(commune.departement, []).append(commune)
    return {code: tuple(items) for code, items in grouped.items()}


@functools.cache
def load_departements() -> tuple[Departement, ...]:
    """Every département of mainland France and the five overseas départements (101), sorted by code."""
    reader = csv.DictReader(io.StringIO(_read_text(DEPARTEMENTS_FILE)))
    return tuple(
        Departement(
            code=row["code"],
            name=row["name"],
            prefecture_insee=row["prefecture_insee"],
            region=row["region"],
            region_name=row["region_name"],
            population=int(row["population"]),
        )
        for row in reader
    )


def load_communes(departement: str | None = None) -> tuple[Commune, ...]:
    """Every current commune, or those of one département (code as in the COG: ``01``, ``2A``, ``974``).

    Raises ``ValidationFailed`` for a département code that does not exist.
    """
    if departement is None:
        return _all_communes()
    code = departement.strip().upper()
    by_dep = _communes_by_departement()
    if code not in by_dep:
        raise fail("departement", f"Département : « {departement} » n'existe pas dans le découpage administratif.")
    return by_dep[code]


@functools.cache
def _communes_by_code() -> dict[str, Commune]:
    return {commune.insee: commune for commune in _all_communes()}


def get_commune(insee: str) -> Commune:
    """One commune by its INSEE code; ``ValidationFailed`` when no current commune has that code."""
    commune = _communes_by_code().get(insee.strip().upper())
    if commune is None:
        raise fail("code_commune", f"Code commune : « {insee} » ne correspond à aucune commune actuelle.")
    return commune
