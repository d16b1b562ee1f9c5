"""The drug database at the BDPM's size: import time, and search latency by name prefix and by substance.

Run: `.venv/bin/python benchmarks/drugs.py` (what `make bench` runs). The database is `MAILLAGE_BENCH_DRUGS_URL`
(default: the local PostgreSQL server, database `maillage_bench_drugs`, created if missing, its schema built by the
migrations); `--sqlite` measures an SQLite file instead. Without a reachable server the script says so and exits 2.

The release is generated in the published format (tab-separated, no header, Latin-1, CRLF) in a temporary folder:
15,000 specialities (10 % no longer marketed), 20,000 presentations with valid CIP13 codes, about 22,000 composition
lines over 1,500 substances, 6,000 generic-group memberships and 300 important-information notices (`--scale` for
more or less). The same seed gives the same files.

Measured: the import (`drugs.import_release`: reading, checking, replacing the base, commit), then 300 searches
through `drugs.search` (the service: queries plus the description of up to 20 hits: boxes, substances, generic
group, notices) for 3-letter name prefixes and for substance words, p50 / p95 / p99 in milliseconds. The floors
the issue sets: import under 30 s, search p95 under 20 ms. The machine is shared: figures are upper bounds.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MAILLAGE_VAR_DIR", str(Path(tempfile.gettempdir()) / "maillage-bench-drugs"))

import psycopg  # noqa: E402
from _machine import cpu_model, loadavg  # noqa: E402
from sqlalchemy import delete  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from stdnum import ean  # noqa: E402

from maillage.kit.db import make_engine, make_sessionmaker, normalise_url  # noqa: E402
from maillage.models.drug import DrugRelease  # noqa: E402
from maillage.prescription import drugs  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/maillage_bench_drugs"
SYLLABLES = ["AMO", "XI", "CIL", "LI", "NE", "PA", "RA", "CE", "TA", "MOL", "DO", "LI", "PRA", "NE", "MET", "FOR",
             "MI", "NE", "LEVO", "THY", "ROX", "CLO", "BE", "TA", "SOL", "ISO", "TRE", "TI", "NO", "INE", "VAL",
             "SAR", "TAN", "PRI", "LOS", "ATOR", "VA", "STA", "TINE", "OME", "PRA", "ZOLE", "DI", "CLO", "FE", "NAC"]
FORMS = ["comprimé", "comprimé pelliculé", "gélule", "crème", "solution buvable", "capsule molle",
         "poudre pour solution buvable en sachet-dose", "collyre en solution", "solution injectable"]
LABS = ["BIOGARAN", "SANDOZ", "ARROW GÉNÉRIQUES", "VIATRIS SANTÉ", "TEVA SANTÉ", "ZENTIVA FRANCE", "CRISTERS"]
SALTS = ["", "CHLORHYDRATE DE ", "SULFATE DE ", "PROPIONATE DE ", "MALÉATE DE ", ""]


def word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts))


def cip13(serial: int) -> str:
    body = f"34009{serial:07d}"
    return body + ean.calc_check_digit(body)


def generate(folder: Path, scale: float, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    n_specialities, n_presentations = int(15_000 * scale), int(20_000 * scale)
    substances = sorted({rng.choice(SALTS) + word(rng, rng.randint(2, 4)) for _ in range(int(1_500 * scale))})
    specialities, compositions, generics, notices = [], [], [], []
    cis_codes = []
    for i in range(n_specialities):
        cis = f"6{i:07d}"
        cis_codes.append(cis)
        held = rng.sample(substances, 2 if rng.random() < 0.45 else 1)
        brand = word(rng, rng.randint(2, 3)) if rng.random() < 0.4 else held[0].split()[-1] + " " + rng.choice(LABS)
        dose = rng.choice(["5 mg", "10 mg", "20 mg", "100 mg", "500 mg", "1 g", "0,05 %"])
        form = rng.choice(FORMS)
        marketed = "Commercialisée" if rng.random() < 0.9 else "Non commercialisée"
        specialities.append("\t".join([cis, f"{brand} {dose}, {form}", form, "orale", "Autorisation active",
                                       "Procédure nationale", marketed, f"{rng.randint(1, 28):02d}/"
                                       f"{rng.randint(1, 12):02d}/{rng.randint(1975, 2024)}", "", "",
                                       f" {rng.choice(LABS)}", "Non"]))
        for substance in held:
            compositions.append("\t".join([cis, form, f"{rng.randint(1, 99999):05d}", substance, dose,
                                           "un comprimé", "SA", "1", ""]))
    presentations = []
    for i in range(n_presentations):
        code = cip13(3_000_000 + i)
        presentations.append("\t".join([
            cis_codes[i % n_specialities], code[5:12], f"plaquette(s) PVC aluminium de {rng.choice([8, 14, 28, 30])} "
            "unité(s)", "Présentation active", "Déclaration de commercialisation", "16/03/2011", code, "oui", "65%",
            f"{rng.randint(1, 90)},{rng.randint(0, 99):02d}", "", ""]))
    for group in range(int(3_000 * scale)):
        members = rng.sample(cis_codes, 2)
        label = f"GROUPE {group}"
        generics.extend("\t".join([str(10_000 + group), label, cis, kind, str(rank)])
                        for rank, (cis, kind) in enumerate(zip(members, ["0", "1"], strict=True), start=1))
    for cis in rng.sample(cis_codes, int(300 * scale)):
        notices.append(f"{cis}\t2024-01-01\t2035-12-31\t<a target='_blank' href='https://ansm.sante.fr/x'>"
                       f"Information de sécurité {cis}</a>")
    files = {"CIS_bdpm.txt": specialities, "CIS_CIP_bdpm.txt": presentations, "CIS_COMPO_bdpm.txt": compositions,
             "CIS_GENER_bdpm.txt": generics, "CIS_InfoImportantes.txt": notices}
    for name, lines in files.items():
        (folder / name).write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    return {"specialities": len(specialities), "presentations": len(presentations),
            "compositions": len(compositions), "generics": len(generics), "notices": len(notices),
            "substances": len(substances)}



def percentile(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def timed(fn: Callable[[str], object], queries: list[str]) -> tuple[float, float, float]:
    for query in queries[:10]:  # warm the caches
        fn(query)
    times = []
    for query in queries:
        start = time.perf_counter()
        fn(query)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return percentile(times, 0.5), percentile(times, 0.95), percentile(times, 0.99)


def prepare_postgres(url: str) -> str:
    parsed = make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False).replace("+psycopg", "")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("select 1 from pg_database where datname = %s", (parsed.database,)).fetchone() is None:
                conn.execute(f'create database "{parsed.database}"')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL injoignable ({exc}); --sqlite pour mesurer sur SQLite.", file=sys.stderr)
        raise SystemExit(2) from exc
    return url


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "heads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 15,000 specialities, 20,000 boxes")
    parser.add_argument("--sqlite", action="store_true", help="measure an SQLite file instead of PostgreSQL")
    parser.add_argument("--searches", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="maillage-bench-drugs-"))
    if args.sqlite:
        url = f"sqlite:///{work / 'drugs.sqlite3'}"
    else:
        url = prepare_postgres(normalise_url(os.environ.get("MAILLAGE_BENCH_DRUGS_URL", DEFAULT_URL)))
    migrate(url)
    folder = work / "bdpm"
    folder.mkdir()
    counts = generate(folder, args.scale)
    engine = make_engine(url)
    session = make_sessionmaker(engine)()
    session.execute(delete(DrugRelease))  # a previous run's release: this one must really replace the base
    session.commit()
    start = time.perf_counter()
    outcome = drugs.import_release(session, folder)
    session.commit()
    import_seconds = time.perf_counter() - start
    rng = random.Random(11)
    names = [line.split("\t")[1] for line in (folder / "CIS_bdpm.txt").read_text("latin-1").splitlines()]
    substances = [line.split("\t")[3] for line in (folder / "CIS_COMPO_bdpm.txt").read_text("latin-1").splitlines()]
    prefixes = [rng.choice(names)[:3] for _ in range(args.searches)]
    words = [rng.choice(substances).split()[-1][:6].lower() for _ in range(args.searches)]

    def search(query: str) -> object:
        session.rollback()  # a request's own transaction each time
        return drugs.search(session, query)

    by_name = timed(search, prefixes)
    by_substance = timed(search, words)
    session.close()
    engine.dispose()
    print(f"machine : {cpu_model()}, {os.cpu_count()} cœurs, charge {loadavg()}, Python {platform.python_version()}")
    print(f"base : {'SQLite' if args.sqlite else 'PostgreSQL'} ; fichiers générés : " +
          ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"import : {import_seconds:.1f} s ({outcome.specialities} spécialités, {outcome.presentations} présentations,"
          f" {len(outcome.issues)} ligne(s) ignorée(s)) ; plancher 30 s")
    for label, (p50, p95, p99) in (("recherche par préfixe de nom (3 lettres)", by_name),
                                   ("recherche par substance (mot de 6 lettres)", by_substance)):
        print(f"{label} : p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms ; plancher p95 20 ms")


if __name__ == "__main__":
    main()
