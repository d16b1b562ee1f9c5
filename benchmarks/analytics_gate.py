"""Cost of the small-cell gate, whose secondary suppression is checked by a linear-programming attacker (HiGHS).

    .venv/bin/python benchmarks/analytics_gate.py                 # département 87, 80,000 claim lines, year 2025
    .venv/bin/python benchmarks/analytics_gate.py --departement 2A --rows 40000

For each claims indicator and the APL: the indicator's computation on DuckDB, the gate's first pass (linear
programs included), then the reading of the gated table kept beside the stored result (what a page does), with the
cells masked. Synthetic claims are generated in a temporary warehouse; nothing is written elsewhere.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, loadavg

from maillage.analytics import engines, service
from maillage.analytics.communes import load_real_communes
from maillage.analytics.warehouse import Warehouse
from maillage.demo.claims import generate_claims
from maillage.kit.logging import configure_logging

INDICATORS = ("consultations-mg", "telemedecine", "apl-mg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departement", default="87")
    parser.add_argument("--rows", type=int, default=80_000)
    args = parser.parse_args()
    configure_logging("WARNING")
    print(f"machine: {cpu_model()}, {platform.python_implementation()} {platform.python_version()}, "
          f"load {loadavg()}")
    print(f"warehouse: département {args.departement}, {args.rows:,} synthetic claim lines, year 2025")
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(Path(tmp) / "warehouse")
        generate_claims(warehouse, load_real_communes(args.departement), rows=args.rows, seed=9, year=2025,
                        territory=args.departement)
        config = engines.config_from_settings()
        print(f"{'indicator':<18} {'rows':>6} {'compute s':>10} {'gate s':>8} {'kept read s':>12} "
              f"{'masked':>8} {'cells':>7}")
        for code in INDICATORS:
            start = time.perf_counter()
            result = service.result_for(warehouse, code, {}, config)
            computed = time.perf_counter()
            gated, _ = service.published(code, {}, warehouse, config)
            gated_at = time.perf_counter()
            service.published(code, {}, warehouse, config)
            read_at = time.perf_counter()
            report = gated.report
            masked = report.get("masquees_primaires", 0) + report.get("masquees_secondaires", 0)
            print(f"{code:<18} {len(result.frame):>6} {computed - start:>10.2f} {gated_at - computed:>8.2f} "
                  f"{read_at - gated_at:>12.3f} {masked:>8} {report.get('cellules', 0):>7}")


if __name__ == "__main__":
    main()
