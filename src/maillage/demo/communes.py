"""Synthetic communes for the analytics warehouse: a territory of clearly fictitious communes (names "Commune
synthétique n") with the columns of ``snds.COMMUNES``, for tests, for France-sized benchmarks and for
``maillage analytics generate-claims --territoire synthetique``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from maillage.exceptions import ValidationFailed


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
