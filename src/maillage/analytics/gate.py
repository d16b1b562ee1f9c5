"""The confidentiality gate: every aggregate leaving the warehouse (page, export, API) goes through ``publish``.

Rules (DOMAIN.md §7.4; research/health-data.md §6):

1. **Primary suppression.** A cell counting fewer than ``threshold`` distinct patients (default 11, the CASD rule
   for the PMSI and the HDH practice "Les effectifs inférieurs à 11 ne sont pas restitués") is masked, on the raw
   count, before any rounding. Zero is a small cell (``mask_zero``): a published zero tells something of every
   member of the group and pins a term of each margin it is in. Rows an activity table leaves out (a commune or a
   month without activity) are added as zeros first (``densify``), as their absence would publish the zero.
2. **Secondary suppression, checked by linear programming.** The published table contains its own margins (commune
   → département → territory, month → year, age band → all ages, line or programme → all). Every margin equation
   with exactly one masked term gets a second one (the smallest cell), and a linear-algebra pass masks more until no
   masked cell is determined. Then the attacker of finding 3 is run inside the gate (``protection_shortfalls``):
   from every published value, every margin (equalities, or for distinct patients along months and groups the
   bounds max(children) <= parent <= sum(children)), the indicator's row relations (``Indicator.relations``) and
   non-negativity, HiGHS minimises and maximises each small count; one more cell is masked in a margin of every
   count whose range does not cover the **protection interval [0, threshold - 1]**, until none falls short.
3. **Dependent measures.** Every measure of a masked cell is masked, its population included (published, it bounds
   the count: patients <= population); a rate standardised over age bands is masked when one of its bands is. The
   published label is the same for every masked cell (``secret``): "primary" would say 0 to 10, "secondary" at
   least 11, bounds the attacker would add to its program.
4. **No identifiers.** Only the indicator's declared dimensions and measures leave; a result carrying an identifier
   or a potential identifier (patient or professional pseudonyms, birth or care dates …) is refused.
5. **Professionals.** A measure of professional activity (GP FTE) is masked where one or two professionals
   contribute; their count stays in the warehouse. A measure that sums such activity with known weights (the APL:
   linear in the supplies within reach) is masked wherever a masked supply contributes, with the flag derived from
   it (the désert médical class), as the published scores would give the masked FTE back.
6. **Selections, not new sums.** Filters (territory, period) select rows of the gated table computed once on the
   whole territory: two overlapping queries reveal nothing the full gated table does not.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from maillage.analytics.indicators import ALL_AGES, TOTAL, Indicator, Measure
from maillage.exceptions import ValidationFailed

PROFESSIONALS = "professionnels"
SECRET_COLUMN = "secret"  # noqa: S105 - a column name (statistical secrecy), not a password
# The one label a masked cell carries: whether it was masked as small (primary) or to protect another (secondary)
# is not published, as it would tell the attacker "under 11" or "at least 11", bounds a linear program would use.
MASKED = "secret"
LP_TOLERANCE = 1e-6

# Identifiers and potential identifiers (essentiel_snds.md: "commune de résidence, année et mois de naissance, date
# de soins, date de décès"; professional identifiers "même avec un identifiant … crypté"). Commune of residence
# is published only as an aggregation level, never next to an individual.
FORBIDDEN_COLUMNS = frozenset({
    "BEN_NIR_PSA", "BEN_NIR_ANO", "BEN_IDT_ANO", "BEN_NIR_TOT", "NIR_ANO_17", "NIR_ANO_MAM", "NUM_ENQ",
    "BEN_RNG_GEM", "BEN_NAI_ANN", "BEN_NAI_MOI", "BEN_DCD_DTE", "EXE_SOI_DTD", "EXE_SOI_DTF",
    "PFS_EXE_NUM", "PFS_PRE_NUM", "PFS_PFS_NUM", "PRS_MTT_NUM", "RSA_NUM", "DCT_ORD_NUM",
    "patient", "patient_pseudonyme", "patient_id", "nir", "ins", "date_naissance", "date_acte", "date_deces",
    "professionnel_pseudonyme", "rpps",
})
META_COLUMNS = ("annee", "source", "version_parametres")
AUDIT_DENSE_LIMIT = 2500


@dataclass(frozen=True)
class GateConfig:
    threshold: int = 11
    # Zero cells are small cells: a published zero says something of every member of the group (none of the 12
    # inhabitants of a commune's oldest band saw a GP) and pins a term of every margin it is in, which narrows
    # the masked cells around it (finding 3). Rows absent from the result (no activity) are added as zeros first.
    mask_zero: bool = True
    count_rounding: int = 1  # publish counts rounded to this base (applied after masking)
    # A measure describing the activity of professionals (GP FTE) is masked when 1 or 2 of them contribute:
    # published, it would give one practitioner's activity (or, with two, each one's to the other).
    professional_threshold: int = 3

    def __post_init__(self) -> None:
        if self.threshold < 2:
            raise ValidationFailed("Le seuil de secret statistique doit être d'au moins 2.")
        if self.count_rounding < 1:
            raise ValidationFailed("La base d'arrondi doit être d'au moins 1.")


@dataclass
class GatedTable:
    indicator: Indicator
    frame: pd.DataFrame  # published values: masked measures are missing, ``secret`` says why
    report: dict[str, Any] = field(default_factory=dict)
    geo_parent: Mapping[str, str] = field(default_factory=dict)
    # Why each row is masked, for tests and the warehouse's own report: never published cell by cell.
    primary: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    secondary: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def select(self, *, departement: str | None = None, communes: Iterable[str] | None = None,
               periodes: Iterable[str] | None = None, niveaux_geo: Iterable[str] | None = None) -> pd.DataFrame:
        """Rows of the gated table: never a new aggregate, only a selection of published cells and margins."""
        frame = self.frame
        if "code_geo" in frame.columns:
            keep = pd.Series(True, index=frame.index)
            if departement:
                in_dep = frame["code_geo"].map(lambda c: self.geo_parent.get(c) == departement)
                keep &= (
                    ((frame["niveau_geo"] == "commune") & in_dep)
                    | ((frame["niveau_geo"] == "departement") & (frame["code_geo"] == departement))
                    | (frame["niveau_geo"] == "territoire")
                )
            if communes is not None:
                wanted = set(communes)
                keep &= (frame["niveau_geo"] != "commune") | frame["code_geo"].isin(wanted)
            if niveaux_geo is not None:
                keep &= frame["niveau_geo"].isin(set(niveaux_geo))
            frame = frame[keep]
        if periodes is not None and "periode" in frame.columns:
            wanted_p = set(periodes)
            frame = frame[frame["periode"].isin(wanted_p)]
        return frame.reset_index(drop=True)


def check_columns(indicator: Indicator, frame: pd.DataFrame) -> list[str]:
    """The columns allowed out; an identifier anywhere in the result is an error, not something to drop quietly."""
    leaking = sorted(c for c in frame.columns if c in FORBIDDEN_COLUMNS or c.upper() in FORBIDDEN_COLUMNS)
    if leaking:
        raise ValidationFailed(
            "Résultat refusé par le contrôle de confidentialité : il contient des identifiants ou des "
            f"identifiants potentiels ({', '.join(leaking)})."
        )
    allowed = [*indicator.dimension_columns, *indicator.measure_names, *META_COLUMNS]
    missing = [c for c in [*indicator.dimension_columns, *indicator.measure_names] if c not in frame.columns]
    if missing:
        raise ValidationFailed(f"Résultat incomplet : colonnes absentes ({', '.join(missing)}).")
    return [c for c in allowed if c in frame.columns]


# --- the margin equations ---------------------------------------------------------------------------------------
def _parent_value(dim: str, level: str, value: str, geo_parent: Mapping[str, str]) -> tuple[str, str] | None:
    if dim == "geo":
        if level == "commune":
            dep = geo_parent.get(value)
            return ("departement", dep) if dep else None
        if level == "departement":
            return ("territoire", TOTAL)
        return None
    if dim == "periode":
        return ("annee", value[:4]) if level == "mois" else None
    if dim == "age":
        return ("", ALL_AGES) if value != ALL_AGES else None
    if dim.startswith("group:"):
        return ("", TOTAL) if value != TOTAL else None
    return None


def margin_equations_by_dim(indicator: Indicator, frame: pd.DataFrame, geo_parent: Mapping[str, str]
                            ) -> list[tuple[int, list[int], str]]:
    """(parent row, child rows, dimension) for every published margin."""
    dims = indicator.dimensions
    keys: list[tuple[str, ...]] = []
    for row in frame.itertuples(index=False):
        k: list[str] = []
        if "geo" in dims:
            k += [row.niveau_geo, row.code_geo]
        if "periode" in dims:
            k += [row.niveau_periode, row.periode]
        if "age" in dims:
            k += ["", row.tranche_age]
        for group in indicator.groups:
            k += ["", getattr(row, group)]
        keys.append(tuple(k))
    index = {k: i for i, k in enumerate(keys)}
    ordered = [*(d for d in ("geo", "periode", "age") if d in dims), *(f"group:{g}" for g in indicator.groups)]
    slots = {d: 2 * n for n, d in enumerate(ordered)}
    children: dict[tuple[int, str], list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        for dim, pos in slots.items():
            parent = _parent_value(dim, key[pos], key[pos + 1], geo_parent)
            if parent is None:
                continue
            pk = list(key)
            pk[pos], pk[pos + 1] = parent[0], parent[1]
            j = index.get(tuple(pk))
            if j is not None:
                children[(j, dim)].append(i)
    return [(parent, kids, dim) for (parent, dim), kids in children.items()]


def margin_equations(indicator: Indicator, frame: pd.DataFrame, geo_parent: Mapping[str, str]
                     ) -> list[tuple[int, list[int]]]:
    """(parent row, child rows) for every published margin: parent = sum of children, for additive measures."""
    return [(parent, kids) for parent, kids, _dim in margin_equations_by_dim(indicator, frame, geo_parent)]


def additive(measure: Measure, dim: str) -> bool:
    """Whether a margin of ``measure`` along ``dim`` is the sum of its children.

    Counts of acts, days, requests and populations add up along every dimension. A distinct-patient count adds up
    over communes and age bands (a patient has one commune and one band in a year) but not over months, lines or
    programmes, where one patient may appear in several children: there the margin lies between the largest
    child and the sum of the children.
    """
    if measure.kind in ("count", "population"):
        return True
    return dim in ("geo", "age")


def lp_measures(indicator: Indicator) -> list[Measure]:
    """The measures the linear-programming audit models: counts, distinct patients and populations."""
    return [m for m in indicator.measures if m.kind in ("patients", "count", "population") and m.decimals is None]


# --- suppression --------------------------------------------------------------------------------------------------
def determinable_cells(masked: np.ndarray, equations: Sequence[tuple[int, list[int]]]) -> set[int]:
    """Masked cells whose value follows from the published equations (the published cells being known).

    A masked cell x_i is determined iff the unit vector e_i lies in the row space of the equations restricted to
    the masked cells, i.e. iff every vector of their null space has a zero i-th component.
    """
    masked_idx = np.flatnonzero(masked)
    if masked_idx.size == 0:
        return set()
    position = {int(c): n for n, c in enumerate(masked_idx)}
    rows: list[dict[int, float]] = []
    for parent, kids in equations:
        coeffs: dict[int, float] = {}
        if parent in position:
            coeffs[position[parent]] = 1.0
        for kid in kids:
            if kid in position:
                coeffs[position[kid]] = coeffs.get(position[kid], 0.0) - 1.0
        if coeffs:
            rows.append(coeffs)
    # Connected components of masked cells linked by an equation.
    parent_of = list(range(masked_idx.size))

    def find(a: int) -> int:
        while parent_of[a] != a:
            parent_of[a] = parent_of[parent_of[a]]
            a = parent_of[a]
        return a

    for coeffs in rows:
        cols = list(coeffs)
        for c in cols[1:]:
            ra, rb = find(cols[0]), find(c)
            if ra != rb:
                parent_of[ra] = rb
    groups: dict[int, list[int]] = defaultdict(list)
    for n in range(masked_idx.size):
        groups[find(n)].append(n)
    rows_of: dict[int, list[dict[int, float]]] = defaultdict(list)
    for coeffs in rows:
        rows_of[find(next(iter(coeffs)))].append(coeffs)
    found: set[int] = set()
    for root, members in groups.items():
        eqs = rows_of.get(root, [])
        if not eqs:
            continue
        local = {m: n for n, m in enumerate(members)}
        matrix = np.zeros((len(eqs), len(members)))
        for r, coeffs in enumerate(eqs):
            for c, v in coeffs.items():
                matrix[r, local[c]] = v
        for n in _determined_columns(matrix):
            found.add(int(masked_idx[members[n]]))
    return found


def _determined_columns(matrix: np.ndarray) -> list[int]:
    n = matrix.shape[1]
    if n <= AUDIT_DENSE_LIMIT:
        # The thin SVD's leading right singular vectors span the row space: cell i is determined iff e_i lies in it,
        # i.e. iff its leverage Σ_k vt[k, i]² is 1 (its null-space component, of squared norm 1 − leverage, is 0).
        # The thin SVD costs far less than the full one when there are fewer equations than masked cells.
        _, s, vt = np.linalg.svd(matrix, full_matrices=False)
        tol = max(matrix.shape) * np.finfo(float).eps * (s[0] if s.size else 1.0) * 10
        rank = int((s > tol).sum())
        if rank == n:
            return list(range(n))
        leverage = (vt[:rank] ** 2).sum(axis=0)
        # A null-space component under 1e-6 counts as zero (same bound as the iterative path): errs towards masking.
        return [i for i in range(n) if 1.0 - leverage[i] < 1e-12]
    # Large components: project random vectors on the null space with an iterative least-squares solver.
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import lsqr

    sparse = csr_matrix(matrix)
    rng = np.random.default_rng(0)
    stacked = []
    for _ in range(3):
        r = rng.standard_normal(n)
        u = lsqr(sparse.T, r, atol=1e-14, btol=1e-14, iter_lim=20 * n)[0]
        stacked.append(r - sparse.T @ u)
    z = np.abs(np.column_stack(stacked))
    return [i for i in range(n) if z[i].max() < 1e-6]


def suppress(patients: np.ndarray, equations: Sequence[tuple[int, list[int]]], config: GateConfig,
             start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Primary and secondary masks over the cells, given the margin equations.

    ``patients`` holds one column of distinct-patient counts per population the cell's measures describe; a
    cell is primary-masked when any of them is small (raw counts: nothing is rounded before this).
    """
    matrix = np.asarray(patients, dtype=np.int64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    low = matrix < config.threshold
    small = low if config.mask_zero else low & (matrix > 0)
    primary: np.ndarray = np.asarray(small.any(axis=1), dtype=bool)
    counts = matrix[:, 0]
    masked: np.ndarray = primary | start if start is not None else primary.copy()
    members = [[parent, *kids] for parent, kids in equations]

    def cheapest(cells: list[int]) -> int | None:
        candidates = [c for c in cells if not masked[c]]
        if not candidates:
            return None
        nonzero = [c for c in candidates if counts[c] > 0]
        pool = nonzero or candidates
        return min(pool, key=lambda c: (counts[c], c))

    for _ in range(10_000):
        changed = False
        for cells in members:
            if sum(bool(masked[c]) for c in cells) == 1:
                extra = cheapest(cells)
                if extra is not None:
                    masked[extra] = True
                    changed = True
        if changed:
            continue
        exposed = determinable_cells(masked, equations)
        if not exposed:
            break
        for cell in sorted(exposed):
            for cells in members:
                if cell in cells:
                    extra = cheapest(cells)
                    if extra is not None:
                        masked[extra] = True
                        changed = True
                        break
        if not changed:  # nothing left to mask around them: hide the exposed cells' equations entirely
            for cell in exposed:
                for cells in members:
                    if cell in cells:
                        masked[cells] = True
            break
    secondary: np.ndarray = masked & ~primary
    return primary, secondary


def small_cells(patients: np.ndarray, config: GateConfig) -> np.ndarray:
    """Per row and patient column: the counts under the threshold (zero included unless ``mask_zero`` is off)."""
    matrix = np.asarray(patients, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    low = matrix < config.threshold
    return low if config.mask_zero else low & (matrix > 0)


def densify(indicator: Indicator, frame: pd.DataFrame, geo_parent: Mapping[str, str]) -> pd.DataFrame:
    """Add the rows an activity table leaves out (a commune, month or line without activity) as zeros.

    An absent row is a published zero: the analyst knows the communes of each département and the months of the
    year. Added, it is masked like any small cell. Communes come from ``geo_parent`` (those of the départements
    in the table) and from the table; months, bands and groups from the table.
    """
    axes: list[list[tuple[str, ...]]] = []
    key_columns: list[str] = []
    dims = indicator.dimensions
    if "geo" in dims:
        present = set(zip(frame["niveau_geo"], frame["code_geo"], strict=True))
        deps = {c for level, c in present if level == "departement"}
        present |= {("commune", c) for c, d in geo_parent.items() if d in deps}
        axes.append(sorted(present))
        key_columns += ["niveau_geo", "code_geo"]
    if "periode" in dims:
        axes.append(sorted(set(zip(frame["niveau_periode"], frame["periode"], strict=True))))
        key_columns += ["niveau_periode", "periode"]
    if "age" in dims:
        axes.append(sorted((v,) for v in set(frame["tranche_age"])))
        key_columns += ["tranche_age"]
    for group in indicator.groups:
        axes.append(sorted((v,) for v in set(frame[group])))
        key_columns += [group]
    existing = set(map(tuple, frame[key_columns].astype(str).to_numpy().tolist()))
    missing = [sum(combo, ()) for combo in itertools.product(*axes)]
    missing = [k for k in missing if tuple(map(str, k)) not in existing]
    if not missing:
        return frame
    added = pd.DataFrame(missing, columns=key_columns)
    for m in indicator.measures:
        added[m.name] = 0 if m.decimals is None and m.kind != "ratio" else np.nan
    for column in frame.columns:
        if column not in added.columns:
            added[column] = frame[column].iloc[0] if column in META_COLUMNS else ""
    return pd.concat([frame, added[frame.columns]], ignore_index=True)


def protection_shortfalls(indicator: Indicator, values: pd.DataFrame, masked: np.ndarray, small: np.ndarray,
                          equations: Sequence[tuple[int, list[int], str]], config: GateConfig,
                          cache: dict[frozenset[int], list[int]] | None = None) -> list[int]:
    """Rows with a small patient count that a linear program narrows below the protection interval.

    The attacker knows every published value, every margin (equal to the sum of its children for an additive
    measure, between the largest child and their sum for distinct patients along months or groups), the
    indicator's row relations, and that every masked value is at least 0. For each small count of a masked row,
    HiGHS minimises and maximises it; the row falls short unless the range covers [0, threshold - 1].
    """
    measures = lp_measures(indicator)
    names = [m.name for m in measures]
    data = values[names].to_numpy(dtype=np.float64)
    patient_pos = [names.index(p) for p in indicator.patients]
    masked_rows = np.flatnonzero(masked)
    if masked_rows.size == 0:
        return []
    # Components of masked rows linked by a margin.
    comp_of = {int(r): int(r) for r in masked_rows}

    def find(a: int) -> int:
        while comp_of[a] != a:
            comp_of[a] = comp_of[comp_of[a]]
            a = comp_of[a]
        return a

    touching: list[tuple[int, list[int], str]] = []
    for parent, kids, dim in equations:
        hidden = [c for c in (parent, *kids) if masked[c]]
        if not hidden:
            continue
        touching.append((parent, kids, dim))
        for c in hidden[1:]:
            ra, rb = find(hidden[0]), find(c)
            if ra != rb:
                comp_of[ra] = rb
    groups: dict[int, list[int]] = defaultdict(list)
    for r in masked_rows:
        groups[find(int(r))].append(int(r))
    eqs_of: dict[int, list[tuple[int, list[int], str]]] = defaultdict(list)
    for eq in touching:
        first = next(c for c in (eq[0], *eq[1]) if masked[c])
        eqs_of[find(first)].append(eq)
    short: list[int] = []
    for root, rows in groups.items():
        targets = [(r, k) for r in rows for k, pos in enumerate(patient_pos) if small[r, k]]
        if not targets:
            continue
        key = frozenset(rows)
        if cache is not None and key in cache:
            short += cache[key]
            continue
        var = {(r, j): n for n, (r, j) in enumerate(itertools.product(rows, range(len(names))))}
        eq_rows: list[dict[int, float]] = []
        eq_rhs: list[float] = []
        ub_rows: list[dict[int, float]] = []
        ub_rhs: list[float] = []

        def add(target: list[dict[int, float]], rhs: list[float], terms: list[tuple[int, int, float]],
                var: dict[tuple[int, int], int] = var) -> None:
            coeffs: dict[int, float] = {}
            constant = 0.0
            for r, j, c in terms:
                if masked[r]:
                    coeffs[var[(r, j)]] = coeffs.get(var[(r, j)], 0.0) + c
                else:
                    constant += c * data[r, j]
            if coeffs:
                target.append(coeffs)
                rhs.append(-constant)

        for parent, kids, dim in eqs_of.get(root, []):
            for j, m in enumerate(measures):
                if additive(m, dim):
                    add(eq_rows, eq_rhs, [(parent, j, 1.0), *((k, j, -1.0) for k in kids)])
                else:
                    add(ub_rows, ub_rhs, [(parent, j, 1.0), *((k, j, -1.0) for k in kids)])
                    for k in kids:
                        add(ub_rows, ub_rhs, [(k, j, 1.0), (parent, j, -1.0)])
        for lhs, rhs_names, factor in indicator.relations:
            if not all(n in names for n in (*lhs, *rhs_names)):
                continue
            for row in rows:
                add(ub_rows, ub_rhs, [*((row, names.index(n), 1.0) for n in lhs),
                                      *((row, names.index(n), -factor) for n in rhs_names)])

        a_eq, a_ub = _sparse(eq_rows, len(var)), _sparse(ub_rows, len(var))
        found = _short_targets([var[(r, patient_pos[k])] for r, k in targets], [r for r, _ in targets], len(var),
                               a_eq, eq_rhs, a_ub, ub_rhs, config.threshold - 1)
        if cache is not None:
            cache[key] = sorted(found)
        short += sorted(found)
    return sorted(set(short))


def _short_targets(columns: list[int], rows: list[int], width: int, a_eq: Any, b_eq: list[float], a_ub: Any,
                   b_ub: list[float], top: float) -> set[int]:
    """The rows whose target column cannot reach both 0 and ``top`` in the polyhedron.

    Batch programs first: minimise the sum of the targets (each target at 0 passes its lower side), and maximise the
    sum of y_i <= min(x_i, top) (each y_i at ``top`` passes its upper side), again on the targets left until a round
    passes none. Only the targets left then are minimised or maximised one by one.
    """
    from scipy.optimize import linprog
    from scipy.sparse import hstack, identity, vstack

    def solve(c: np.ndarray, a_ub_: Any, b_ub_: list[float], a_eq_: Any, bounds: Any) -> Any:
        return linprog(c, A_ub=a_ub_, b_ub=b_ub_ or None, A_eq=a_eq_, b_eq=b_eq or None, bounds=bounds,
                       method="highs")

    found: set[int] = set()
    need_low = set(range(len(columns)))
    while need_low:  # each round puts at 0 every target it can at once; the next round tries the others
        c = np.zeros(width)
        c[[columns[n] for n in need_low]] = 1.0
        res = solve(c, a_ub, b_ub, a_eq, (0, None))
        reached = {n for n in need_low if res.status == 0 and res.x[columns[n]] <= LP_TOLERANCE}
        if not reached:
            break
        need_low -= reached
    need_high = set(range(len(columns)))
    while need_high:  # maximise the sum of y_n <= x_col, 0 <= y_n <= top over the targets not yet at the top
        order = sorted(need_high)
        k = len(order)
        link = hstack([_sparse([{columns[n]: -1.0} for n in order], width), identity(k, format="csr")],
                      format="csr")
        widened_ub = link if a_ub is None else vstack([_pad(a_ub, k), link], format="csr")
        widened_eq = None if a_eq is None else _pad(a_eq, k)
        c2 = np.concatenate([np.zeros(width), -np.ones(k)])
        res = solve(c2, widened_ub, [*b_ub, *([0.0] * k)], widened_eq, [(0, None)] * width + [(0, top)] * k)
        reached = {n for i, n in enumerate(order) if res.status == 0 and res.x[width + i] >= top - LP_TOLERANCE}
        if not reached:
            break
        need_high -= reached
    for n in sorted(set(need_low) | set(need_high)):
        c = np.zeros(width)
        for sign, goal, needed in ((1.0, 0.0, need_low), (-1.0, top, need_high)):
            if n not in needed:
                continue
            c[columns[n]] = sign
            res = solve(c, a_ub, b_ub, a_eq, (0, None))
            if res.status == 3:  # unbounded: the maximum is as wide as can be
                continue
            if res.status != 0:  # infeasible or failed: count it short (the safe side)
                found.add(rows[n])
                break
            reached = sign * res.fun
            if (sign > 0 and reached > goal + LP_TOLERANCE) or (sign < 0 and reached < goal - LP_TOLERANCE):
                found.add(rows[n])
                break
    return found


def _pad(matrix: Any, extra: int) -> Any:
    from scipy.sparse import csr_matrix, hstack

    return hstack([matrix, csr_matrix((matrix.shape[0], extra))], format="csr")


def _sparse(entries: list[dict[int, float]], width: int) -> Any:
    from scipy.sparse import csr_matrix

    if not entries:
        return None
    ii = [i for i, e in enumerate(entries) for _ in e]
    jj = [j for e in entries for j in e]
    vv = [v for e in entries for v in e.values()]
    return csr_matrix((vv, (ii, jj)), shape=(len(entries), width))


def protect(indicator: Indicator, values: pd.DataFrame, masked: np.ndarray, small: np.ndarray,
            equations: Sequence[tuple[int, list[int], str]], config: GateConfig) -> tuple[np.ndarray, list[int]]:
    """Mask more cells until the linear-programming attacker leaves every small count its protection interval.

    Each row that falls short gets one more masked cell in one of its margins (the smallest non-zero count, so the
    cheapest); a row whose margins are all masked already gets the whole of its component's margins masked.
    Returns the mask and the rows still short (none in practice: an all-masked table leaves every range open).
    """
    masked = masked.copy()
    counts = values[indicator.patients[0]].to_numpy(dtype=np.float64)
    patients = values[list(indicator.patients)].to_numpy()
    plain = [(parent, kids) for parent, kids, _dim in equations]
    members_of: dict[int, list[list[int]]] = defaultdict(list)
    for parent, kids, _dim in equations:
        cells = [parent, *kids]
        for c in cells:
            members_of[c].append(cells)
    cache: dict[frozenset[int], list[int]] = {}
    short: list[int] = []
    for _ in range(max(10, len(values))):
        short = protection_shortfalls(indicator, values, masked, small, equations, config, cache)
        if not short:
            break
        changed = False
        for row in short:
            candidates = sorted({c for cells in members_of[row] for c in cells if not masked[c]},
                                key=lambda c: (counts[c] <= 0, counts[c], c))
            if candidates:
                masked[candidates[0]] = True
                changed = True
        if changed:
            # A newly masked cell may be alone in another margin: pair it again (rule 2's first pass).
            primary, secondary = suppress(patients, plain, config, start=masked)
            masked = primary | secondary
            continue
        for row in short:  # no margin of theirs has a published cell left: widen to the margins of the margins
            for cells in members_of[row]:
                for c in cells:
                    for outer in members_of[c]:
                        if not masked[outer].all():
                            masked[outer] = True
                            changed = True
        if not changed:
            break
    return masked, short


def publish(indicator: Indicator, frame: pd.DataFrame, *, config: GateConfig | None = None,
            geo_parent: Mapping[str, str] | None = None) -> GatedTable:
    """Apply the gate to a raw indicator result computed on the whole territory."""
    config = config or GateConfig()
    geo_parent = dict(geo_parent or {})
    columns = check_columns(indicator, frame)
    out = frame[columns].copy().reset_index(drop=True)
    guarded = np.zeros(len(out), dtype=bool)
    for measure, count_column in indicator.professionals:
        counts = pd.to_numeric(frame[count_column]).fillna(0).to_numpy() if count_column in frame.columns \
            else np.ones(len(out))  # no count given: assume the worst
        hidden = (counts > 0) & (counts < config.professional_threshold)
        out[measure] = out[measure].astype("float64").where(~hidden)
        guarded |= hidden
    report: dict[str, Any] = {"seuil": config.threshold, "arrondi_effectifs": config.count_rounding,
                              "cellules": len(out), "masquees_primaires": 0, "masquees_secondaires": 0}
    measures = {m.name: m for m in indicator.measures}
    out[SECRET_COLUMN] = ""
    primary = secondary = np.zeros(len(out), dtype=bool)
    if indicator.patients and len(out):
        if config.mask_zero:
            out = densify(indicator, out, geo_parent)
            report["cellules"] = len(out)
        by_dim = margin_equations_by_dim(indicator, out, geo_parent)
        equations = [(parent, kids) for parent, kids, _dim in by_dim]
        patients = out[list(indicator.patients)].to_numpy()
        primary, secondary = suppress(patients, equations, config)
        small = small_cells(patients, config)
        masked, short = protect(indicator, out, primary | secondary, small, by_dim, config)
        secondary = masked & ~primary
        out.loc[masked, SECRET_COLUMN] = MASKED
        # Every measure of a masked cell is hidden, its population included: published, the population bounds the
        # masked count (patients <= population) and, with the margins, pins it (rule 3).
        for m in indicator.measures:
            out[m.name] = out[m.name].astype("float64").where(~masked)
        if "age" in indicator.dimensions and "taux_standardise" in measures:
            _mask_standardised(out, masked)
        report.update(masquees_primaires=int(primary.sum()), masquees_secondaires=int(secondary.sum()),
                      residuelles_calculables=len(determinable_cells(masked, equations)),
                      intervalle_protection=[0, config.threshold - 1], intervalles_insuffisants=len(short))
    if indicator.professionals:
        out.loc[guarded & (out[SECRET_COLUMN] == "").to_numpy(), SECRET_COLUMN] = PROFESSIONALS
        report["masquees_professionnels"] = int(guarded.sum())
    _round(out, indicator, config)
    return GatedTable(indicator, out, report, geo_parent, primary=primary, secondary=secondary)


def _mask_standardised(out: pd.DataFrame, masked: np.ndarray) -> None:
    """A standardised rate combines the band rates: hide it when one of its bands is hidden."""
    geo_keys = out.loc[masked & (out["tranche_age"] != ALL_AGES).to_numpy(), ["niveau_geo", "code_geo"]]
    hit = set(map(tuple, geo_keys.to_numpy().tolist()))
    in_hit = np.array([(a, b) in hit for a, b in zip(out["niveau_geo"], out["code_geo"], strict=True)], dtype=bool)
    rows = (out["tranche_age"] == ALL_AGES).to_numpy() & in_hit
    out.loc[rows, "taux_standardise"] = np.nan


def _round(out: pd.DataFrame, indicator: Indicator, config: GateConfig) -> None:
    for m in indicator.measures:
        if m.name not in out.columns:
            continue
        values = out[m.name].astype("float64")
        if m.decimals is None:
            if config.count_rounding > 1 and m.kind in ("patients", "count"):
                values = (np.floor(values / config.count_rounding + 0.5) * config.count_rounding)
            out[m.name] = values.round(0).astype("Int64")
        else:
            out[m.name] = values.round(m.decimals)
