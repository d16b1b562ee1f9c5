"""SNDS query rules as tested code: flux-month windows, quality filters, regularisation lines, PMSI cleaning.

Every function takes and returns Ibis expressions, so the same rule runs on DuckDB and on Spark.
Sources: Documentation SNDS (HDH, MPL-2.0) fiches/sas_prestation_dcir.md and formation_snds/documents_cnam/
essentiel_snds.md, as summarised in research/health-data.md §1.2–1.3.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from maillage.analytics import snds
from maillage.kit.months import add_months

# "la requête doit être répétée 18 fois (année entière plus les 6 mois suivants)" — fiches/sas_prestation_dcir.md
FLUX_LAG_MONTHS = 6


def flux_months(year: int, lag_months: int = FLUX_LAG_MONTHS) -> list[dt.date]:
    """The monthly loads (FLX_DIS_DTD, first day of the month) to read for care delivered in ``year``.

    The 12 months of the year plus the ``lag_months`` following: 18 loads by default, which capture more than
    98 % of a year's drug deliveries (fiches/sas_prestation_dcir.md).
    """
    if lag_months < 0:
        raise ValueError("lag_months must be >= 0")
    first = dt.date(year, 1, 1)
    return [add_months(first, i) for i in range(12 + lag_months)]


def flux_window(year: int, lag_months: int = FLUX_LAG_MONTHS) -> tuple[dt.date, dt.date]:
    """Half-open interval [start, end) of FLX_DIS_DTD covering ``flux_months(year, lag_months)``."""
    months = flux_months(year, lag_months)
    return months[0], add_months(months[-1], 1)


def care_in_period(prs: ir.Table, start: dt.date, end: dt.date, lag_months: int = FLUX_LAG_MONTHS) -> ir.Table:
    """DCIR lines for care started in [start, end), read from the flux months that can carry them.

    Filtering on FLX_DIS_DTD first (one value per month, the partitioning column of the DCIR: "Privilégier
    FLX_DIS_DTD à FLX_TRT_DTD", essentiel_snds.md) then on the care date EXE_SOI_DTD.
    """
    flux_start = dt.date(start.year, start.month, 1)
    last_month = add_months(dt.date(end.year, end.month, 1), -1 if end.day == 1 else 0)
    flux_end = add_months(last_month, lag_months + 1)
    return prs.filter(
        ibis.date(flux_start) <= prs.FLX_DIS_DTD,
        ibis.date(flux_end) > prs.FLX_DIS_DTD,
        ibis.date(start) <= prs.EXE_SOI_DTD,
        ibis.date(end) > prs.EXE_SOI_DTD,
    )


def quality_filters(prs: ir.Table) -> ir.Table:
    """The standard DCIR filters on ER_PRS_F alone.

    - ``DPN_QLF <> 71``: lines sent for information only would count an act twice;
    - ``CPL_MAJ_TOP < 2``: majorations and complements are not acts of their own.
    """
    return prs.filter(
        prs.DPN_QLF.isnull() | (prs.DPN_QLF != snds.DPN_QLF_INFORMATION_ONLY),
        prs.CPL_MAJ_TOP < snds.CPL_MAJ_TOP_MAX,
    )


def without_public_t2a(prs: ir.Table, ete: ir.Table) -> ir.Table:
    """Drop the lines of public hospitals billing directly in T2A (``ETE_IND_TAA = 1``), counted in the PMSI.

    ER_ETE_F is joined on the 9 DCIR keys; lines without an ER_ETE_F row are kept ("ETE_IND_TAA <> 1 OR
    ETE_IND_TAA IS MISSING").
    """
    flagged = ete.filter(ete.ETE_IND_TAA == snds.ETE_IND_TAA_PUBLIC_T2A).select(*snds.DCIR_JOIN_KEY).distinct()
    return prs.anti_join(flagged, list(snds.DCIR_JOIN_KEY))


def clean_dcir(prs: ir.Table, ete: ir.Table, start: dt.date, end: dt.date,
               lag_months: int = FLUX_LAG_MONTHS) -> ir.Table:
    """Period window on the flux months, then the quality filters and the public-T2A exclusion."""
    return without_public_t2a(quality_filters(care_in_period(prs, start, end, lag_months)), ete)


def net_quantity_by(lines: ir.Table, by: Sequence[str]) -> ir.Table:
    """Sum the signed quantities (PRS_ACT_QTE) so that regularisation lines cancel what they correct.

    Regularisations carry negative quantities and must be summed with the line they correct; only groups whose
    net quantity stays positive are kept (a fully cancelled act did not happen).
    """
    grouped = lines.group_by(list(by)).aggregate(net_acts=lines.PRS_ACT_QTE.sum())
    return grouped.filter(grouped.net_acts > 0)


def residence_insee(table: ir.Table) -> ir.Value:
    """INSEE commune code from BEN_RES_DPT (3 characters) and BEN_RES_COM (3 characters)."""
    dpt = table.BEN_RES_DPT
    com = table.BEN_RES_COM
    return ibis.cases((dpt.startswith("97"), ibis.literal("97") + com), else_=dpt.substr(1, 2) + com)


def clean_mco_stays(stays: ir.Table, chaining: ir.Table) -> ir.Table:
    """PMSI MCO stays that can be counted and chained to a patient.

    - drop the geographic FINESS duplicates of AP-HP, AP-HM and HCL;
    - drop error GHMs (``GRG_GHM LIKE '90%'``);
    - keep chainable patients: ``NIR_ANO_17`` not a placeholder and every return code ``*_RET = '0'``.
    """
    kept = stays.filter(
        ~stays.ETA_NUM.isin(sorted(snds.DUPLICATE_FINESS)),
        ~stays.GRG_GHM.startswith(snds.ERROR_GHM_PREFIX),
    )
    chain_ok = chaining.filter(
        ~chaining.NIR_ANO_17.isin(sorted(snds.NIR_ANO_PLACEHOLDERS)),
        *[chaining[c] == "0" for c in snds.PMSI_RET_COLUMNS],
    )
    return kept.inner_join(chain_ok, list(snds.PMSI_STAY_KEY))
