"""The steering board's activity page (``/pilotage/activite``): telemedicine activity by partner type, modality and
site, per month; response times; transfers avoided; a partner-type filter. Every figure is read from the gated
tables of ``activite-partenaires`` and ``activite-sites`` (selections of published cells, never a new sum), every
chart is drawn server-side with its table behind a « voir les données » disclosure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from maillage.analytics import activity, outcomes, pmsi, service, stored
from maillage.analytics.engines import EngineConfig
from maillage.analytics.gate import GateConfig
from maillage.analytics.indicators import TOTAL
from maillage.analytics.pages import (
    Analyst,
    _audit,
    _empty_warehouse,
    _parse_year,
    _value,
    engine_of,
    gate_of,
    warehouse_of,
)
from maillage.analytics.provenance import Provenance
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit import charts
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.numbers import fr_number
from maillage.kit.templating import templates

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
MEASURE_LABELS = {m.name: m.label for m in activity.MEASURES}


@dataclass(frozen=True)
class Figure:
    """A chart and the table it was drawn from (rows of label + formatted cells, « secret » when masked)."""

    title: str
    chart: Markup
    header: list[str]
    rows: list[list[str]]


def _cell(value: Any, decimals: int = 0) -> str:
    number = _value(value)
    return "secret" if number is None else fr_number(number, decimals)


def _bars_figure(title: str, frame: pd.DataFrame, label_column: str, labels: dict[str, str], measure: str,
                 unit: str, decimals: int = 0) -> Figure:
    frame = frame.sort_values(label_column)
    names = [labels.get(v, v) for v in frame[label_column]]
    bars = [charts.Bar(n, _value(v)) for n, v in zip(names, frame[measure], strict=True)]
    return Figure(title, charts.bar_chart(title, bars, unit, decimals), ["", MEASURE_LABELS[measure]],
                  [[n, _cell(v, decimals)] for n, v in zip(names, frame[measure], strict=True)])


def partner_figures(frame: pd.DataFrame, partner: str, year: str) -> list[Figure]:
    """The board's figures for one partner type (``ENSEMBLE``: all of them), from the gated partner table."""
    scope = activity.PARTNER_TYPES.get(partner, "tous les partenaires")
    chosen = frame[frame.type_partenaire == partner]
    figures = []
    months = chosen[chosen.niveau_periode == "mois"]
    for code, label in activity.MODALITIES.items():
        rows = months[months.modalite == code].sort_values("periode")
        title = f"{label} : actes par mois ({scope}, {year})"
        figures.append(Figure(title, charts.monthly_chart(title, list(rows.periode),
                                                          [_value(v) for v in rows.actes], "actes"),
                              ["Mois", "Actes", "Patients"],
                              [[p, _cell(a), _cell(n)] for p, a, n in
                               zip(rows.periode, rows.actes, rows.patients, strict=True)]))
    year_rows = frame[frame.niveau_periode == "annee"]
    if partner == TOTAL:
        by_type = year_rows[(year_rows.modalite == TOTAL) & (year_rows.type_partenaire != TOTAL)]
        figures.append(_bars_figure(f"Actes par type de partenaire ({year})", by_type, "type_partenaire",
                                    activity.PARTNER_TYPES, "actes", "actes"))
    te = year_rows[(year_rows.modalite == "te")]
    te = te[te.type_partenaire != TOTAL] if partner == TOTAL else te[te.type_partenaire == partner]
    figures.append(_bars_figure(f"Délai moyen de réponse des téléexpertises ({scope}, {year})", te,
                                "type_partenaire", activity.PARTNER_TYPES, "delai_moyen_heures", "heures", 1))
    figures.append(_bars_figure(f"Transferts évités : patients maintenus sur place ({scope}, {year})", te,
                                "type_partenaire", activity.PARTNER_TYPES, "maintiens_sur_place", "avis"))
    return figures


def site_figure(frame: pd.DataFrame, sites: set[str] | None, year: str) -> Figure:
    rows = frame[(frame.niveau_periode == "annee") & (frame.modalite == TOTAL) & (frame.site != TOTAL)]
    if sites is not None:
        rows = rows[rows.site.isin(sites)]
    return _bars_figure(f"Actes par site ({year})", rows, "site", {}, "actes", "actes")


def sites_of(warehouse: Warehouse, partner: str) -> set[str] | None:
    """The sites of a partner type, from the extract's (site, type) pairs: names only, no figure. Read once per
    version of the extract (``stored``)."""
    if partner == TOTAL:
        return None
    folder = warehouse.table_dir(activity.ACTIVITY_TABLE)
    pairs = stored.derived("site_types", folder, lambda: stored.read_columns(
        folder, ["site", "type_partenaire"]).drop_duplicates().reset_index(drop=True))
    return set(pairs.loc[pairs.type_partenaire == partner, "site"])


def outcome_figures(warehouse: Warehouse, gate: GateConfig, year: int) -> list[Figure]:
    """The hospital-stay outcomes (``outcomes``: the tables the report writes too), each drawn as labelled bars."""
    figures = []
    for table in outcomes.outcome_tables(warehouse, gate, year):
        if table.code == pmsi.READMISSIONS.code:
            rate = table.column("taux_rehospitalisation")
            bars = [charts.Bar(row[0], values[rate]) for row, values in zip(table.rows, table.values, strict=True)]
            chart = charts.bar_chart(table.title, bars, "proportion", 3)
        else:
            before, after = table.column("sejours_par_patient_avant"), table.column("sejours_par_patient_apres")
            bars = [charts.Bar(f"{row[0]} : {moment}", values[i])
                    for row, values in zip(table.rows, table.values, strict=True)
                    for moment, i in (("avant", before), ("après", after))]
            chart = charts.bar_chart(table.title, bars, "séjours par patient", 2)
        figures.append(Figure(table.title, chart, table.header, table.rows))
    return figures


@dataclass(frozen=True)
class Board:
    figures: list[Figure]
    provenance: Provenance
    rows: int


def board(warehouse: Warehouse, engine: EngineConfig, gate: GateConfig, annee: str, partner: str) -> Board:
    """What one request of the page does once the caller is known: the stored, gated results (read once per
    process), a selection per figure, the charts. Raises ``MaillageError`` on a bad year or partner type."""
    if partner != TOTAL and partner not in activity.PARTNER_TYPES:
        raise ValidationFailed("Type de partenaire inconnu.")
    params = _parse_year(annee, warehouse, activity.BY_PARTNER.code)
    gated, provenance = service.published(activity.BY_PARTNER.code, params, warehouse, engine, gate)
    by_site, _ = service.published(activity.BY_SITE.code, params, warehouse, engine, gate)
    year = str(provenance.parameters.get("annee", ""))
    figures = partner_figures(gated.frame, partner, year)
    figures.insert(len(activity.MODALITIES), site_figure(by_site.frame, sites_of(warehouse, partner), year))
    if year.isdigit():
        figures += outcome_figures(warehouse, gate, int(year))
    return Board(figures, provenance, len(gated.frame))


@router.get("/pilotage/activite", response_class=HTMLResponse)
def activity_page(request: Request, db: DbSession, actor: Analyst, annee: str = "",
                  partenaire: str = "") -> HTMLResponse:
    warehouse = warehouse_of(request)
    empty = _empty_warehouse(request, warehouse)
    if empty is not None:
        return empty
    context: dict[str, Any] = {"partners": activity.PARTNER_TYPES, "partner": partenaire, "annee": annee,
                               "figures": [], "error": None, "threshold": gate_of(request).threshold}
    try:
        shown = board(warehouse, engine_of(request), gate_of(request), annee, partenaire or TOTAL)
    except MaillageError as exc:
        context["error"] = exc.message
        return templates().TemplateResponse(request, "analytics/activite.html", context,
                                            status_code=exc.status_code)
    _audit(request, db, actor, action="read", code=activity.BY_PARTNER.code, provenance=shown.provenance,
           filters={"partenaire": partenaire, "annee": annee}, rows=shown.rows)
    context.update(figures=shown.figures, annee=str(shown.provenance.parameters.get("annee", "")),
                   provenance=shown.provenance)
    return templates().TemplateResponse(request, "analytics/activite.html", context)
