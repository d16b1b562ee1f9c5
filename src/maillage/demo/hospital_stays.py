"""Synthetic hospital stays (PMSI MCO) and the CNAM's matching table of the telesurveillance cohort.

Two uses: the tests build exact stays from ``Stay`` rows (``stays_tables``), and the demo adds a synthetic cohort
of patients enrolled in telesurveillance, with stays before and after their enrolment and heart-failure stays
some of which are followed by a readmission (``synthetic_cohort``), so that the PMSI indicators show numbers on
the demo territory rather than « secret ». Every row is synthetic (``DONNÉES SYNTHÉTIQUES`` in the Parquet
metadata).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from maillage.analytics import pmsi, snds
from maillage.analytics.warehouse import Warehouse

FINESS = "010000001"
GHM = "05M091"
OTHER_DIAGNOSES = ("J441", "E119", "N185", "S720", "K358")
PROGRAMMES = ("heart_failure", "diabetes", "renal_failure")


@dataclass(frozen=True)
class Stay:
    patient: str  # NIR_ANO_17
    entree: dt.date
    sortie: dt.date
    dp: str  # principal diagnosis, CIM-10
    commune: str  # residence, INSEE code
    eta: str = FINESS
    chainable: bool = True  # False: a return code in error, the stay cannot be chained to its patient


def stays_tables(stays: Sequence[Stay], first_rsa: int = 1) -> tuple[pa.Table, pa.Table]:
    """``T_MCOB`` and ``T_MCOC`` rows for the given stays (one RSA each, numbered from ``first_rsa``)."""
    rsa = list(range(first_rsa, first_rsa + len(stays)))
    stays_b = pa.table({
        "ETA_NUM": [s.eta for s in stays], "RSA_NUM": rsa, "DGN_PAL": [s.dp for s in stays],
        "DGN_REL": ["" for _ in stays], "GRG_GHM": [GHM for _ in stays], "BDI_COD": [s.commune for s in stays],
        "AGE_ANN": [70 for _ in stays], "COD_SEX": [1 for _ in stays],
        "SEJ_NBJ": [(s.sortie - s.entree).days for s in stays],
    }, schema=snds.T_MCOB.schema)
    ok = ["0" if s.chainable else "1" for s in stays]
    zeros = ["0" for _ in stays]
    chaining = pa.table({
        "ETA_NUM": [s.eta for s in stays], "RSA_NUM": rsa, "NIR_ANO_17": [s.patient for s in stays],
        "EXE_SOI_DTD": [s.entree for s in stays], "EXE_SOI_DTF": [s.sortie for s in stays],
        "NIR_RET": ok, "NAI_RET": zeros, "SEX_RET": zeros, "SEJ_RET": zeros, "FHO_RET": zeros, "PMS_RET": zeros,
        "DAT_RET": zeros,
    }, schema=snds.T_MCOC.schema)
    return stays_b, chaining


def matching_table(rows: Iterable[tuple[str, dt.date, str]]) -> pa.Table:
    """The matching table: (NIR_ANO_17, first day of monitoring, programme) per enrolment."""
    rows = list(rows)
    return pa.table({"NIR_ANO_17": [r[0] for r in rows], "debut_inclusion": [r[1] for r in rows],
                     "programme": [r[2] for r in rows]}, schema=pmsi.MATCHING_SCHEMA)


def _next_part(warehouse: Warehouse, table: str) -> int:
    folder = warehouse.table_dir(table)
    return len(list(folder.glob("*.parquet"))) if folder.is_dir() else 0


def write(warehouse: Warehouse, stays: Sequence[Stay], matching: Iterable[tuple[str, dt.date, str]]) -> None:
    """Add the stays as a new part of ``T_MCOB`` / ``T_MCOC`` (RSA numbers after every existing one) and write
    the matching table."""
    first_rsa = 1
    if warehouse.has_table("T_MCOB"):
        numbers = warehouse.read_table("T_MCOB").column("RSA_NUM")
        first_rsa = int(max(numbers.to_pylist() or [0])) + 1
    b, c = stays_tables(stays, first_rsa)
    warehouse.write_part("T_MCOB", _next_part(warehouse, "T_MCOB"), b, synthetic=True)
    warehouse.write_part("T_MCOC", _next_part(warehouse, "T_MCOC"), c, synthetic=True)
    warehouse.write_table(pmsi.MATCHING_TABLE, matching_table(matching), synthetic=True)


def synthetic_cohort(communes: Sequence[str], year: int, patients: int, seed: int = 24
                     ) -> tuple[list[Stay], list[tuple[str, dt.date, str]]]:
    """A telesurveillance cohort enrolled in ``year`` with its stays over ``year - 1`` … ``year + 1``.

    Planted: about 1.3 stays per patient in the year before enrolment and 0.8 in the year after; heart-failure
    patients' stays have an I50 principal diagnosis, and a quarter of their stays are followed by a readmission
    within 30 days. The PMSI is made to cover the whole year after every enrolment (a last stay ends on the last
    day of ``year + 1``)."""
    rng = np.random.default_rng(seed)
    stays: list[Stay] = []
    matching: list[tuple[str, dt.date, str]] = []
    start_of_year = dt.date(year, 1, 1)
    for n in range(patients):
        patient = f"SYNTS{n:012d}"
        programme = PROGRAMMES[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]
        enrolled = start_of_year + dt.timedelta(days=int(rng.integers(0, 365)))
        commune = communes[int(rng.integers(0, len(communes)))]
        matching.append((patient, enrolled, programme))
        for sign, mean in ((-1, 1.3), (1, 0.8)):
            for _ in range(int(rng.poisson(mean))):
                offset = int(rng.integers(1, 330))
                entree = enrolled + dt.timedelta(days=sign * offset)
                sortie = entree + dt.timedelta(days=int(rng.integers(1, 9)))
                dp = "I500" if programme == "heart_failure" else OTHER_DIAGNOSES[int(rng.integers(0, 5))]
                stays.append(Stay(patient, entree, sortie, dp, commune))
                if dp.startswith(pmsi.HEART_FAILURE) and rng.random() < 0.25:
                    back = sortie + dt.timedelta(days=int(rng.integers(1, 31)))
                    stays.append(Stay(patient, back, back + dt.timedelta(days=3), "I500", commune))
    last = dt.date(year + 1, 12, 31)
    stays.append(Stay("SYNTSCOUVERTURE00", last - dt.timedelta(days=2), last, "K358", communes[0]))
    return stays, matching
