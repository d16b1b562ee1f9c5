"""Analytics throughput: the standard indicator set on DuckDB, PySpark local[2] and pandas, same files, same results;
and APL for every commune of France, Maillage's one query versus PySAL ``access`` on the same inputs.

    .venv/bin/python benchmarks/analytics.py                                     # 10 M and 100 M (pandas: 10 M)
    .venv/bin/python benchmarks/analytics.py --sizes 2000000 --no-spark-above 1
    .venv/bin/python benchmarks/analytics.py --apl-only                          # APL against PySAL access only
    .venv/bin/python benchmarks/analytics.py --pandas-max-rows 0                 # pandas at 100 M lines too

The standard set is the two claims indicators (consultations-mg, telemedecine), each run for its default year.
Each engine reads the same Parquet files; pandas streams them part by part (patient-level partial aggregates,
then the same levels). Results are compared exactly after ``finalise``. Floors checked: DuckDB ≥ 3× Spark on the
set, APL ≥ 20× ``access`` with identical results (≤ 1e-9).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from maillage.analytics import apl, engines, snds  # noqa: E402
from maillage.analytics import indicators as ind  # noqa: E402
from maillage.analytics.communes import load_real_communes, real_communes_available, synthetic_communes  # noqa: E402
from maillage.analytics.generator import generate_claims  # noqa: E402
from maillage.analytics.service import compute  # noqa: E402
from maillage.analytics.warehouse import Warehouse  # noqa: E402

YEAR = 2025
SET = ("consultations-mg", "telemedecine")


# --- pandas implementation of the standard set (the third engine of the comparison) ---------------------------
def _clean_lines(wh: Warehouse, columns: list[str], codes: set[int], gp_only: bool) -> pd.DataFrame:
    """Stream ER_PRS_F part by part: flux window, quality filters, public T2A, wanted prestation codes."""
    ete = pd.concat([pq.read_table(p, columns=[*snds.DCIR_JOIN_KEY, "ETE_IND_TAA"]).to_pandas()
                     for p in sorted(wh.table_dir("ER_ETE_F").glob("*.parquet"))])
    t2a = ete[ete.ETE_IND_TAA == 1][list(snds.DCIR_JOIN_KEY)].drop_duplicates()
    t2a = t2a.assign(_t2a=True)
    start, end = np.datetime64(f"{YEAR}-01-01"), np.datetime64(f"{YEAR + 1}-01-01")
    flux_end = np.datetime64(f"{YEAR + 1}-07-01")
    parts = []
    need = sorted({*columns, *snds.DCIR_JOIN_KEY, "EXE_SOI_DTD", "FLX_DIS_DTD", "DPN_QLF", "CPL_MAJ_TOP",
                   "PRS_NAT_REF", "PSE_SPE_COD", "PRS_ACT_QTE"})
    for path in sorted(wh.table_dir("ER_PRS_F").glob("*.parquet")):
        df = pq.read_table(path, columns=need).to_pandas()
        flx = df.FLX_DIS_DTD.to_numpy(dtype="datetime64[D]")
        care = df.EXE_SOI_DTD.to_numpy(dtype="datetime64[D]")
        keep = (flx >= start) & (flx < flux_end) & (care >= start) & (care < end)
        keep &= (df.DPN_QLF.isna() | (df.DPN_QLF != 71)).to_numpy() & (df.CPL_MAJ_TOP < 2).to_numpy()
        keep &= df.PRS_NAT_REF.isin(codes).to_numpy()
        if gp_only:
            keep &= df.PSE_SPE_COD.isin(snds.GP_SPECIALTIES).to_numpy()
        df = df[keep]
        df = df.merge(t2a, on=list(snds.DCIR_JOIN_KEY), how="left")
        df = df[df._t2a.isna()]
        parts.append(df[sorted({*columns, "PRS_ACT_QTE", "EXE_SOI_DTD", "PRS_NAT_REF"})])
    return pd.concat(parts, ignore_index=True)


def _communes(wh: Warehouse) -> pd.DataFrame:
    c = wh.read_table("COMMUNES").to_pandas()
    return c[["code_insee", "departement"]].rename(columns={"code_insee": "commune"})


def _levels(df: pd.DataFrame, agg: dict[str, tuple[str, str]], age: bool, period: str | None) -> pd.DataFrame:
    out = []
    for geo in ind.GEO_LEVELS:
        for all_ages in ((False, True) if age else (False,)):
            for per in (ind.PERIOD_LEVELS if period else ("",)):
                d = df.assign(niveau_geo=geo, code_geo=df.commune if geo == "commune" else (
                    df.departement if geo == "departement" else ind.TOTAL))
                keys = ["niveau_geo", "code_geo"]
                if age:
                    d = d.assign(tranche_age=ind.ALL_AGES if all_ages else d.tranche_age)
                    keys.append("tranche_age")
                if period:
                    d = d.assign(niveau_periode=per, periode=d.periode if per == "mois" else period)
                    keys += ["niveau_periode", "periode"]
                out.append(d.groupby(keys, as_index=False).agg(**agg))
    return pd.concat(out, ignore_index=True)


def pandas_gp_consultations(wh: Warehouse) -> pd.DataFrame:
    bounds = ind.AGE_BOUNDS_DEFAULT
    labels = ind.age_band_labels(bounds)
    ben = wh.read_table("IR_BEN_R").to_pandas()
    died = ben.BEN_DCD_DTE.to_numpy(dtype="datetime64[D]")
    ben = ben[(died == np.datetime64("1600-01-01")) | (died >= np.datetime64(f"{YEAR}-01-01"))]
    ben = ben.assign(commune=np.where(ben.BEN_RES_DPT.str.startswith("97"), "97" + ben.BEN_RES_COM,
                                      ben.BEN_RES_DPT.str[1:] + ben.BEN_RES_COM),
                     age=YEAR - ben.BEN_NAI_ANN.astype(int))
    ben["tranche_age"] = np.array(labels)[np.searchsorted(np.array(bounds), ben.age.to_numpy(), side="right") - 1]
    ben = ben.merge(_communes(wh), on="commune")
    lines = _clean_lines(wh, ["BEN_NIR_PSA", "BEN_RNG_GEM"], snds.CONSULTATION_CODES | snds.VISIT_CODES, True)
    lines = lines.merge(ben[["BEN_NIR_PSA", "BEN_RNG_GEM", "commune", "departement", "tranche_age"]],
                        on=["BEN_NIR_PSA", "BEN_RNG_GEM"])
    pp = lines.groupby(["BEN_NIR_PSA", "BEN_RNG_GEM", "commune", "departement", "tranche_age"], as_index=False)[
        "PRS_ACT_QTE"].sum()
    pp = pp[pp.PRS_ACT_QTE > 0].assign(patient=lambda d: d.BEN_NIR_PSA + "#" + d.BEN_RNG_GEM.astype(str))
    cons = _levels(pp, {"patients": ("patient", "nunique"), "consultations": ("PRS_ACT_QTE", "sum")}, True, None)
    pop = _levels(ben.assign(one=1), {"population": ("one", "sum")}, True, None)
    keys = ["niveau_geo", "code_geo", "tranche_age"]
    out = pop.merge(cons, on=keys, how="left").fillna({"patients": 0, "consultations": 0})
    out["taux"] = out.consultations / out.population
    bands = out[out.tranche_age != ind.ALL_AGES]
    terr = bands[bands.niveau_geo == "territoire"]
    weights = terr.set_index("tranche_age").population / terr.population.sum()
    std = bands.assign(w=bands.tranche_age.map(weights) * bands.taux.fillna(0)).groupby(
        ["niveau_geo", "code_geo"], as_index=False)["w"].sum().rename(columns={"w": "taux_standardise"})
    out = out.merge(std, on=["niveau_geo", "code_geo"], how="left")
    out.loc[out.tranche_age != ind.ALL_AGES, "taux_standardise"] = np.nan
    return out.assign(annee=YEAR)


def pandas_telemedicine(wh: Warehouse) -> pd.DataFrame:
    codes = snds.CONSULTATION_CODES | snds.VISIT_CODES | snds.TELECONSULTATION_CODES | snds.TELEEXPERTISE_CODES
    lines = _clean_lines(wh, ["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_RES_DPT", "BEN_RES_COM"], codes, False)
    lines["patient"] = lines.BEN_NIR_PSA + "#" + lines.BEN_RNG_GEM.astype(str)
    lines["commune"] = np.where(lines.BEN_RES_DPT.str.startswith("97"), "97" + lines.BEN_RES_COM,
                                lines.BEN_RES_DPT.str[1:] + lines.BEN_RES_COM)
    care = pd.to_datetime(lines.EXE_SOI_DTD)
    lines["periode"] = care.dt.strftime("%Y-%m")
    lines["kind"] = np.select([lines.PRS_NAT_REF.isin(snds.TELECONSULTATION_CODES),
                               lines.PRS_NAT_REF.isin(snds.TELEEXPERTISE_CODES)], ["tc", "te"], "consultation")
    acts = lines.groupby(["patient", "commune", "periode", "kind"], as_index=False)["PRS_ACT_QTE"].sum()
    acts = acts[acts.PRS_ACT_QTE > 0]
    acts["commune"] = acts.patient.map(acts.groupby("patient").commune.min())  # one commune per patient
    acts = acts.merge(_communes(wh), on="commune")
    acts["tc"] = np.where(acts.kind == "tc", acts.PRS_ACT_QTE, 0)
    acts["te"] = np.where(acts.kind == "te", acts.PRS_ACT_QTE, 0)
    acts["all_consult"] = np.where(acts.kind != "te", acts.PRS_ACT_QTE, 0)
    pp = acts.groupby(["patient", "commune", "departement", "periode"], as_index=False)[
        ["tc", "te", "all_consult"]].sum()
    pp["tele_patient"] = pp.patient.where(pp.tc + pp.te > 0)
    pp["consult_patient"] = pp.patient.where(pp.all_consult > 0)
    out = _levels(pp, {"patients": ("tele_patient", "nunique"), "patients_consultants": ("consult_patient", "nunique"),
                       "teleconsultations": ("tc", "sum"), "teleexpertises": ("te", "sum"),
                       "consultations": ("all_consult", "sum")}, False, str(YEAR))
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


def run_set(wh: Warehouse, engine: str, rows: int) -> tuple[float, dict[str, pd.DataFrame]]:
    frames: dict[str, pd.DataFrame] = {}
    if engine == "spark":  # the JVM start is not part of the work measured
        engines.spark_session(engines.EngineConfig(name="spark", spark_driver_memory="8g"))
    started = time.perf_counter()
    for code in SET:
        indicator = ind.get_indicator(code)
        params = indicator.resolve_params({"annee": YEAR})
        t0 = time.perf_counter()
        if engine == "pandas":
            frames[code] = ind.finalise(indicator, PANDAS[code](wh))
        else:
            config = engines.EngineConfig(name=engine, threads=2, spark_driver_memory="8g")
            frames[code] = compute(indicator, params, wh, config).frame
        print(f"    {engine:7s} {code:18s} {time.perf_counter() - t0:8.1f} s")
    seconds = time.perf_counter() - started
    print(f"  {engine:7s} ensemble standard : {seconds:.1f} s = {rows / seconds / 1e6:.2f} M lignes/s")
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
    parser.add_argument("--pandas-max-rows", type=int, default=10_000_000,
                        help="pandas seulement jusqu'à ce nombre de lignes (0 : à toutes les tailles, 100 M compris, "
                             "si la mémoire disponible suffit d'après le pic mesuré à la taille précédente)")
    parser.add_argument("--apl-only", action="store_true", help="seulement APL contre PySAL access")
    parser.add_argument("--repeats", type=int, default=9, help="essais APL de Maillage (médiane retenue)")
    args = parser.parse_args()
    base = Path(args.workdir)
    base.mkdir(parents=True, exist_ok=True)
    communes = load_real_communes() if real_communes_available() else synthetic_communes(35_000, seed=1)
    label = "réelles (référentiel)" if real_communes_available() else "synthétiques"
    print(f"Communes {label} : {len(communes):,} ; machine : {machine()} ; charge au début : {load()}")
    print("  (machine partagée : sous charge, les temps sont des bornes hautes ; les rapports comptent davantage)")
    summary: dict[str, object] = {}
    failures = []
    pandas_peak: tuple[int, int] | None = None  # (rows, peak bytes) of the last pandas run
    for rows in [] if args.apl_only else [int(s) for s in args.sizes.split(",") if s]:
        print(f"== {rows:,} lignes de prestations synthétiques (charge : {load()})")
        wh = ensure_warehouse(base, rows, communes)
        results: dict[str, float] = {}
        duck_s, duck = run_set(wh, "duckdb", rows)
        results["duckdb_rows_per_s"] = rows / duck_s
        if not args.pandas_max_rows or rows <= args.pandas_max_rows:
            needed = pandas_peak[1] * rows / pandas_peak[0] if pandas_peak else 0.0
            if needed > 0.8 * available_bytes():
                print(f"  pandas non lancé : pic estimé {needed / 2**30:.1f} Gio (linéaire depuis "
                      f"{pandas_peak[0]:,} lignes) > 80 % des {available_bytes() / 2**30:.1f} Gio disponibles")
            else:
                reset_peak_rss()
                pd_s, pandas_frames = run_set(wh, "pandas", rows)
                peak = _status_kib("VmHWM") * 1024
                pandas_peak = (rows, peak) if peak else None
                print(f"  pandas : pic de mémoire résidente du processus {peak / 2**30:.1f} Gio")
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
