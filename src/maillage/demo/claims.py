"""Synthetic SNDS: coherent multi-table claims, vectorised with numpy, written straight to Parquet in parts.

Everything produced here is FAKE and marked as such (Parquet metadata ``maillage.synthetic=true``, the manifest's
``"synthetic": true``, pseudonyms starting with ``SYN``). The chain is the SNDS one:

    communes (input) → beneficiaries IR_BEN_R living there → general practitioners and specialists DA_PRA_R
    → care lines ER_PRS_F with valid 9-column keys → detail rows ER_PHA_F / ER_ETE_F on those keys
    → hospital stays T_MCOB / T_MCOC / T_MCOD → teleconsultation and tele-expertise codes among the lines.

``rows`` is the exact number of ER_PRS_F lines. The lines include what the SNDS query rules exist for:
information-only duplicates (DPN_QLF = 71), complement lines (CPL_MAJ_TOP = 2), public-hospital lines billed
in T2A (ER_ETE_F.ETE_IND_TAA = 1), regularisations (negative quantities, cancelling or correcting a line) and
loads arriving up to 9 months after the care month. Memory stays bounded by the chunk size: lines are produced
and written chunk by chunk, beneficiaries by blocks.

Illustrative nomenclature values (pharmacy prestation code, specialities other than GPs, CIP codes, GHMs) are
plausible shapes, not a reference: the indicators only rely on the codes listed in ``snds``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.spatial import cKDTree

from maillage.analytics import snds
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import ValidationFailed
from maillage.kit.months import add_months

MIN_ROWS = 1_000
MAX_ROWS = 1_200_000_000
LINES_PER_BENEFICIARY = 18  # ~1.2 billion care sheets a year for ~67 million people
BENEFICIARIES_PER_GP = 1_100
DEFAULT_CHUNK = 2_000_000
PHARMACY_CODE = 3317  # illustrative pharmacy prestation nature
PHARMACIST_SPECIALITY = 50
SPECIALIST_SPECIALITIES = np.array([3, 4, 6, 7, 12, 15], dtype=np.int16)
GP_CONSULTATION = 1111
GP_CONSULTATION_G = 1098
GP_VISIT = 1211
SPECIALIST_CONSULTATION = 1112
TELECONSULTATION_GP = 1192  # TCG
TELECONSULTATION = 1191  # TC
TELEEXPERTISE_TE2 = 1194

# Line kinds and their shares among original lines.
KINDS = ("gp", "gp_visit", "specialist", "teleconsultation", "teleexpertise", "pharmacy")
KIND_SHARES = np.array([0.40, 0.03, 0.12, 0.03, 0.005, 0.415])
# Monthly load lag after the care month: P(lag = k), k = 0..9 (about 1 % arrives after 6 months).
FLUX_LAG_PROBS = np.array([0.50, 0.30, 0.09, 0.04, 0.03, 0.02, 0.01, 0.006, 0.002, 0.002])
# Extra lines, as shares of the original lines.
EXTRA_RATES = {"information": 0.02, "complement": 0.015, "cancel": 0.01, "correct": 0.01}
# Age bands used for the population pyramid (lower bounds) and relative consumption of care.
AGE_LOWER = np.array([0, 5, 15, 25, 35, 45, 55, 65, 75, 85])
AGE_SHARES = np.array([0.052, 0.118, 0.115, 0.115, 0.125, 0.13, 0.13, 0.11, 0.075, 0.03])
AGE_CONSUMPTION = np.array([1.6, 0.8, 0.6, 0.7, 0.8, 0.9, 1.1, 1.4, 1.9, 2.4])
DIAGNOSES = np.array(["I500", "J441", "E119", "I10", "S720", "K358", "O800", "N185", "C349", "R074", "I219",
                      "J189"])
GHMS = np.array(["05M091", "04M051", "10M151", "05M141", "08C471", "06C093", "14Z141", "11M041", "04M071",
                 "05K061"])
CIP13 = np.array([f"3400930{n:06d}" for n in (12345, 23456, 34567, 45678, 56789, 67890, 78901, 89012)])


@dataclass
class GenerationReport:
    rows: int
    seed: int
    year: int
    beneficiaries: int
    practitioners: int
    stays: int
    tables: dict[str, int] = field(default_factory=dict)


# --- pseudonyms ---------------------------------------------------------------------------------------------
_MASK56 = np.uint64((1 << 56) - 1)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _mix56(values: np.ndarray, salt: int) -> np.ndarray:
    """A bijection of [0, 2^56): distinct inputs give distinct pseudonyms (odd multipliers and xor-shifts)."""
    x = (values.astype(np.uint64) + np.uint64(salt)) & _MASK56
    x = (x * np.uint64(0x9E3779B97F4A7C15 | 1)) & _MASK56
    x ^= x >> np.uint64(29)
    x = (x * np.uint64(0xBF58476D1CE4E5B9 | 1)) & _MASK56
    x ^= x >> np.uint64(32)
    return x


def synthetic_ids(prefix: str, values: np.ndarray, salt: int = 0x2545F4914F6CDD) -> pa.Array:
    """Vectorised 17-character identifiers ``prefix`` + 14 hex digits, unique for distinct ``values``."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    width = 17 - head.size
    mixed = _mix56(values, salt)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    digits = ((mixed[:, None] >> shifts[None, :]) & np.uint64(0xF)).astype(np.uint8)
    buf = np.empty((values.size, 17), dtype=np.uint8)
    buf[:, : head.size] = head
    buf[:, head.size :] = _HEX[digits]
    offsets = np.arange(0, 17 * (values.size + 1), 17, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(values.size, pa.py_buffer(offsets), pa.py_buffer(buf.tobytes())).cast(
        pa.string()
    )


# --- the static world: beneficiaries, practitioners, establishments ------------------------------------------
@dataclass
class World:
    year: int
    communes: pd.DataFrame
    ben_commune: np.ndarray  # commune index of each beneficiary
    ben_birth_year: np.ndarray
    ben_cumweight: np.ndarray  # cumulative care intensity, for sampling lines
    ben_stay_cumweight: np.ndarray
    gp_commune: np.ndarray  # commune of practice of each GP
    gp_start: np.ndarray  # per commune: first GP of its practice commune, and how many
    gp_count: np.ndarray
    n_specialists: int
    etab_finess: np.ndarray
    etab_of_commune: np.ndarray  # nearest establishment of each commune

    @property
    def n_beneficiaries(self) -> int:
        return int(self.ben_commune.size)

    @property
    def n_gps(self) -> int:
        return int(self.gp_commune.size)


def _planar(communes: pd.DataFrame) -> np.ndarray:
    lat = np.radians(communes["latitude"].to_numpy())
    lon = np.radians(communes["longitude"].to_numpy())
    lat0 = float(np.mean(lat))
    return np.column_stack([6371.0 * lon * math.cos(lat0), 6371.0 * lat])


def _gp_communes(rng: np.random.Generator, pop: np.ndarray, n_gp: int, group: int,
                 practices: np.ndarray) -> np.ndarray:
    """The commune of practice of each GP, sorted.

    ``group`` 1: GPs scattered one by one, drawn towards the larger communes (population^1.3), so that many small
    towns have one or two. ``group`` > 1: GPs work in group practices of at least ``group`` doctors, drawn in
    proportion to the square root of the population (rural group practices too), with a practice in each commune
    of ``practices`` (indexes) first."""
    if group <= 1:
        weight = pop**1.3
        return np.sort(rng.choice(pop.size, size=n_gp, p=weight / weight.sum())).astype(np.int32)
    n_practices = max(1, n_gp // group, practices.size)
    spread = np.sqrt(pop)  # rural group practices too, as the maisons de santé are
    drawn = rng.choice(pop.size, size=max(0, n_practices - practices.size), p=spread / spread.sum())
    where = np.concatenate([practices.astype(np.int64), drawn])
    extra = max(0, n_gp - group * n_practices)
    sizes = group + rng.multinomial(extra, np.full(n_practices, 1.0 / n_practices))
    return np.sort(np.repeat(where, sizes)).astype(np.int32)


def build_world(communes: pd.DataFrame, rows: int, seed: int, year: int, *, gp_group: int = 1,
                practice_communes: tuple[str, ...] = ()) -> World:
    rng = np.random.default_rng([seed, 1])
    n_com = len(communes)
    n_ben = max(50, rows // LINES_PER_BENEFICIARY)
    pop = communes["population"].to_numpy(dtype=np.float64)
    counts = rng.multinomial(n_ben, pop / pop.sum())
    ben_commune = np.repeat(np.arange(n_com, dtype=np.int32), counts)
    band = rng.choice(AGE_LOWER.size, size=n_ben, p=AGE_SHARES / AGE_SHARES.sum())
    upper = np.append(AGE_LOWER[1:], 100)
    age = AGE_LOWER[band] + (rng.random(n_ben) * (upper[band] - AGE_LOWER[band])).astype(np.int64)
    ben_birth_year = (year - 1 - age).astype(np.int16)
    intensity = AGE_CONSUMPTION[band] * rng.gamma(shape=1.5, scale=1 / 1.5, size=n_ben)
    ben_cumweight = np.cumsum(intensity)
    stay_weight = AGE_CONSUMPTION[band] ** 2
    ben_stay_cumweight = np.cumsum(stay_weight)

    # GPs concentrate in the larger communes; every commune is served by its nearest commune having GPs.
    n_gp = max(1, n_ben // BENEFICIARIES_PER_GP)
    codes = communes["code_insee"].to_numpy()
    practices = np.flatnonzero(np.isin(codes, np.array(sorted(set(practice_communes)), dtype=object)))
    gp_commune = _gp_communes(rng, pop, n_gp, gp_group, practices)
    with_gp = np.unique(gp_commune)
    xy = _planar(communes)
    _, nearest = cKDTree(xy[with_gp]).query(xy, k=1)
    practice = with_gp[np.asarray(nearest, dtype=np.int64)]
    first = np.searchsorted(gp_commune, np.arange(n_com), side="left")
    last = np.searchsorted(gp_commune, np.arange(n_com), side="right")
    gp_start = first[practice]
    gp_count = (last - first)[practice]

    n_etab = max(1, n_com // 150)
    etab_commune = np.argsort(-pop, kind="stable")[:n_etab]
    _, etab_near = cKDTree(xy[etab_commune]).query(xy, k=1)
    deps = communes["departement"].to_numpy()
    etab_finess = np.array([f"{deps[c][:2]}9{i:06d}" for i, c in enumerate(etab_commune)])
    return World(
        year=year, communes=communes, ben_commune=ben_commune, ben_birth_year=ben_birth_year,
        ben_cumweight=ben_cumweight, ben_stay_cumweight=ben_stay_cumweight, gp_commune=gp_commune,
        gp_start=gp_start, gp_count=gp_count, n_specialists=max(1, int(n_gp * 0.8)),
        etab_finess=etab_finess, etab_of_commune=np.asarray(etab_near, dtype=np.int64),
    )


def _residence(world: World) -> tuple[pa.Array, pa.Array]:
    pairs = [snds.snds_residence(code) for code in world.communes["code_insee"]]
    return pa.array([p[0] for p in pairs]), pa.array([p[1] for p in pairs])


def _take(values: pa.Array | np.ndarray, index: np.ndarray) -> pa.Array:
    """Per-commune (or per-establishment) strings repeated along the rows, without Python loops."""
    array = values if isinstance(values, pa.Array) else pa.array(values)
    return array.take(pa.array(index))


def beneficiaries_table(world: World, start: int, stop: int, seed: int) -> pa.Table:
    rng = np.random.default_rng([seed, 2, start])
    idx = np.arange(start, stop, dtype=np.uint64)
    n = idx.size
    dpt, com = _residence(world)
    commune = world.ben_commune[start:stop]
    dead = rng.random(n) < 0.008
    death = np.full(n, np.datetime64(snds.MISSING_DATE_ISO), dtype="datetime64[D]")
    death[dead] = np.datetime64(f"{world.year}-01-01") + rng.integers(0, 365, dead.sum()).astype("timedelta64[D]")
    anonymous = synthetic_ids("SYN", idx, salt=0x5A5A)
    return pa.table({
        "BEN_NIR_PSA": synthetic_ids("SYN", idx),
        "BEN_RNG_GEM": pa.array(np.ones(n, dtype=np.int16)),
        "BEN_NIR_ANO": anonymous,
        "BEN_IDT_ANO": anonymous,
        "BEN_NAI_ANN": pa.array(world.ben_birth_year[start:stop]),
        "BEN_NAI_MOI": pa.array(rng.integers(1, 13, n).astype(np.int16)),
        "BEN_SEX_COD": pa.array(rng.integers(1, 3, n).astype(np.int16)),
        "BEN_DCD_DTE": pa.array(death),
        "BEN_RES_DPT": _take(dpt, commune),
        "BEN_RES_COM": _take(com, commune),
    }, schema=snds.IR_BEN_R.schema)


def practitioners_table(world: World) -> pa.Table:
    codes = world.communes["code_insee"].to_numpy()
    n_gp = world.n_gps
    gp_spe = np.where(np.arange(n_gp) % 25 == 0, 22, 1).astype(np.int16)
    rng = np.random.default_rng([world.year, 3])
    spe_commune = world.gp_commune[rng.integers(0, n_gp, world.n_specialists)]
    return pa.table({
        "PFS_PFS_NUM": pa.concat_arrays([
            synthetic_ids("SYNPS", np.arange(n_gp, dtype=np.uint64)),
            synthetic_ids("SYNPS", np.arange(n_gp, n_gp + world.n_specialists, dtype=np.uint64)),
        ]),
        "PFS_PRA_SPE": pa.array(np.concatenate([gp_spe, SPECIALIST_SPECIALITIES[
            np.arange(world.n_specialists) % SPECIALIST_SPECIALITIES.size]])),
        "PFS_EXC_COM": pa.array(np.concatenate([codes[world.gp_commune], codes[spe_commune]])),
    }, schema=snds.DA_PRA_R.schema)


# --- care lines -------------------------------------------------------------------------------------------------
def _month_start(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[M]").astype("datetime64[D]")


def _add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[M]") + months.astype("timedelta64[M]")).astype("datetime64[D]")


def lines_chunk(world: World, chunk_index: int, n_rows: int, first_serial: int, seed: int
                ) -> tuple[pa.Table, pa.Table, pa.Table]:
    """``n_rows`` ER_PRS_F lines (originals then extra lines), with their ER_PHA_F and ER_ETE_F rows."""
    rng = np.random.default_rng([seed, 10, chunk_index])
    total_rate = sum(EXTRA_RATES.values()) + EXTRA_RATES["correct"]  # a correction is two lines
    n_orig = max(1, int(n_rows / (1 + total_rate)))
    extra_counts = {k: int(v * n_orig) for k, v in EXTRA_RATES.items()}
    used = n_orig + sum(extra_counts.values()) + extra_counts["correct"]
    n_orig += n_rows - used
    if n_orig < 1:
        extra_counts = dict.fromkeys(EXTRA_RATES, 0)
        n_orig = n_rows

    # Originals.
    target = rng.random(n_orig) * world.ben_cumweight[-1]
    patient = np.minimum(np.searchsorted(world.ben_cumweight, target, side="right"), world.n_beneficiaries - 1)
    kind = rng.choice(len(KINDS), size=n_orig, p=KIND_SHARES / KIND_SHARES.sum())
    year_start = np.datetime64(f"{world.year}-01-01")
    days_in_year = (np.datetime64(f"{world.year + 1}-01-01") - year_start).astype(int)
    care = year_start + rng.integers(0, days_in_year, n_orig).astype("timedelta64[D]")
    lag = rng.choice(FLUX_LAG_PROBS.size, size=n_orig, p=FLUX_LAG_PROBS / FLUX_LAG_PROBS.sum())
    commune = world.ben_commune[patient]

    gp = world.gp_start[commune] + (rng.random(n_orig) * world.gp_count[commune]).astype(np.int64)
    platform = rng.random(n_orig) < 0.2
    gp_tc = np.where(platform, rng.integers(0, world.n_gps, n_orig), gp)
    specialist = world.n_gps + rng.integers(0, world.n_specialists, n_orig)
    pharmacy = rng.integers(0, max(1, world.n_gps), n_orig)
    executant = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
        [gp, gp, specialist, gp_tc, specialist], default=pharmacy,
    ).astype(np.uint64)
    exe_prefix_pharmacy = kind == 5
    nat = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
        [np.where(rng.random(n_orig) < 0.5, GP_CONSULTATION, GP_CONSULTATION_G), GP_VISIT, SPECIALIST_CONSULTATION,
         np.where(platform, TELECONSULTATION, TELECONSULTATION_GP), TELEEXPERTISE_TE2],
        default=PHARMACY_CODE,
    ).astype(np.int32)
    gp_spe = np.where(executant % 25 == 0, 22, 1)
    spe = np.select(
        [(kind == 0) | (kind == 1) | (kind == 3), (kind == 2) | (kind == 4)],
        [gp_spe, SPECIALIST_SPECIALITIES[executant % SPECIALIST_SPECIALITIES.size]],
        default=PHARMACIST_SPECIALITY,
    ).astype(np.int16)
    amount = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
        [np.full(n_orig, 30.0), np.full(n_orig, 40.0), np.full(n_orig, 50.0), np.full(n_orig, 25.0),
         np.full(n_orig, 20.0)],
        default=np.round(rng.uniform(2, 80, n_orig), 2),
    )
    qty = np.where(kind == 5, rng.integers(1, 4, n_orig), 1).astype(np.int32)

    # Extra lines copy an original (disjoint choices) and change what the rule under test looks at.
    pick = rng.permutation(n_orig)
    pos = 0
    parts: dict[str, np.ndarray] = {}
    for name in ("information", "complement", "cancel", "correct"):
        parts[name] = pick[pos : pos + extra_counts[name]]
        pos += extra_counts[name]
    src = np.concatenate([np.arange(n_orig), parts["information"], parts["complement"], parts["cancel"],
                          parts["correct"], parts["correct"]])
    n = src.size
    dpn = np.zeros(n, dtype=np.int16)
    cpl = np.zeros(n, dtype=np.int16)
    sign = np.ones(n, dtype=np.int32)
    lag_all = lag[src].copy()
    o = n_orig
    dpn[o : o + parts["information"].size] = snds.DPN_QLF_INFORMATION_ONLY
    o += parts["information"].size
    cpl[o : o + parts["complement"].size] = 2
    o += parts["complement"].size
    k = parts["cancel"].size + parts["correct"].size
    sign[o : o + k] = -1  # cancellations (the first line of a correction is one too)
    lag_all[o : o + k] += rng.integers(1, 3, k)
    o += k
    lag_all[o:] += rng.integers(1, 3, n - o)  # re-billing after a correction
    qty_all = qty[src] * sign
    amount_all = amount[src] * sign

    flux = _add_months(_month_start(care[src]), lag_all)
    flux_trt = flux + rng.integers(0, 28, n).astype("timedelta64[D]")
    serial = first_serial + np.arange(n, dtype=np.int64)
    dpt, com = _residence(world)
    patient_all = patient[src]
    exe_ids = synthetic_ids("SYNPS", executant[src])
    pharmacy_ids = synthetic_ids("SYNPH", executant[src])
    is_pharmacy = exe_prefix_pharmacy[src]
    birth = world.ben_birth_year[patient_all].astype(np.int64)
    age = (world.year - birth).astype(np.int16)
    prs = pa.table({
        "FLX_DIS_DTD": pa.array(flux),
        "FLX_TRT_DTD": pa.array(flux_trt),
        "FLX_EMT_TYP": pa.array(np.ones(n, dtype=np.int16)),
        "FLX_EMT_NUM": pa.array((commune[src] % 97 + 1).astype(np.int32)),
        "FLX_EMT_ORD": pa.array(np.full(n, chunk_index, dtype=np.int32)),
        "ORG_CLE_NUM": _take(pc.binary_join_element_wise("01C", dpt, ""), commune[src]),
        "DCT_ORD_NUM": pa.array(serial // 3),
        "PRS_ORD_NUM": pa.array((serial % 3 + 1).astype(np.int32)),
        "REM_TYP_AFF": pa.array(np.ones(n, dtype=np.int16)),
        "BEN_NIR_PSA": synthetic_ids("SYN", patient_all.astype(np.uint64)),
        "BEN_RNG_GEM": pa.array(np.ones(n, dtype=np.int16)),
        "BEN_AMA_COD": pa.array(age),
        "BEN_RES_DPT": _take(dpt, commune[src]),
        "BEN_RES_COM": _take(com, commune[src]),
        "PRS_NAT_REF": pa.array(nat[src]),
        "PSE_SPE_COD": pa.array(spe[src]),
        "PFS_EXE_NUM": pc.if_else(pa.array(is_pharmacy), pharmacy_ids, exe_ids),
        "EXE_SOI_DTD": pa.array(care[src]),
        "EXE_SOI_DTF": pa.array(care[src]),
        "PRS_ACT_QTE": pa.array(qty_all),
        "PRS_PAI_MNT": pa.array(amount_all),
        "CPL_MAJ_TOP": pa.array(cpl),
        "DPN_QLF": pa.array(dpn),
    }, schema=snds.ER_PRS_F.schema)

    keys = prs.select(list(snds.DCIR_JOIN_KEY))
    pha_rows = np.flatnonzero(is_pharmacy)
    pha = keys.take(pa.array(pha_rows)).append_column(
        "PHA_PRS_C13", pa.array(CIP13[(patient_all[pha_rows] + serial[pha_rows]) % CIP13.size])
    ).append_column("PHA_ACT_QSN", pa.array(qty_all[pha_rows]))
    # Consultations at an establishment: 4 % at a public hospital in T2A, 2 % in a private clinic.
    consult = (kind[src] <= 2)
    draw = rng.random(n)
    public_t2a = consult & (draw < 0.04)
    private = consult & (draw >= 0.04) & (draw < 0.06)
    ete_rows = np.flatnonzero(public_t2a | private)
    ete = keys.take(pa.array(ete_rows)).append_column(
        "ETB_EXE_FIN", _take(world.etab_finess, world.etab_of_commune[commune[src][ete_rows]])
    ).append_column(
        "ETE_IND_TAA", pa.array(np.where(public_t2a[ete_rows], 1, 0).astype(np.int16))
    ).append_column(
        "PRS_PPU_SEC", pa.array(np.where(public_t2a[ete_rows], 1, 2).astype(np.int16))
    ).append_column(
        "ETE_CAT_COD", pa.array(np.where(public_t2a[ete_rows], 101, 365).astype(np.int16))
    )
    return prs, pha.cast(snds.ER_PHA_F.schema), ete.cast(snds.ER_ETE_F.schema)


def stays_chunk(world: World, chunk_index: int, n_stays: int, first_rsa: int, seed: int
                ) -> tuple[pa.Table, pa.Table, pa.Table]:
    rng = np.random.default_rng([seed, 20, chunk_index])
    target = rng.random(n_stays) * world.ben_stay_cumweight[-1]
    patient = np.minimum(np.searchsorted(world.ben_stay_cumweight, target, side="right"), world.n_beneficiaries - 1)
    commune = world.ben_commune[patient]
    eta = _take(world.etab_finess, world.etab_of_commune[commune])
    rsa = first_rsa + np.arange(n_stays, dtype=np.int64)
    start = np.datetime64(f"{world.year}-01-01") + rng.integers(0, 365, n_stays).astype("timedelta64[D]")
    length = rng.geometric(0.25, n_stays) - 1
    end = start + length.astype("timedelta64[D]")
    ghm = GHMS[rng.integers(0, GHMS.size, n_stays)]
    ghm = np.where(rng.random(n_stays) < 0.005, "90Z00Z", ghm)
    codes = world.communes["code_insee"].to_numpy()
    age = (world.year - world.ben_birth_year[patient].astype(np.int64)).astype(np.int16)
    stays = pa.table({
        "ETA_NUM": eta,
        "RSA_NUM": pa.array(rsa),
        "DGN_PAL": pa.array(DIAGNOSES[rng.integers(0, DIAGNOSES.size, n_stays)]),
        "DGN_REL": pa.array(np.where(rng.random(n_stays) < 0.2, "E119", "")),
        "GRG_GHM": pa.array(ghm),
        "BDI_COD": _take(codes, commune),
        "AGE_ANN": pa.array(age),
        "COD_SEX": pa.array(rng.integers(1, 3, n_stays).astype(np.int16)),
        "SEJ_NBJ": pa.array(length.astype(np.int32)),
    }, schema=snds.T_MCOB.schema)
    placeholder = pa.array(rng.random(n_stays) < 0.005)
    nir = pc.if_else(placeholder, "xxxxxxxxxxxxxxxxx", synthetic_ids("SYN", patient.astype(np.uint64)))
    ret = np.where(rng.random(n_stays) < 0.01, "1", "0")
    zeros = np.full(n_stays, "0")
    chaining = pa.table({
        "ETA_NUM": eta, "RSA_NUM": pa.array(rsa), "NIR_ANO_17": nir,
        "EXE_SOI_DTD": pa.array(start), "EXE_SOI_DTF": pa.array(end),
        "NIR_RET": pa.array(ret), "NAI_RET": pa.array(zeros), "SEX_RET": pa.array(zeros),
        "SEJ_RET": pa.array(zeros), "FHO_RET": pa.array(zeros), "PMS_RET": pa.array(zeros),
        "DAT_RET": pa.array(zeros),
    }, schema=snds.T_MCOC.schema)
    n_diag = rng.integers(0, 4, n_stays)
    stay_of_diag = np.repeat(np.arange(n_stays), n_diag)
    diagnoses = pa.table({
        "ETA_NUM": eta.take(pa.array(stay_of_diag)), "RSA_NUM": pa.array(rsa[stay_of_diag]),
        "ASS_DGN": pa.array(DIAGNOSES[rng.integers(0, DIAGNOSES.size, stay_of_diag.size)]),
    }, schema=snds.T_MCOD.schema)
    return stays, chaining, diagnoses


ProgressFn = Callable[[int], None]


def generate_claims(
    warehouse: Warehouse,
    communes: pd.DataFrame,
    *,
    rows: int,
    seed: int,
    year: int,
    chunk_rows: int = DEFAULT_CHUNK,
    progress: ProgressFn | None = None,
    territory: str = "",
    gp_group: int = 1,
    practice_communes: tuple[str, ...] = (),
) -> GenerationReport:
    """Write a coherent synthetic SNDS of ``rows`` ER_PRS_F lines into ``warehouse`` (replacing its tables).

    ``progress`` is called with the number of ER_PRS_F lines written after each chunk. ``gp_group`` and
    ``practice_communes``: see ``_gp_communes`` (the demo groups its GPs and puts a practice where its directory
    has one).
    """
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise ValidationFailed(f"Le nombre de lignes doit être compris entre {MIN_ROWS:_} et {MAX_ROWS:_}."
                               .replace("_", " "))
    if chunk_rows < 1_000:
        raise ValidationFailed("La taille des lots doit être d'au moins 1 000 lignes.")
    if not 2000 <= year <= 2100:
        raise ValidationFailed("Année de soins invalide.")
    if gp_group < 1:
        raise ValidationFailed("Un cabinet compte au moins un médecin.")
    world = build_world(communes, rows, seed, year, gp_group=gp_group, practice_communes=practice_communes)
    for name in snds.TABLES:
        warehouse.reset_table(name)
    warehouse.write_table("COMMUNES", pa.Table.from_pandas(communes, schema=snds.COMMUNES.schema,
                                                           preserve_index=False), synthetic=False)
    warehouse.write_table("DA_PRA_R", practitioners_table(world), synthetic=True)
    block = 1_000_000
    for part, start in enumerate(range(0, world.n_beneficiaries, block)):
        stop = min(world.n_beneficiaries, start + block)
        warehouse.write_part("IR_BEN_R", part, beneficiaries_table(world, start, stop, seed), synthetic=True)

    n_chunks = math.ceil(rows / chunk_rows)
    total_stays = max(1, rows // 100)
    written = 0
    stays_written = 0
    for index in range(n_chunks):
        n = min(chunk_rows, rows - written)
        prs, pha, ete = lines_chunk(world, index, n, written, seed)
        warehouse.write_part("ER_PRS_F", index, prs, synthetic=True)
        warehouse.write_part("ER_PHA_F", index, pha, synthetic=True)
        warehouse.write_part("ER_ETE_F", index, ete, synthetic=True)
        n_stays = (total_stays * (written + n)) // rows - stays_written
        if n_stays > 0:
            b, c, d = stays_chunk(world, index, n_stays, stays_written, seed)
            warehouse.write_part("T_MCOB", index, b, synthetic=True)
            warehouse.write_part("T_MCOC", index, c, synthetic=True)
            warehouse.write_part("T_MCOD", index, d, synthetic=True)
            stays_written += n_stays
        written += n
        if progress is not None:
            progress(n)

    first_flux = dt.date(year, 1, 1)
    last_flux = add_months(dt.date(year, 12, 1), FLUX_LAG_PROBS.size - 1 + 2)  # longest lag + re-billing
    manifest = warehouse.update_manifest(
        source="synthetic",
        synthetic=True,
        notice="Données SYNTHÉTIQUES générées par Maillage : aucune personne réelle.",
        seed=seed,
        rows=rows,
        care_year=year,
        territory=territory,
        communes=len(communes),
        flux_months={"first": first_flux.isoformat(), "last": last_flux.isoformat()},
        generated_at=_now_iso(),
    )
    warehouse.refresh_catalog()
    return GenerationReport(rows=rows, seed=seed, year=year, beneficiaries=world.n_beneficiaries,
                            practitioners=world.n_gps + world.n_specialists, stays=stays_written,
                            tables=dict(manifest["tables"]))


def _now_iso() -> str:
    from maillage.kit.clock import now

    return now().isoformat(timespec="seconds")
