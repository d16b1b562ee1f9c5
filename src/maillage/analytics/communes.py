"""Communes for the warehouse: the directory's real table when it is installed.

The generator, APL and the map all take a communes table with the columns of ``snds.COMMUNES``
(code_insee, nom, departement, population, latitude, longitude). ``load_real_communes`` reads the directory's
public-data file (``maillage.directory.communes.load_communes``); ``maillage.demo.communes.synthetic_communes``
builds a territory of clearly fictitious communes (names "Commune synthétique n") for tests and for France-sized
benchmarks.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from maillage.analytics import snds
from maillage.directory.communes import load_communes
from maillage.exceptions import ValidationFailed

COLUMNS = snds.COMMUNES.column_names


def load_real_communes(departement: str | None = None) -> pd.DataFrame:
    """Communes from the directory's public data, optionally one département, in the warehouse's columns."""
    return normalise_communes(pd.DataFrame([dataclasses.asdict(c) for c in load_communes(departement=departement)]))


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


def departement_outlines(communes: pd.DataFrame, *, margin_km: float = 5.0, isolated_km: float = 25.0,
                         concavity: float = 0.5) -> dict[str, list[list[tuple[float, float]]]]:
    """An approximate outline of each département from its communes' coordinates only (no boundary file is
    shipped). Every commune gets its Voronoi cell (the area closer to it than to any other commune) and a
    département is the union of its communes' cells, so that the border between two départements runs midway
    between their communes on either side and neighbours share it exactly. The outer edge of the whole set is the
    union of each département's concave hull (``shapely.concave_hull`` with ``concavity``) widened by
    ``margin_km``. A commune more than ``isolated_km`` from every other commune of its département (a homonym with
    wrong coordinates in the reference file, say) is left out. Computed in a local equirectangular projection;
    returns, per département, its rings as (latitude, longitude) lists (several for a département in pieces).
    """
    import shapely

    frame = communes.dropna(subset=["latitude", "longitude"]).drop_duplicates(subset=["latitude", "longitude"])
    if frame.empty:
        return {}
    km_per_deg = math.pi * 6371.0088 / 180.0
    cos0 = math.cos(math.radians(float(frame["latitude"].mean())))
    xy = np.column_stack([frame["longitude"].to_numpy(float) * cos0 * km_per_deg,
                          frame["latitude"].to_numpy(float) * km_per_deg])
    deps = frame["departement"].astype(str).to_numpy()
    points = shapely.points(xy)
    keep = np.ones(len(points), dtype=bool)
    for dep in np.unique(deps):
        idx = np.flatnonzero(deps == dep)
        if idx.size < 4:
            continue
        tree = shapely.STRtree(points[idx])
        (source, _), distance = tree.query_nearest(points[idx], exclusive=True, return_distance=True)
        nearest = np.full(idx.size, np.inf)
        np.minimum.at(nearest, source, distance)
        keep[idx[nearest > isolated_km]] = False
    points, deps = points[keep], deps[keep]
    names = sorted(set(deps.tolist()))
    hulls = [shapely.concave_hull(shapely.multipoints(points[deps == dep]), ratio=concavity) for dep in names]
    territory = shapely.union_all(shapely.buffer(hulls, margin_km, quad_segs=4))
    if len(points) >= 3:
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), ordered=True))
        if len(cells) != len(points):  # defensive: give each point the cell that holds it
            cells = cells[shapely.STRtree(cells).query_nearest(points)[1]]
    else:
        cells = shapely.buffer(points, margin_km)
    out: dict[str, list[list[tuple[float, float]]]] = {}
    for dep in names:
        mine = cells[deps == dep]
        try:
            union = shapely.coverage_union_all(mine)
        except shapely.errors.GEOSException:
            union = shapely.union_all(mine)
        shape = shapely.intersection(union, territory).simplify(margin_km / 10)
        polygons = [g for g in getattr(shape, "geoms", [shape]) if g.geom_type == "Polygon" and g.area > 1.0]
        out[dep] = [[(y / km_per_deg, x / (cos0 * km_per_deg)) for x, y in g.exterior.coords] for g in polygons]
    return out
