"""Territorial coverage per modality (issue 24): the communes whose patients used tele-expertise, teleconsultation or
telesurveillance in the year, beside the communes the APL marks as under-served.

The indicator (``couverture-modalites``) counts, from the activity extract (``OP_ACTIVITE_TELEMEDECINE``), the
distinct patients and the acts of each commune of residence, département and the territory, per modality and for
all modalities; a patient without a commune, or living outside the territory's communes table, is left out. A
commune is **served** by a modality when it has a row for it: its patients made at least one act (the row's counts
may be masked by the gate, the row itself is published, as for every indicator by commune).

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
    served: int  # communes whose patients used the modality
    deserts_served: int  # of which under-served by GPs (APL)
    deserts_not_served: int


def coverage_rows(coverage: pd.DataFrame, deserts: set[str], communes: set[str] | None = None) -> list[CoverageRow]:
    """Per modality (and all of them), from the gated coverage table's commune rows, the communes served and the
    APL deserts served or not (``communes``: restrict to these, e.g. one département)."""
    rows = coverage[coverage.niveau_geo == "commune"]
    if communes is not None:
        rows = rows[rows.code_geo.isin(communes)]
        deserts = deserts & communes
    out = []
    for code, label in {**activity.MODALITIES, ind.TOTAL: "Toutes modalités"}.items():
        served = set(rows.loc[rows.modalite == code, "code_geo"])
        out.append(CoverageRow(label, len(served), len(served & deserts), len(deserts - served)))
    return out
