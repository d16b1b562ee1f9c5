"""Cost of the MSSanté archive: building an IHE XDM zip (PDF + CDA R2 level-1 wrapper + METADATA.XML) and reading
one received (unzip, parse the ebRIM metadata, check SHA-1 and size), for 100 KiB, 1 MiB and 10 MiB documents.

Run: `.venv/bin/python benchmarks/mssante_xdm.py` (no database: the archive code alone; the vault's cost of keeping the
archive and the original message encrypted is `benchmarks/vault.py`). Prints the median of 7 runs per size.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import time

from _machine import cpu_model, loadavg

from maillage.integrations.mssante import xdm

SIZES = (100 * 1024, 1024 * 1024, 10 * 1024 * 1024)
RUNS = 7


def submission(data: bytes) -> xdm.Submission:
    at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    return xdm.Submission(
        document=xdm.OutgoingDocument(data=data, media_type="application/pdf", title="Compte rendu",
                                      type_code=xdm.Code("11488-4", xdm.LOINC, "Compte rendu de consultation"),
                                      class_code=xdm.Code("11", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
                                      created_at=at, unique_id="2.25.1"),
        patient=xdm.PatientIdentity(identifier="279035121518989", authority="1.2.250.1.213.1.4.10",
                                    birth_name="DURAND", given_names="Jeanne", birth_date=dt.date(1979, 3, 5),
                                    sex="F", is_ins=True),
        author=xdm.Author(name="Claire Martin", rpps="10101010101"), source_id="1.2.250.1.999.1",
        intended_recipient="dr.leroy@chu.mssante.fr", submitted_at=at)


def main() -> None:
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load {loadavg()}; Python {platform.python_version()}")
    print(f"{'document':>10} {'archive':>10} {'build ms':>10} {'read ms':>10}")
    for size in SIZES:
        data = b"%PDF-1.7\n" + os.urandom(size - 9)  # random bytes: the zip cannot shrink them (worst case)
        builds, reads = [], []
        archive = b""
        for _ in range(RUNS):
            start = time.perf_counter()
            archive = xdm.build(submission(data))
            builds.append(time.perf_counter() - start)
            start = time.perf_counter()
            got = xdm.read(archive)
            reads.append(time.perf_counter() - start)
            assert got.entries[0].data == data
        print(f"{size // 1024:>7} KiB {len(archive) // 1024:>6} KiB {statistics.median(builds) * 1000:>10.1f} "
              f"{statistics.median(reads) * 1000:>10.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
