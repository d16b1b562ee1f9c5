"""Territorial coverage per modality (issue 24): the communes whose patients used tele-expertise, teleconsultation or
telesurveillance in the year, beside the communes the APL marks as under-served.

The indicator (``couverture-modalites``) counts, from the activity extract (``OP_ACTIVITE_TELEMEDECINE``), the
distinct patients and the acts of each commune of residence, département and the territory, per modality and for
all modalities; a patient without a commune, or living outside the territory's communes table, is left out. A
commune is **served** by a modality when its published count of patients is above zero; a commune whose count the
gate masked is counted apart (the gate masks zeros too, when they would give a neighbour away).

``coverage_rows`` joins it with the APL's gated table: per modality, the communes served, and how many of the
under-served communes (« déserts ») are served or not. These are counts of communes, taken from the published rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from maillage.analytics import activity
from maillage.analytics import indicators as ind
from maillage.analytics.clinical import _require, _year_window
from maillage.analytics.extract import PSEUDONYM_COLUMN
from maillage.analytics.gate import GateConfig
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import MaillageError


def build_coverage(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
    year = int(params["annee"])
    acts = _require(tables, activity.ACTIVITY_TABLE)
    acts = acts.filter(_year_window(acts.date_acte, year), acts.commune_residence.notnull())
    com = tables["COMMUNES"]
    communes = com.select(commune=com.code_insee, departement=com.departement)
    facts = acts.select(pid=acts[PSEUDONYM_COLUMN], commune=acts.commune_residence, modalite=acts.modalite)
    facts = facts.inner_join(communes, "commune")
    x = ind.expand_levels(facts)
    x = x.cross_join(ibis.memtable({"_toutes": [False, True]}))
    x = x.mutate(modalite=ibis.ifelse(x._toutes, ibis.literal(ind.TOTAL), x.modalite))
    cells = x.group_by(["niveau_geo", "code_geo", "modalite"]).aggregate(patients=x.pid.nunique(), actes=x.count())
    return cells.mutate(annee=ibis.literal(year))


COVERAGE = ind.Indicator(
    code="couverture-modalites",
    label="Couverture territoriale par modalité de télémédecine",
    description=(
        "Patients ayant eu au moins un acte de télémédecine dans l'année (téléexpertise demandée, téléconsultation "
        "tenue, inclusion en télésurveillance), et actes, par commune de résidence du patient, département et "
        "territoire, pour chaque modalité et pour l'ensemble. Une commune est desservie par une modalité quand ses "
        "habitants y ont eu recours. Source : extraction opérationnelle pseudonymisée."
    ),
    unit="patients",
    version="1.0",
    measures=(
        ind.Measure("patients", "Patients", "patients", "patients"),
        ind.Measure("actes", "Actes", "actes", "count"),
    ),
    dimensions=("geo",),
    groups=("modalite",),
    parameters=(ind.Parameter("annee", "Année de l'acte", ind.CURRENT_YEAR_DEFAULT),),
    build=build_coverage,
    tables=(activity.ACTIVITY_TABLE, "COMMUNES"),
    patients=("patients",),
    relations=((("patients",), ("actes",), 1.0),),
    chart="bars",
    main_measure="patients",
)


@dataclass(frozen=True)
class CoverageRow:
    modality: str
    served: int  # communes whose published count of patients is above zero
    undetermined: int  # communes whose count is masked by the gate (zero or not: it cannot be told)
    deserts_served: int  # under-served communes (APL) served
    deserts_not_served: int  # under-served communes with a published zero, or no patient at all
    deserts_undetermined: int


def coverage_rows(coverage: pd.DataFrame, deserts: set[str], communes: set[str] | None = None) -> list[CoverageRow]:
    """Per modality (and all of them), from the gated coverage table's commune rows: the communes served, those
    the gate masked (the gate masks zeros too, to protect a neighbour: a masked commune is not counted as served),
    and the APL deserts served, not served or masked (``communes``: restrict to these, e.g. one département)."""
    rows = coverage[coverage.niveau_geo == "commune"]
    if communes is not None:
        rows = rows[rows.code_geo.isin(communes)]
        deserts = deserts & communes
    out = []
    for code, label in {**activity.MODALITIES, ind.TOTAL: "Toutes modalités"}.items():
        chosen = rows[rows.modalite == code]
        served = set(chosen.loc[chosen.patients.notna() & (chosen.patients > 0), "code_geo"])
        masked = set(chosen.loc[chosen.patients.isna(), "code_geo"])
        out.append(CoverageRow(label, len(served), len(masked), len(served & deserts), len(deserts - served - masked),
                               len(masked & deserts)))
    return out


def stored_coverage(warehouse: Warehouse, gate: GateConfig, year: int) -> tuple[list[CoverageRow], int] | None:
    """The coverage rows of the year report: the stored coverage of ``year`` (or of one of the three years before),
    beside the deserts of the newest stored APL; None when no coverage result is stored."""
    from maillage.analytics import service

    for wanted in range(year, year - 4, -1):
        try:
            result = service.latest_result(warehouse, COVERAGE.code, {"annee": wanted})
        except MaillageError:
            return None
        if result is None:
            continue
        frame = service.gated_result(warehouse, result, gate).frame
        deserts: set[str] = set()
        apl_year = service.default_year(warehouse, "apl-mg")
        apl = service.latest_result(warehouse, "apl-mg", {"annee": apl_year}) if apl_year else None
        if apl is not None:
            gated = service.gated_result(warehouse, apl, gate).frame
            deserts = set(gated.loc[(gated.niveau_geo == "commune") & (gated.desert == 1), "code_geo"])
        return coverage_rows(frame, deserts), wanted
    return None
