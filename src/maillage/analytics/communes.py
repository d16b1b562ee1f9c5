"""Communes for the warehouse: the directory's real table when it is installed, or a synthetic territory.

The generator, APL and the map all take a communes table with the columns of ``snds.COMMUNES``
(code_insee, nom, departement, population, latitude, longitude). ``load_real_communes`` reads the directory's
public-data file (``maillage.directory.communes.load_communes``); ``synthetic_communes`` builds a territory of
clearly fictitious communes (names "Commune synthétique n") for tests and for France-sized benchmarks.
"""

from __future__ import annotations

import dataclasses
import importlib
import math

import numpy as np
import pandas as pd

from maillage.analytics import snds
from maillage.exceptions import ValidationFailed

COLUMNS = snds.COMMUNES.column_names


def real_communes_available() -> bool:
    try:
        module = importlib.import_module("maillage.directory.communes")
    except ImportError:
        return False
    return hasattr(module, "load_communes")


def load_real_communes(departement: str | None = None) -> pd.DataFrame:
    """Communes from the directory's public data, optionally one département, in the warehouse's columns."""
    if not real_communes_available():
        raise ValidationFailed(
            "Le référentiel des communes (maillage.directory.communes) n'est pas installé : "
            "utilisez --communes synthetiques."
        )
    module = importlib.import_module("maillage.directory.communes")
    raw = module.load_communes(departement=departement)
    frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame([_as_dict(row) for row in raw])
    return normalise_communes(frame)


def _as_dict(row: object) -> dict[str, object]:
    if isinstance(row, dict):
        return row
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    if hasattr(row, "_asdict"):
        return dict(row._asdict())
    return dict(vars(row))


ALIASES = {"code": "code_insee", "insee": "code_insee", "code_commune": "code_insee", "name": "nom",
           "department": "departement", "dep": "departement", "lat": "latitude", "lon": "longitude",
           "lng": "longitude"}


def normalise_communes(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename known aliases, check the columns, and type them; rows without coordinates or population are dropped."""
    frame = frame.rename(columns={k: v for k, v in ALIASES.items() if k in frame.columns and v not in frame.columns})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationFailed(f"Colonnes manquantes dans la table des communes : {', '.join(missing)}.")
    out = frame[COLUMNS].copy()
    out["code_insee"] = out["code_insee"].astype(str)
    out["nom"] = out["nom"].astype(str)
    out["departement"] = out["departement"].astype(str)
    out["population"] = pd.to_numeric(out["population"], errors="coerce")
    out["latitude"] = pd.to_numeric(out["latitude"], errors="coerce").astype("float64")
    out["longitude"] = pd.to_numeric(out["longitude"], errors="coerce").astype("float64")
    out = out.dropna(subset=["population", "latitude", "longitude"])
    out["population"] = out["population"].astype("int64")
    out = out[out["population"] > 0]
    if out.empty:
        raise ValidationFailed("La table des communes est vide.")
    if out["code_insee"].duplicated().any():
        raise ValidationFailed("La table des communes contient des codes INSEE en double.")
    return out.sort_values("code_insee").reset_index(drop=True)


def synthetic_communes(n: int, *, seed: int = 0, departements: int | None = None,
                       centre: tuple[float, float] = (46.5, 2.5), span_km: float | None = None) -> pd.DataFrame:
    """``n`` fictitious communes scattered around ``centre`` with a realistic, heavy-tailed population.

    Départements are numbered 01, 02 …; each commune gets a valid-looking INSEE code (département + 3 digits).
    ``span_km`` is the side of the square they cover (by default about 55 km per 330 communes, the density of
    metropolitan France).
    """
    if n < 1:
        raise ValidationFailed("Il faut au moins une commune.")
    rng = np.random.default_rng(seed)
    n_dep = departements or max(1, math.ceil(n / 380))
    if n_dep > 95:
        raise ValidationFailed("Au plus 95 départements synthétiques.")
    side = span_km or 55.0 * math.sqrt(n / 330)
    # Départements are vertical strips of the square, communes sorted west to east.
    x = np.sort(rng.uniform(0, side, n))
    y = rng.uniform(0, side, n)
    dep_index = np.minimum((x / side * n_dep).astype(int), n_dep - 1)
    population = np.maximum(30, np.round(rng.lognormal(mean=6.3, sigma=1.25, size=n))).astype(np.int64)
    lat0, lon0 = centre
    latitude = lat0 + (y - side / 2) / 111.32
    longitude = lon0 + (x - side / 2) / (111.32 * math.cos(math.radians(lat0)))
    codes: list[str] = []
    counters = np.zeros(n_dep, dtype=int)
    for d in dep_index:
        counters[d] += 1
        codes.append(f"{d + 1:02d}{counters[d]:03d}")
    return pd.DataFrame({
        "code_insee": codes,
        "nom": [f"Commune synthétique {i + 1}" for i in range(n)],
        "departement": [f"{d + 1:02d}" for d in dep_index],
        "population": population,
        "latitude": latitude,
        "longitude": longitude,
    }).sort_values("code_insee").reset_index(drop=True)
