"""The linear-programming attacker on published indicators (finding 3), written apart from the gate.

It sees what an analyst sees: every row of the published table (all geographic levels, months and year, bands,
groups, every measure, the ``secret`` label), the commune → département list, the rounding of each measure, and
the indicator's declared row relations. From that it writes every linear relation that holds between published and
masked values, and for each masked cell minimises and maximises it with HiGHS (``scipy.optimize.linprog``):

- margins: a parent equals the sum of its children for counts and populations, and for distinct patients over
  communes and age bands; over months, lines or programmes a distinct count lies between its largest child and
  the sum of its children;
- row relations that follow from the indicators' definitions (patients <= population, patients <= acts …), kept
  here apart from the ones the indicators declare to the gate;
- published ratios of a row whose terms are masked, as intervals from their rounding;
- published counts as intervals when counts are rounded to a base;
- the labels: where they say "primaire" / "secondaire" (the gate before finding 3), a primary cell's small count is
  in [1, threshold - 1] (zeros were published) and a secondary cell's counts are at least the threshold.

For the APL, the attacker rebuilds the weights of the 2SFCA from the public commune coordinates and the documented
travel-time approximation, and solves for the masked GP full-time equivalents from the published scores (rounded to
2 decimals, so intervals) and flags.

Limits: a linear relaxation (an integer program can be tighter by less than one unit at each bound); the rate
standardised on age (a product of masked terms) is left out; relations missing from ``RELATIONS`` are unknown to it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from maillage.analytics.indicators import ALL_AGES, TOTAL, Indicator

# ratio measure -> (numerator, denominator), as the indicators compute them.
RATIOS = {
    "taux": ("consultations", "population"),
    "part_teleconsultation": ("teleconsultations", "consultations"),
    "part_dans_les_delais": ("dans_les_delais", "repondues"),
    "observance": ("jours_avec_mesure", "jours_suivis"),
    "alertes_par_patient_mois": ("alertes", "mois_suivis"),
}


# Facts true in every row, known to the attacker on its own (the indicators' definitions): sum(lhs) <= f * sum(rhs).
RELATIONS: dict[str, list[tuple[tuple[str, ...], tuple[str, ...], float]]] = {
    "consultations-mg": [(("patients",), ("population",), 1.0), (("patients",), ("consultations",), 1.0)],
    "telemedecine": [(("patients",), ("teleconsultations", "teleexpertises"), 1.0),
                     (("patients_consultants",), ("consultations",), 1.0),
                     (("teleconsultations",), ("consultations",), 1.0)],
    "teleexpertise-reponses": [
        (("patients",), ("demandes",), 1.0), (("repondues", "refusees"), ("demandes",), 1.0),
        (("dans_les_delais",), ("repondues",), 1.0),
        (("avis_seul", "acte_pertinent", "acte_non_pertinent", "orientation_teleconsultation",
          "orientation_consultation", "hospitalisation_programmee", "transfert_urgent"), ("repondues",), 1.0)],
    "hospitalisation-12-mois": [(("hospitalises",), ("personnes",), 1.0)],
    "telesurveillance": [
        (("patients",), ("mois_suivis",), 1.0), (("inclusions",), ("mois_suivis",), 1.0),
        (("mois_suivis",), ("jours_suivis",), 1.0), (("jours_suivis",), ("mois_suivis",), 31.0),
        (("jours_avec_mesure",), ("jours_suivis",), 1.0), (("alertes_rouges",), ("alertes",), 1.0),
        (("alertes_absence",), ("alertes",), 1.0)],
}


@dataclass(frozen=True)
class Range:
    low: float
    high: float  # math.inf when unbounded

    def covers(self, low: float, high: float, tol: float = 1e-6) -> bool:
        return self.low <= low + tol and self.high >= high - tol

    @property
    def exact(self) -> bool:
        return self.high - self.low < 1e-6


def _key(indicator: Indicator, row: Any) -> tuple[tuple[str, str], ...]:
    parts: list[tuple[str, str]] = []
    if "geo" in indicator.dimensions:
        parts.append((row["niveau_geo"], row["code_geo"]))
    if "periode" in indicator.dimensions:
        parts.append((row["niveau_periode"], row["periode"]))
    if "age" in indicator.dimensions:
        parts.append(("", row["tranche_age"]))
    for group in indicator.groups:
        parts.append(("", row[group]))
    return tuple(parts)


def _parent(kind: str, part: tuple[str, str], geo_parent: Mapping[str, str]) -> tuple[str, str] | None:
    level, value = part
    if kind == "geo":
        if level == "commune":
            return ("departement", geo_parent[value]) if value in geo_parent else None
        return ("territoire", TOTAL) if level == "departement" else None
    if kind == "periode":
        return ("annee", value[:4]) if level == "mois" else None
    if kind == "age":
        return ("", ALL_AGES) if value != ALL_AGES else None
    return ("", TOTAL) if value != TOTAL else None


def margins(indicator: Indicator, frame: pd.DataFrame, geo_parent: Mapping[str, str]
            ) -> list[tuple[int, list[int], str]]:
    kinds = [*(d for d in ("geo", "periode", "age") if d in indicator.dimensions), *(["group"] * len(indicator.groups))]
    keys = [_key(indicator, row) for _, row in frame.iterrows()]
    index = {k: i for i, k in enumerate(keys)}
    found: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        for pos, kind in enumerate(kinds):
            up = _parent(kind, key[pos], geo_parent)
            if up is None:
                continue
            j = index.get((*key[:pos], up, *key[pos + 1:]))
            if j is not None:
                found[(j, pos)].append(i)
    return [(j, kids, kinds[pos]) for (j, pos), kids in found.items()]


def attack(indicator: Indicator, published: pd.DataFrame, geo_parent: Mapping[str, str], *, threshold: int = 11,
           count_rounding: int = 1, classes: Mapping[tuple[int, str], str] | None = None,
           cells: list[tuple[int, str]] | None = None, cover: tuple[float, float] | None = None
           ) -> dict[tuple[int, str], Range]:
    """Ranges a linear program derives for masked cells (row position, measure) of ``published``.

    ``classes`` tells, for the old labels, which patient column of a labelled row is "small" (1 to threshold - 1),
    "large" (at least the threshold) or "zero" (the attacker is given it: a stronger attacker). ``cells`` limits
    which masked cells are minimised and maximised. With ``cover`` = (low, high), a cell shown to reach both by
    one of two batch programs (all the cells' sum minimised; the sum of min(cell, high) maximised) gets the range
    (low, high) without its own programs: only whether the range covers the interval is then answered.
    """
    frame = published.reset_index(drop=True)
    modelled = [m for m in indicator.measures if m.kind in ("patients", "count", "population") and m.decimals is None]
    names = [m.name for m in modelled]
    values = frame[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    var: dict[tuple[int, int], int] = {}
    for r, j in zip(*np.nonzero(np.isnan(values)), strict=True):
        var[(int(r), int(j))] = len(var)
    if not var:
        return {}
    half = count_rounding / 2 if count_rounding > 1 else 0.0
    ub: list[dict[int, float]] = []
    ub_rhs: list[float] = []
    eq: list[dict[int, float]] = []
    eq_rhs: list[float] = []

    def relation(terms: list[tuple[int, int, float]], *, equal: bool, slack: float = 0.0) -> None:
        """sum(coef * value) (= or <=) slack, with published values moved to the right-hand side as intervals."""
        coeffs: dict[int, float] = {}
        low = high = 0.0  # the published part's interval
        for r, j, c in terms:
            if (r, j) in var:
                coeffs[var[(r, j)]] = coeffs.get(var[(r, j)], 0.0) + c
            else:
                v = values[r, j]
                low += c * v - abs(c) * half
                high += c * v + abs(c) * half
        if not coeffs:
            return
        if equal and half == 0:
            eq.append(coeffs)
            eq_rhs.append(slack - low)
        else:
            ub.append(coeffs)
            ub_rhs.append(slack - low)  # coeffs.x + published <= slack, published >= low
            if equal:
                ub.append({k: -v for k, v in coeffs.items()})
                ub_rhs.append(high - slack)

    for parent, kids, kind in margins(indicator, frame, geo_parent):
        for j, m in enumerate(modelled):
            if m.kind != "patients" or kind in ("geo", "age"):
                relation([(parent, j, 1.0), *((k, j, -1.0) for k in kids)], equal=True)
            else:
                relation([(parent, j, 1.0), *((k, j, -1.0) for k in kids)], equal=False)
                for k in kids:
                    relation([(k, j, 1.0), (parent, j, -1.0)], equal=False)
    rows = sorted({r for r, _ in var})
    for lhs, rhs, factor in RELATIONS.get(indicator.code, []):
        if not all(n in names for n in (*lhs, *rhs)):
            continue
        for r in rows:
            relation([*((r, names.index(n), 1.0) for n in lhs), *((r, names.index(n), -factor) for n in rhs)],
                     equal=False)
    decimals = {m.name: m.decimals for m in indicator.measures}
    for ratio, (num, den) in RATIOS.items():
        if ratio not in frame.columns or num not in names or den not in names:
            continue
        h = 0.5 * 10 ** -(decimals[ratio] or 0)
        for r in rows:
            rho = pd.to_numeric(frame.loc[r, ratio], errors="coerce")
            if pd.isna(rho):
                continue
            a, b = names.index(num), names.index(den)
            relation([(r, a, 1.0), (r, b, -(rho + h))], equal=False)
            relation([(r, a, -1.0), (r, b, rho - h)], equal=False)
    bounds: list[tuple[float, float | None]] = [(0.0, None)] * len(var)
    labels = frame["secret"].astype(str).to_numpy() if "secret" in frame.columns else np.array([""] * len(frame))
    for (r, j), n in var.items():
        name = names[j]
        if name not in indicator.patients:
            continue
        if labels[r] not in ("primaire", "secondaire"):
            continue
        kind = (classes or {}).get((r, name), "small" if labels[r] == "primaire" else "large")
        if kind == "small" and labels[r] == "primaire":
            bounds[n] = (1.0, threshold - 1.0)
        elif kind == "large":
            bounds[n] = (float(threshold), None)
    a_ub = _sparse(ub, len(var))
    a_eq = _sparse(eq, len(var))
    wanted = cells if cells is not None else [(r, names[j]) for r, j in var]
    out: dict[tuple[int, str], Range] = {}
    reach_low: set[int] = set()
    reach_high: set[int] = set()
    if cover is not None and wanted:
        cols = [var[(r, names.index(name))] for r, name in wanted]
        c = np.zeros(len(var))
        c[cols] = 1.0
        res = linprog(c, A_ub=a_ub, b_ub=ub_rhs or None, A_eq=a_eq, b_eq=eq_rhs or None, bounds=bounds,
                      method="highs")
        assert res.status == 0, f"the published table should be consistent: {res.message}"
        reach_low = {col for col in cols if res.x[col] <= cover[0] + 1e-7}
        k = len(cols)
        link = _sparse([{col: -1.0, len(var) + i: 1.0} for i, col in enumerate(cols)], len(var) + k)
        wide_ub = link if a_ub is None else csr_vstack(a_ub, k, link)
        wide_eq = None if a_eq is None else csr_vstack(a_eq, k, None)
        c2 = np.concatenate([np.zeros(len(var)), -np.ones(k)])
        res = linprog(c2, A_ub=wide_ub, b_ub=[*ub_rhs, *([0.0] * k)], A_eq=wide_eq, b_eq=eq_rhs or None,
                      bounds=[*bounds, *([(0.0, cover[1])] * k)], method="highs")
        assert res.status == 0, res.message
        reach_high = {col for i, col in enumerate(cols) if res.x[len(var) + i] >= cover[1] - 1e-7}
    for r, name in wanted:
        n = var[(r, names.index(name))]
        if n in reach_low and n in reach_high:
            assert cover is not None
            out[(r, name)] = Range(*cover)
            continue
        c = np.zeros(len(var))
        got: list[float] = []
        for sign in (1.0, -1.0):
            c[n] = sign
            res = linprog(c, A_ub=a_ub, b_ub=ub_rhs or None, A_eq=a_eq, b_eq=eq_rhs or None, bounds=bounds,
                          method="highs")
            if res.status == 3:
                got.append(sign * -math.inf)
            else:
                assert res.status == 0, f"the published table should be consistent: {res.message}"
                got.append(sign * res.fun)
        out[(r, name)] = Range(got[0], got[1])
    return out


def csr_vstack(top: csr_matrix, extra_columns: int, bottom: csr_matrix | None) -> csr_matrix:
    """``top`` widened by zero columns, with ``bottom`` under it."""
    from scipy.sparse import hstack, vstack

    wide = hstack([top, csr_matrix((top.shape[0], extra_columns))], format="csr")
    return wide if bottom is None else vstack([wide, bottom], format="csr")


def _sparse(rows: list[dict[int, float]], width: int) -> csr_matrix | None:
    if not rows:
        return None
    ii = [i for i, e in enumerate(rows) for _ in e]
    jj = [j for e in rows for j in e]
    vv = [v for e in rows for v in e.values()]
    return csr_matrix((vv, (ii, jj)), shape=(len(rows), width))


def small_cells(indicator: Indicator, raw: pd.DataFrame, published: pd.DataFrame, threshold: int
                ) -> list[tuple[int, str]]:
    """The masked cells (position in ``published``, patient column) whose true count is under the threshold.

    Rows are matched on their dimensions; a published row absent from ``raw`` (a zero the gate added) counts 0.
    """
    dims = indicator.dimension_columns
    truth = raw.set_index(dims)
    found = []
    for pos, (_, row) in enumerate(published.reset_index(drop=True).iterrows()):
        key = tuple(row[d] for d in dims)
        for name in indicator.patients:
            if not pd.isna(row[name]):
                continue
            value = truth.loc[key, name] if key in truth.index else 0
            if value < threshold:
                found.append((pos, name))
    return found


def unprotected(indicator: Indicator, raw: pd.DataFrame, published: pd.DataFrame, geo_parent: Mapping[str, str],
                threshold: int = 11, count_rounding: int = 1) -> dict[tuple[int, str], Range]:
    """Small masked cells whose derived range does not cover the protection interval [0, threshold - 1]."""
    targets = small_cells(indicator, raw, published, threshold)
    if not targets:
        return {}
    dims = indicator.dimension_columns
    truth = raw.set_index(dims)
    frame = published.reset_index(drop=True)
    classes = {}
    for pos in range(len(frame)):
        key = tuple(frame.loc[pos, d] for d in dims)
        for name in indicator.patients:
            value = truth.loc[key, name] if key in truth.index else 0
            classes[(pos, name)] = "zero" if value == 0 else "small" if value < threshold else "large"
    ranges = attack(indicator, frame, geo_parent, threshold=threshold, count_rounding=count_rounding,
                    classes=classes, cells=targets, cover=(0.0, threshold - 1.0))
    return {cell: rng for cell, rng in ranges.items() if not rng.covers(0.0, threshold - 1.0)}


# --- the APL ------------------------------------------------------------------------------------------------------
def apl_weights(communes: pd.DataFrame, params: Any) -> pd.DataFrame:
    """(origine, destination, w) from public coordinates and the documented approximation (apl.APPROXIMATION)."""
    lat = np.radians(communes["latitude"].to_numpy(dtype=float))
    lon = np.radians(communes["longitude"].to_numpy(dtype=float))
    codes = communes["code_insee"].to_numpy()
    dphi = lat[:, None] - lat[None, :]
    dlmb = lon[:, None] - lon[None, :]
    h = np.sin(dphi / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlmb / 2) ** 2
    km = 2 * 6371.0088 * np.arcsin(np.sqrt(h))
    minutes = km * params.detour_factor / params.speed_kmh * 60.0
    np.fill_diagonal(minutes, 0.0)
    w = np.zeros_like(minutes)
    for bound, weight in reversed(params.decay):
        w[minutes <= bound] = weight
    w[minutes > params.catchment_minutes] = 0.0
    o, d = np.nonzero(w)
    return pd.DataFrame({"origine": codes[o], "destination": codes[d], "w": w[o, d]})


def apl_fte_ranges(published: pd.DataFrame, raw: pd.DataFrame, communes: pd.DataFrame, params: Any,
                   fte_max: float) -> dict[str, Range]:
    """Ranges of the masked GP FTE derived from the published APL scores and flags.

    A strong attacker: it is given the exact standardised populations and the unmasked FTE unrounded.
    """
    pairs = apl_weights(communes, params)
    demand = raw.set_index("code_geo")["population_standardisee"].astype(float)
    pairs = pairs[pairs.origine.isin(demand.index) & pairs.destination.isin(demand.index)]
    weighted = (pairs.assign(p=pairs.origine.map(demand)).eval("wp = w * p").groupby("destination")["wp"].sum())
    pub = published.set_index("code_geo")
    fte_raw = raw.set_index("code_geo")["medecins_etp"].astype(float)
    masked = [c for c in pub.index if pd.isna(pub.loc[c, "medecins_etp"])]
    if not masked:
        return {}
    var = {c: n for n, c in enumerate(masked)}
    ub: list[dict[int, float]] = []
    rhs: list[float] = []
    for origin, group in pairs.groupby("origine"):
        apl = pub.loc[origin, "apl"]
        flag = pub.loc[origin, "desert"]
        coeffs: dict[int, float] = {}
        known = 0.0
        for dest, w in zip(group.destination, group.w, strict=True):
            if weighted.get(dest, 0.0) <= 0:
                continue
            a = w * params.consultations_per_fte / weighted[dest]
            if dest in var:
                coeffs[var[dest]] = coeffs.get(var[dest], 0.0) + a
            else:
                known += a * fte_raw[dest]
        if not coeffs:
            continue
        if not pd.isna(apl):
            ub.append(coeffs)
            rhs.append(float(apl) + 0.005 + 1e-9 - known)
            ub.append({k: -v for k, v in coeffs.items()})
            rhs.append(-(float(apl) - 0.005 - 1e-9 - known))
        elif not pd.isna(flag):
            if int(flag) == 1:  # apl < threshold
                ub.append(coeffs)
                rhs.append(params.desert_threshold - known)
            else:
                ub.append({k: -v for k, v in coeffs.items()})
                rhs.append(-(params.desert_threshold - known))
    a_ub = _sparse(ub, len(var))
    out: dict[str, Range] = {}
    for code, n in var.items():
        got = []
        for sign in (1.0, -1.0):
            c = np.zeros(len(var))
            c[n] = sign
            res = linprog(c, A_ub=a_ub, b_ub=rhs or None, bounds=[(0.0, fte_max)] * len(var), method="highs")
            assert res.status == 0, res.message
            got.append(sign * res.fun)
        out[code] = Range(got[0], got[1])
    return out
