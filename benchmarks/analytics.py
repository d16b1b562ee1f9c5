"""Analytics throughput: the standard indicator set on DuckDB, PySpark local[2] and pandas, same files, same results;
and APL for every commune of France, Maillage's one query versus PySAL ``access`` on the same inputs.

    .venv/bin/python benchmarks/analytics.py                                     # 10 M and 100 M, all engines
    .venv/bin/python benchmarks/analytics.py --sizes 2000000 --no-spark-above 1
    .venv/bin/python benchmarks/analytics.py --apl-only                          # APL against PySAL access only
    .venv/bin/python benchmarks/analytics.py --pandas-max-rows 10000000          # pandas up to 10 M lines only

The standard set is the two claims indicators (consultations-mg, telemedecine), each run for its default year.
Each engine reads the same Parquet files; pandas streams them in batches and keeps only partial aggregates
(net quantity per beneficiary; patient × commune × month × kind sums as integer keys), combined exactly, so its
memory follows the number of patients, not of lines. It runs at every size unless the growth of its peak resident
set, extrapolated linearly from the previous size, exceeds 80 % of the available memory. Results are compared
exactly after ``finalise``. Floors checked: DuckDB ≥ 3× Spark on the set, APL ≥ 20× ``access`` with identical
results (≤ 1e-9).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from maillage.analytics import apl, catalogue, engines, snds  # noqa: E402
from maillage.analytics import indicators as ind  # noqa: E402
from maillage.analytics.communes import load_real_communes  # noqa: E402
from maillage.analytics.service import compute  # noqa: E402
from maillage.analytics.warehouse import Warehouse  # noqa: E402
from maillage.demo.claims import generate_claims  # noqa: E402

YEAR = 2025
SET = ("consultations-mg", "telemedecine")


# --- pandas implementation of the standard set (the third engine of the comparison) ---------------------------
# Memory is bounded by the size of the aggregates, not by the number of lines: each batch of ER_PRS_F lines is
# filtered, then reduced at once to the finest grain the indicators need (a per-beneficiary running sum for the GP
# consultations; patient × commune × month × kind sums for telemedicine, as integer keys); the partial sums are
# added exactly afterwards, and distinct patients are counted only once all of a patient's lines have been summed.
RANKS = 1_000  # BEN_RNG_GEM values (twin rank) packed into an integer patient key: pseudonym index × RANKS + rank
BATCH_ROWS = 500_000  # ER_PRS_F lines read at a time
BUCKETS = 8  # telemedicine partials are combined in this many disjoint sets of patients, one at a time


class _PatientIds:
    """Integer keys for (BEN_NIR_PSA, BEN_RNG_GEM): the pseudonym's position in a dictionary grown as new
    pseudonyms appear, times ``RANKS``, plus the rank. Only the dictionary holds strings.

    A plain dict, not a growing ``pd.Index``: appending to an Index builds a new one whose hash table is rebuilt
    on the next lookup, which made the telemedicine set quadratic in the number of patients (100 M lines)."""

    def __init__(self, pseudonyms: pd.Series) -> None:
        self.positions: dict[str, int] = {}
        for value in pd.unique(pseudonyms.to_numpy(dtype=object)):
            self.positions.setdefault(value, len(self.positions))

    def ids(self, pseudonyms: pd.Series, ranks: pd.Series) -> np.ndarray:
        values = pseudonyms.to_numpy(dtype=object)
        positions = self.positions
        for value in pd.unique(values):
            if value not in positions:
                positions[value] = len(positions)
        position = np.fromiter((positions[v] for v in values), dtype=np.int64, count=len(values))
        rank = ranks.to_numpy(dtype=np.int64)
        if rank.size and (rank.min() < 0 or rank.max() >= RANKS):
            raise ValueError(f"BEN_RNG_GEM hors de [0, {RANKS}[")
        return position * RANKS + rank


def _insee(dpt: pd.Series, com: pd.Series) -> pd.Series:
    """INSEE commune code from BEN_RES_DPT and BEN_RES_COM (overseas: 97 + the 3-character commune)."""
    return ("97" + com).where(dpt.str.startswith("97"), dpt.str[1:] + com)


def _fingerprint(frame: pd.DataFrame) -> np.ndarray:
    """A uint64 mix of the numeric DCIR join keys: equal keys give equal fingerprints (the converse is checked)."""
    mixed = np.zeros(len(frame), dtype=np.uint64)
    for column in ("FLX_DIS_DTD", "FLX_TRT_DTD", "FLX_EMT_NUM", "FLX_EMT_ORD", "DCT_ORD_NUM", "PRS_ORD_NUM"):
        values = frame[column].to_numpy(dtype="datetime64[D]" if column.endswith("_DTD") else np.int64)
        mixed = (mixed * np.uint64(0x100000001B3)) ^ values.astype(np.int64).view(np.uint64)
    return mixed


def _clean_parts(wh: Warehouse, columns: list[str], codes: set[int], gp_only: bool) -> Iterator[pd.DataFrame]:
    """Stream ER_PRS_F batch by batch: flux window, quality filters, public T2A, wanted prestation codes.

    The public-T2A anti-join costs the size of the batch, not of ER_ETE_F: the flagged keys are sorted once by a
    fingerprint; a batch's lines whose fingerprint is among them are then joined exactly with those keys only."""
    key = list(snds.DCIR_JOIN_KEY)
    flagged = []
    for path in sorted(wh.table_dir("ER_ETE_F").glob("*.parquet")):
        ete = pq.read_table(path, columns=[*key, "ETE_IND_TAA"]).to_pandas(date_as_object=False)
        flagged.append(ete.loc[ete.ETE_IND_TAA == 1, key])
    t2a = pd.concat(flagged, ignore_index=True).drop_duplicates()
    t2a_print = _fingerprint(t2a)
    order = np.argsort(t2a_print, kind="stable")
    t2a, t2a_print = t2a.iloc[order].reset_index(drop=True), t2a_print[order]
    start, end = np.datetime64(f"{YEAR}-01-01"), np.datetime64(f"{YEAR + 1}-01-01")
    flux_end = np.datetime64(f"{YEAR + 1}-07-01")
    need = sorted({*columns, *key, "EXE_SOI_DTD", "FLX_DIS_DTD", "DPN_QLF", "CPL_MAJ_TOP", "PRS_NAT_REF",
                   "PSE_SPE_COD", "PRS_ACT_QTE"})
    batches = (batch for path in sorted(wh.table_dir("ER_PRS_F").glob("*.parquet"))
               for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=need))
    for batch in batches:
        df = batch.to_pandas(date_as_object=False)
        flx = df.FLX_DIS_DTD.to_numpy(dtype="datetime64[D]")
        care = df.EXE_SOI_DTD.to_numpy(dtype="datetime64[D]")
        keep = (flx >= start) & (flx < flux_end) & (care >= start) & (care < end)
        keep &= (df.DPN_QLF.isna() | (df.DPN_QLF != 71)).to_numpy() & (df.CPL_MAJ_TOP < 2).to_numpy()
        keep &= df.PRS_NAT_REF.isin(codes).to_numpy()
        if gp_only:
            keep &= df.PSE_SPE_COD.isin(snds.GP_SPECIALTIES).to_numpy()
        df = df[keep]
        prints = _fingerprint(df)
        low = np.searchsorted(t2a_print, prints, side="left")
        count = np.searchsorted(t2a_print, prints, side="right") - low
        candidate = count > 0
        if candidate.any():
            starts, lengths = low[candidate], count[candidate]
            rows = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
            matched = df[candidate].reset_index().merge(t2a.iloc[np.unique(rows)], on=key)
            df = df.drop(index=matched["index"].unique())
        yield df[sorted({*columns, "PRS_ACT_QTE", "EXE_SOI_DTD", "PRS_NAT_REF"})]


def _communes(wh: Warehouse) -> pd.DataFrame:
    c = wh.read_table("COMMUNES").to_pandas()
    return c[["code_insee", "departement"]].rename(columns={"code_insee": "commune"})


def _levels(df: pd.DataFrame, measures: list[str], age: bool, period: bool) -> pd.DataFrame:
    """Sum commune cells into every published level (patients are additive: each is in one commune cell)."""
    out = []
    for geo in ind.GEO_LEVELS:
        for all_ages in ((False, True) if age else (False,)):
            d = df.assign(niveau_geo=geo, code_geo=df.commune if geo == "commune" else (
                df.departement if geo == "departement" else ind.TOTAL))
            keys = ["niveau_geo", "code_geo"]
            if age:
                d = d.assign(tranche_age=ind.ALL_AGES if all_ages else d.tranche_age)
                keys.append("tranche_age")
            if period:
                keys += ["niveau_periode", "periode"]
            out.append(d.groupby(keys, as_index=False, observed=True)[measures].sum())
    return pd.concat(out, ignore_index=True)


def pandas_gp_consultations(wh: Warehouse) -> pd.DataFrame:
    bounds = ind.AGE_BOUNDS_DEFAULT
    labels = ind.age_band_labels(bounds)
    ben = pq.read_table(wh.table_dir("IR_BEN_R"), columns=["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_NAI_ANN", "BEN_DCD_DTE",
                                                            "BEN_RES_DPT", "BEN_RES_COM"])
    ben = ben.to_pandas(date_as_object=False)
    died = ben.BEN_DCD_DTE.to_numpy(dtype="datetime64[D]")
    ben = ben[ben.BEN_DCD_DTE.isna().to_numpy() | (died == np.datetime64("1600-01-01"))
              | (died >= np.datetime64(f"{YEAR}-01-01"))]
    age = YEAR - ben.BEN_NAI_ANN.to_numpy(dtype=np.int64)
    band = pd.Categorical.from_codes(np.searchsorted(np.array(bounds), age, side="right") - 1, categories=labels)
    ben = pd.DataFrame({"BEN_NIR_PSA": ben.BEN_NIR_PSA.to_numpy(), "BEN_RNG_GEM": ben.BEN_RNG_GEM.to_numpy(),
                        "commune": _insee(ben.BEN_RES_DPT, ben.BEN_RES_COM).to_numpy(), "tranche_age": band})
    ben = ben.merge(_communes(wh), on="commune")
    ids = _PatientIds(ben.BEN_NIR_PSA)
    beneficiary = pd.Index(ids.ids(ben.BEN_NIR_PSA, ben.BEN_RNG_GEM))
    if not beneficiary.is_unique:
        raise ValueError("IR_BEN_R : plusieurs lignes pour un même bénéficiaire")
    ben = ben.drop(columns=["BEN_NIR_PSA", "BEN_RNG_GEM"]).astype({"commune": "category", "departement": "category"})
    net = np.zeros(len(ben), dtype=np.int64)  # net quantity per beneficiary, summed part by part
    codes = snds.CONSULTATION_CODES | snds.VISIT_CODES
    for lines in _clean_parts(wh, ["BEN_NIR_PSA", "BEN_RNG_GEM"], codes, True):
        row = beneficiary.get_indexer(ids.ids(lines.BEN_NIR_PSA, lines.BEN_RNG_GEM))
        found = row >= 0
        np.add.at(net, row[found], lines.PRS_ACT_QTE.to_numpy(dtype=np.int64)[found])
    consulted = net > 0
    cells = ben.assign(population=1, patients=consulted.astype(np.int64), consultations=np.where(consulted, net, 0))
    cells = cells.groupby(["commune", "departement", "tranche_age"], as_index=False, observed=True)[
        ["population", "patients", "consultations"]].sum()
    cells = cells.astype({"commune": str, "departement": str, "tranche_age": str})
    out = _levels(cells, ["population", "patients", "consultations"], True, False)
    out["taux"] = out.consultations / out.population
    bands = out[out.tranche_age != ind.ALL_AGES]
    terr = bands[bands.niveau_geo == "territoire"]
    weights = terr.set_index("tranche_age").population / terr.population.sum()
    std = bands.assign(w=bands.tranche_age.map(weights) * bands.taux.fillna(0)).groupby(
        ["niveau_geo", "code_geo"], as_index=False)["w"].sum().rename(columns={"w": "taux_standardise"})
    out = out.merge(std, on=["niveau_geo", "code_geo"], how="left")
    out.loc[out.tranche_age != ind.ALL_AGES, "taux_standardise"] = np.nan
    return out.assign(annee=YEAR)


# Telemedicine partial key: ((patient × 2^20 + commune) × 16 + month) × 4 + kind, an int64.
_COMMUNE_BITS, _MONTH_BITS, _KIND_BITS = 20, 4, 2
_TELE_MEASURES = ["patients", "patients_consultants", "teleconsultations", "teleexpertises", "consultations"]


def _tele_cells(keys: np.ndarray, quantities: np.ndarray, commune_rank: np.ndarray) -> pd.DataFrame:
    """Commune × month (0: the year) cells of one disjoint set of patients, from their partial sums."""
    net = pd.Series(quantities, dtype=np.int64).groupby(keys).sum()
    net = net[net > 0]  # a fully cancelled act did not happen
    key = net.index.to_numpy()
    kind = key & 3
    month = (key >> _KIND_BITS) & 15
    residence = commune_rank[(key >> (_KIND_BITS + _MONTH_BITS)) & ((1 << _COMMUNE_BITS) - 1)]
    patient = key >> (_KIND_BITS + _MONTH_BITS + _COMMUNE_BITS)
    n = net.to_numpy()
    acts = pd.DataFrame({"patient": patient, "residence": residence, "month": month,
                         "tc": np.where(kind == ind.KIND_TC, n, 0), "te": np.where(kind == ind.KIND_TE, n, 0),
                         "all_consult": np.where(kind != ind.KIND_TE, n, 0)})
    # One commune per patient for the year: the smallest code among their acts' communes.
    acts["commune"] = acts.groupby("patient").residence.transform("min")
    sums = ["tc", "te", "all_consult"]
    monthly = acts.groupby(["patient", "commune", "month"], as_index=False)[sums].sum()
    yearly = monthly.groupby(["patient", "commune"], as_index=False)[sums].sum().assign(month=0)
    cells = []
    for rows in (monthly, yearly):
        rows = rows.assign(patients=((rows.tc + rows.te) > 0).astype(np.int64),
                           patients_consultants=(rows.all_consult > 0).astype(np.int64))
        cells.append(rows.groupby(["commune", "month"], as_index=False).agg(
            patients=("patients", "sum"), patients_consultants=("patients_consultants", "sum"),
            teleconsultations=("tc", "sum"), teleexpertises=("te", "sum"), consultations=("all_consult", "sum")))
    return pd.concat(cells, ignore_index=True)


def pandas_telemedicine(wh: Warehouse) -> pd.DataFrame:
    codes = snds.CONSULTATION_CODES | snds.VISIT_CODES | snds.TELECONSULTATION_CODES | snds.TELEEXPERTISE_CODES
    ids = _PatientIds(pd.Series([], dtype=str))
    residences = pd.Index([], dtype=str)
    partials: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(BUCKETS)]
    tc_codes, te_codes = list(snds.TELECONSULTATION_CODES), list(snds.TELEEXPERTISE_CODES)
    for lines in _clean_parts(wh, ["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_RES_DPT", "BEN_RES_COM"], codes, False):
        patient = ids.ids(lines.BEN_NIR_PSA, lines.BEN_RNG_GEM)
        insee = _insee(lines.BEN_RES_DPT, lines.BEN_RES_COM)
        residence = residences.get_indexer(insee)
        if (residence < 0).any():
            residences = residences.append(pd.Index(pd.unique(insee[residence < 0])))
            residence = residences.get_indexer(insee)
        if len(residences) >= 1 << _COMMUNE_BITS or (patient.size and patient.max() >= 1 << 37):
            raise ValueError("trop de communes ou de patients pour la clé entière")
        month = pd.DatetimeIndex(lines.EXE_SOI_DTD).month.to_numpy(dtype=np.int64)
        kind = np.select([lines.PRS_NAT_REF.isin(tc_codes).to_numpy(), lines.PRS_NAT_REF.isin(te_codes).to_numpy()],
                         [ind.KIND_TC, ind.KIND_TE], ind.KIND_CONSULTATION).astype(np.int64)
        key = (((((patient << _COMMUNE_BITS) + residence) << _MONTH_BITS) + month) << _KIND_BITS) + kind
        part = pd.Series(lines.PRS_ACT_QTE.to_numpy(dtype=np.int64)).groupby(key).sum()
        key, qty = part.index.to_numpy(), part.to_numpy().astype(np.int32)
        # By pseudonym, so that all of a patient's partials land in the same bucket.
        bucket = (key >> (_KIND_BITS + _MONTH_BITS + _COMMUNE_BITS)) // RANKS % BUCKETS
        for b in range(BUCKETS):
            chosen = bucket == b
            partials[b].append((key[chosen], qty[chosen]))
    # Ranks of the commune codes in string order, so that "smallest code" is a minimum over integers.
    order = np.argsort(residences.to_numpy(dtype=object), kind="stable")
    commune_rank = np.empty(len(residences), dtype=np.int64)
    commune_rank[order] = np.arange(len(residences))
    cells = []
    for b in range(BUCKETS):
        keys = np.concatenate([k for k, _ in partials[b]]) if partials[b] else np.empty(0, np.int64)
        quantities = np.concatenate([q for _, q in partials[b]]) if partials[b] else np.empty(0, np.int32)
        partials[b] = []
        cells.append(_tele_cells(keys, quantities, commune_rank))
    cells_all = pd.concat(cells, ignore_index=True).groupby(["commune", "month"], as_index=False)[
        _TELE_MEASURES].sum()
    cells_all["commune"] = residences.to_numpy(dtype=object)[order][cells_all.commune.to_numpy()]
    cells_all = cells_all.merge(_communes(wh), on="commune")
    monthly = cells_all.month > 0
    cells_all["niveau_periode"] = np.where(monthly, "mois", "annee")
    cells_all["periode"] = np.where(monthly, [f"{YEAR}-{m:02d}" for m in cells_all.month], str(YEAR))
    out = _levels(cells_all, _TELE_MEASURES, False, True)
    share = out.teleconsultations / out.consultations
    out["part_teleconsultation"] = share.where(out.consultations > 0)
    return out.assign(annee=YEAR, source="snds")


PANDAS = {"consultations-mg": pandas_gp_consultations, "telemedecine": pandas_telemedicine}


# --- runs ----------------------------------------------------------------------------------------------------------
def ensure_warehouse(base: Path, rows: int, communes: pd.DataFrame) -> Warehouse:
    wh = Warehouse(base / f"claims-{rows}")
    manifest = wh.manifest()
    if manifest.get("rows") == rows and manifest.get("seed") == 42 and manifest.get("communes") == len(communes):
        return wh
    started = time.perf_counter()
    generate_claims(wh, communes, rows=rows, seed=42, year=YEAR, chunk_rows=2_000_000)
    seconds = time.perf_counter() - started
    print(f"  génération de {rows:,} lignes : {seconds:.1f} s ({rows / seconds / 1e6:.2f} M lignes/s)")
    return wh


def run_set(wh: Warehouse, engine: str, rows: int, master: str = "local[2]",
            spark_conf: tuple[tuple[str, str], ...] = ()) -> tuple[float, dict[str, pd.DataFrame]]:
    frames: dict[str, pd.DataFrame] = {}
    label = engine if engine != "spark" or master == "local[2]" else "cluster"
    spark_config = engines.EngineConfig(name="spark", spark_master=master, spark_driver_memory="8g",
                                        spark_conf=spark_conf)
    # The JVM start is not part of the work measured; one session per process.
    if engine == "spark" and engines.spark_session(spark_config).sparkContext.master != master:
        engines.stop_spark()
        engines.spark_session(spark_config)
    started = time.perf_counter()
    for code in SET:
        indicator = catalogue.get_indicator(code)
        params = indicator.resolve_params({"annee": YEAR})
        t0 = time.perf_counter()
        if engine == "pandas":
            frames[code] = ind.finalise(indicator, PANDAS[code](wh))
        else:
            config = spark_config if engine == "spark" else engines.EngineConfig(name=engine, threads=2)
            frames[code] = compute(indicator, params, wh, config).frame
        print(f"    {label:7s} {code:18s} {time.perf_counter() - t0:8.1f} s")
    seconds = time.perf_counter() - started
    print(f"  {label:7s} ensemble standard : {seconds:.1f} s = {rows / seconds / 1e6:.2f} M lignes/s")
    return seconds, frames


def same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> bool:
    for code in a:
        try:
            pd.testing.assert_frame_equal(a[code], b[code], check_exact=True, check_dtype=False)
        except AssertionError as exc:
            print(f"  DIFFÉRENCE sur {code} : {str(exc)[:300]}")
            return False
    return True


def bench_apl(communes: pd.DataFrame, repeats: int = 9) -> dict[str, float]:
    """Same inputs for both: communes numbered 0..n-1, OD pairs within 20 minutes, demand, supply on 30 % of them."""
    import ibis
    import pyarrow as pa

    params = apl.DEFAULT_PARAMETERS
    con = ibis.duckdb.connect()
    con.raw_sql("SET threads = 2")
    t0 = time.perf_counter()
    od_named = con.to_pyarrow(apl.approximate_travel_times(ibis.memtable(communes), params)).to_pandas()
    od_seconds = time.perf_counter() - t0
    number = {c: i for i, c in enumerate(communes.code_insee)}
    od = pd.DataFrame({"origine": od_named.origine.map(number).astype("int32"),
                       "destination": od_named.destination.map(number).astype("int32"),
                       "minutes": od_named.minutes})
    rng = np.random.default_rng(7)
    demand = pd.DataFrame({"code": np.arange(len(communes), dtype="int32"),
                           "demande": communes.population.to_numpy(dtype=float)})
    offering = np.sort(rng.choice(len(communes), size=len(communes) * 3 // 10, replace=False)).astype("int32")
    supply = pd.DataFrame({"code": offering, "offre": rng.uniform(0.3, 5.0, offering.size) * 5400})
    raw = con.con
    for name, frame in (("demande", demand), ("offre", supply), ("od", od)):
        raw.register(f"{name}_src", pa.Table.from_pandas(frame, preserve_index=False))
        raw.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_src")
    # The decay weights depend only on the travel times and the parameter version: computed once, kept.
    t0 = time.perf_counter()
    con.create_table("paires", apl.catchment_pairs(con.table("od"), params))
    pairs_seconds = time.perf_counter() - t0
    # The Ibis expression is compiled to SQL once too (about 25 ms of Python, the same for any data size); each run
    # then executes that one query.
    t0 = time.perf_counter()
    sql = str(ibis.to_sql(apl.two_step_fca(con.table("demande"), con.table("offre"), con.table("paires"), params),
                          dialect="duckdb"))
    compile_seconds = time.perf_counter() - t0
    timings = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours = raw.sql(sql).to_arrow_table().to_pandas().set_index("code")["apl"]
        timings.append(time.perf_counter() - t0)
    ours_seconds = float(np.median(timings))
    access_timings = []
    for _ in range(max(3, repeats // 3)):
        t0 = time.perf_counter()
        reference = apl.reference_apl(demand, supply, od, params)
        access_timings.append(time.perf_counter() - t0)
    access_seconds = float(np.median(access_timings))
    diff = float((ours.reindex(reference.index) - reference).abs().max())
    print(f"  APL {len(communes):,} communes, {len(od):,} paires à moins de 20 min (matrice : {od_seconds:.2f} s ; "
          f"poids de décroissance, une fois par version de paramètres : {pairs_seconds:.2f} s ; "
          f"compilation Ibis → SQL, une fois : {compile_seconds * 1000:.0f} ms)")
    print(f"    Maillage (une requête DuckDB) : {ours_seconds:.3f} s ; PySAL access : {access_seconds:.2f} s ; "
          f"×{access_seconds / ours_seconds:.0f} ; écart max {diff:.1e} "
          f"(médianes de {len(timings)} et {len(access_timings)} essais ; "
          f"extrêmes Maillage {min(timings):.3f}–{max(timings):.3f} s)")
    return {"communes": len(communes), "pairs": len(od), "maillage_s": ours_seconds, "access_s": access_seconds,
            "speedup": access_seconds / ours_seconds, "max_abs_diff": diff, "pairs_s": pairs_seconds}


def machine() -> str:
    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cœurs"


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmHWM: peak resident set; 0 where /proc is missing)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return 0
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> None:
    """Reset the process's peak resident set (Linux: writing 5 to clear_refs), so a run's own peak can be read."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def available_bytes() -> int:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000000,100000000")
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench-analytics"))
    parser.add_argument("--no-spark-above", type=int, default=0,
                        help="ne pas lancer Spark au-delà de ce nombre de lignes (0 : toujours)")
    parser.add_argument("--pandas-max-rows", type=int, default=0,
                        help="pandas seulement jusqu'à ce nombre de lignes (0, par défaut : à toutes les tailles, "
                             "si la mémoire disponible suffit d'après le pic mesuré à la taille précédente)")
    parser.add_argument("--apl-only", action="store_true", help="seulement APL contre PySAL access")
    parser.add_argument("--repeats", type=int, default=9, help="essais APL de Maillage (médiane retenue)")
    parser.add_argument("--cluster", type=int, default=0, metavar="TRAVAILLEURS",
                        help="lance aussi l'ensemble sur un cluster Spark autonome de ce nombre de travailleurs "
                             "(démarré sur 127.0.0.1 depuis la distribution PySpark ; Java requis) et le compare "
                             "à local[2]")
    parser.add_argument("--cluster-cores", type=int, default=1, help="cœurs par travailleur du cluster")
    parser.add_argument("--cluster-memory", default="2g", help="mémoire par travailleur (et par exécuteur)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        master = None
        if args.cluster and not args.apl_only:
            from _spark_cluster import standalone_cluster

            master = stack.enter_context(standalone_cluster(
                Path(args.workdir) / "spark-cluster", workers=args.cluster, cores=args.cluster_cores,
                memory=args.cluster_memory))
            print(f"Cluster Spark autonome : {args.cluster} travailleurs × {args.cluster_cores} cœur(s), "
                  f"{args.cluster_memory} chacun")
        return run(args, master)


def run(args: argparse.Namespace, master: str | None) -> int:
    cluster_conf = () if master is None else (
        ("spark.executor.memory", args.cluster_memory), ("spark.executor.cores", str(args.cluster_cores)),
        ("spark.cores.max", str(args.cluster * args.cluster_cores)))
    base = Path(args.workdir)
    base.mkdir(parents=True, exist_ok=True)
    communes = load_real_communes()
    print(f"Communes réelles (référentiel) : {len(communes):,} ; machine : {machine()} ; charge au début : {load()}")
    print("  (machine partagée : sous charge, les temps sont des bornes hautes ; les rapports comptent davantage)")
    summary: dict[str, object] = {}
    failures = []
    pandas_peak: tuple[int, int] | None = None  # (rows, peak bytes above the resident set at its start)
    for rows in [] if args.apl_only else [int(s) for s in args.sizes.split(",") if s]:
        print(f"== {rows:,} lignes de prestations synthétiques (charge : {load()})")
        wh = ensure_warehouse(base, rows, communes)
        results: dict[str, float] = {}
        duck_s, duck = run_set(wh, "duckdb", rows)
        results["duckdb_rows_per_s"] = rows / duck_s
        if not args.pandas_max_rows or rows <= args.pandas_max_rows:
            # The growth above the resident set is extrapolated linearly: an upper bound, the partial aggregates
            # growing with the patients and communes rather than with the lines.
            previous_rows, previous_growth = pandas_peak or (rows, 0)
            needed = previous_growth * rows / previous_rows
            if needed > 0.8 * available_bytes():
                print(f"  pandas non lancé : hausse estimée {needed / 2**30:.1f} Gio (linéaire depuis "
                      f"{previous_rows:,} lignes) > 80 % des {available_bytes() / 2**30:.1f} Gio disponibles")
            else:
                reset_peak_rss()
                resident = _status_kib("VmRSS") * 1024
                pd_s, pandas_frames = run_set(wh, "pandas", rows)
                peak = _status_kib("VmHWM") * 1024
                pandas_peak = (rows, max(peak - resident, 1)) if peak else None
                print(f"  pandas : pic de mémoire résidente du processus {peak / 2**30:.1f} Gio "
                      f"({resident / 2**30:.1f} Gio au départ)")
                results["pandas_rows_per_s"] = rows / pd_s
                results["pandas_peak_bytes"] = peak
                results["pandas_same"] = same(duck, pandas_frames)
                print(f"  pandas : résultats identiques à DuckDB : {results['pandas_same']}")
        if not args.no_spark_above or rows <= args.no_spark_above:
            spark_s, spark = run_set(wh, "spark", rows)
            results["spark_rows_per_s"] = rows / spark_s
            results["spark_same"] = same(duck, spark)
            ratio = spark_s / duck_s
            results["duckdb_vs_spark"] = ratio
            print(f"  DuckDB / Spark local[2] : ×{ratio:.1f} (plancher ×3) ; résultats identiques : "
                  f"{results['spark_same']}")
            if ratio < 3 or not results["spark_same"]:
                failures.append(f"{rows}: DuckDB vs Spark")
            if master is not None:
                cluster_s, cluster = run_set(wh, "spark", rows, master, cluster_conf)
                engines.stop_spark()  # the next size starts again on local[2]
                results["cluster_rows_per_s"] = rows / cluster_s
                results["cluster_same"] = same(spark, cluster)
                results["cluster_vs_local"] = cluster_s / spark_s
                print(f"  cluster ({args.cluster} travailleurs) / local[2] : durée ×{cluster_s / spark_s:.2f} ; "
                      f"résultats identiques : {results['cluster_same']}")
                if not results["cluster_same"]:
                    failures.append(f"{rows}: Spark cluster vs local[2]")
        if results.get("pandas_same") is False:
            failures.append(f"{rows}: pandas")
        summary[str(rows)] = results
    if summary:
        last = max(summary, key=int)
        rate = summary[last]["duckdb_rows_per_s"]  # type: ignore[index]
        print(f"Projection à 1,2 milliard de lignes sur DuckDB (débit linéaire de {int(last):,} lignes) : "
              f"{1.2e9 / rate / 60:.0f} min")
    print(f"== APL pour toutes les communes (charge : {load()})")
    summary["apl"] = apl_result = bench_apl(communes, args.repeats)
    if apl_result["speedup"] < 20 or apl_result["max_abs_diff"] > 1e-9:
        failures.append("APL vs access")
    (base / "resultats.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    print(f"Charge à la fin : {load()}")
    print("Planchers :", "tous tenus" if not failures else "NON TENUS : " + ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
