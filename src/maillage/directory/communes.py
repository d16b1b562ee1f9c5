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
import re
import unicodedata
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


def _folded(text: str) -> str:
    """Lower case without accents, hyphens or apostrophes, ``st``/``ste`` spelt out: how people type a name."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()
    words = re.sub(r"[-'’\s]+", " ", bare).split()
    return " ".join({"st": "saint", "ste": "sainte"}.get(w, w) for w in words)


@functools.cache
def _folded_names() -> tuple[tuple[str, Commune], ...]:
    return tuple((_folded(c.name), c) for c in _all_communes())


def search_communes(query: str, limit: int = 12) -> list[Commune]:
    """Current communes whose name matches what was typed (accents, case, hyphens and "St" aside): the exact name
    first, then names that start with it, then names with a word that does, then the rest; the most populated first
    within each. Nothing for fewer than two letters."""
    wanted = _folded(query)[:80]
    if len(wanted.replace(" ", "")) < 2:
        return []
    ranked: list[tuple[int, int, str, Commune]] = []
    for name, commune in _folded_names():
        if wanted not in name:
            continue
        rank = 0 if name == wanted else 1 if name.startswith(wanted) else 2 if f" {wanted}" in f" {name}" else 3
        ranked.append((rank, -commune.population, commune.insee, commune))
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked[:limit]]


@functools.cache
def departement_names() -> dict[str, str]:
    return {d.code: d.name for d in load_departements()}


def commune_label(commune: Commune) -> str:
    """How a commune is named to people: ``Saint-Junien (Haute-Vienne)``; the code stays out of sight."""
    departement = departement_names().get(commune.departement)
    return f"{commune.name} ({departement})" if departement else commune.name
