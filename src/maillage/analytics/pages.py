"""Analyst pages (French): the indicator catalogue, one page per indicator (chart + table + filters + exports),
the APL map of communes with the list of under-served communes.

Everything shown comes out of ``service.published`` (the confidentiality gate) and every view or export is
audited, in the platform's audit trail (same transaction) and in the warehouse's own journal.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from maillage.analytics import audit as warehouse_audit
from maillage.analytics import engines, service
from maillage.analytics.catalogue import all_indicators, get_indicator
from maillage.analytics.communes import departement_outlines
from maillage.analytics.coverage import COVERAGE, CoverageRow, coverage_rows
from maillage.analytics.gate import SECRET_COLUMN, GateConfig
from maillage.analytics.indicators import ALL_AGES, TOTAL, Indicator
from maillage.analytics.provenance import Provenance
from maillage.analytics.warehouse import Warehouse
from maillage.audit import service as platform_audit
from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit import charts
from maillage.kit.http import DbSession, UnitOfWorkRoute, client_address, request_id
from maillage.kit.numbers import fr_number
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.deps import require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Analyst = Annotated[Actor, Depends(require(Permission.ANALYTICS_READ))]
MAX_BARS = 30
PAGE_SIZE = 50


@dataclass(frozen=True)
class Paged:
    """One page of a long list, and what the page says about it (« 51 à 100 sur 195 »)."""

    items: list[Any]
    total: int
    page: int
    pages: int
    first: int
    last: int
    previous_url: str | None
    next_url: str | None


def paged(request: Request, items: list[Any], page: str, size: int = PAGE_SIZE) -> Paged:
    """The ``page``-th slice of ``items`` (1 when absent, malformed or past the end)."""
    pages = max(1, -(-len(items) // size))
    number = int(page) if page.isdigit() and 1 <= int(page) <= pages else 1
    start = (number - 1) * size
    chunk = items[start:start + size]

    def url(n: int) -> str:
        return f"{request.url.path}?{urlencode({**request.query_params, 'page': str(n)})}"

    return Paged(items=chunk, total=len(items), page=number, pages=pages, first=start + 1 if chunk else 0,
                 last=start + len(chunk), previous_url=url(number - 1) if number > 1 else None,
                 next_url=url(number + 1) if number < pages else None)


def territory_departement(warehouse: Warehouse, requested: str) -> str:
    """The département asked for, else the warehouse's only one (a territory of one département opens on it)."""
    if requested or not warehouse.has_table("COMMUNES"):
        return requested
    found = set(warehouse.read_table("COMMUNES").column("departement").unique().to_pylist())
    return found.pop() if len(found) == 1 else ""


def _settings(request: Request) -> Any:
    return request.app.state.settings


def warehouse_of(request: Request) -> Warehouse:
    settings = _settings(request)
    return Warehouse(settings.warehouse_dir or settings.var_dir / "warehouse")


def engine_of(request: Request) -> engines.EngineConfig:
    settings = _settings(request)
    return engines.EngineConfig(name=settings.analytics_engine, spark_master=settings.spark_master)


def gate_of(request: Request) -> GateConfig:
    return GateConfig(threshold=_settings(request).small_cell_threshold)


def _audit(request: Request, db: Any, actor: Actor, *, action: str, code: str, provenance: Provenance,
           filters: dict[str, Any], rows: int, fmt: str = "") -> None:
    platform_audit.record(
        db, action=action, object_type="analytics_indicator", object_id=code,
        actor_id=str(actor.user_id), actor_role=actor.role.value,
        establishment_id=str(actor.current_establishment_id) if actor.current_establishment_id else None,
        context=AuditContext(request_id=request_id(request), address=client_address(request)),
        details={"run_id": provenance.run_id, "rows": rows, "format": fmt or None,
                 "filters": json.dumps({k: v for k, v in filters.items() if v}, ensure_ascii=False)[:200]},
    )
    warehouse_audit.record(warehouse_of(request), actor=str(actor.user_id), action=action, indicator=code,
                           parameters=provenance.parameters, filters=filters, rows=rows, fmt=fmt,
                           run_id=provenance.run_id)


def _names(warehouse: Warehouse) -> tuple[dict[str, str], pd.DataFrame]:
    if not warehouse.has_table("COMMUNES"):
        return {}, pd.DataFrame()
    communes = warehouse.read_table("COMMUNES").to_pandas()
    return dict(zip(communes.code_insee, communes.nom, strict=True)), communes


def _empty_warehouse(request: Request, warehouse: Warehouse) -> HTMLResponse | None:
    if warehouse.table_names():
        return None
    return templates().TemplateResponse(request, "analytics/vide.html", {})


@router.get("/pilotage", response_class=HTMLResponse)
def catalogue_page(request: Request, actor: Analyst) -> HTMLResponse:
    warehouse = warehouse_of(request)
    return templates().TemplateResponse(request, "analytics/catalogue.html", {
        "indicators": all_indicators(), "manifest": warehouse.manifest(), "empty": not warehouse.table_names(),
        "threshold": gate_of(request).threshold,
    })


def _parse_year(annee: str, warehouse: Warehouse | None = None, code: str = "") -> dict[str, Any]:
    """The year asked for; without one, the newest year whose results are stored (the indicator's default when
    none is)."""
    if not annee:
        stored = service.default_year(warehouse, code) if warehouse is not None and code else None
        return {"annee": stored} if stored else {}
    if not annee.isdigit() or not 2000 <= int(annee) <= 2100:
        raise ValidationFailed("Année invalide.")
    return {"annee": int(annee)}


def _geo_rows(frame: pd.DataFrame, departement: str, indicator: Indicator, year: str) -> pd.DataFrame:
    rows = frame[frame.niveau_geo == ("commune" if departement else "departement")]
    if "age" in indicator.dimensions:
        rows = rows[rows.tranche_age == ALL_AGES]
    if "periode" in indicator.dimensions:
        rows = rows[rows.niveau_periode == "annee"]
    return rows


def _focus(frame: pd.DataFrame, departement: str) -> pd.DataFrame:
    level, code = ("departement", departement) if departement else ("territoire", TOTAL)
    return frame[(frame.niveau_geo == level) & (frame.code_geo == code)]


def _value(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _has_supply(apl_rows: pd.DataFrame) -> bool:
    """Whether the claims of the year show any GP activity near these communes: some APL above 0, or masked (the
    gate masks a score only where a small supply is within reach)."""
    apl = apl_rows["apl"]
    return bool(len(apl_rows)) and bool((apl.isna() | (apl > 0)).any())


def display_rows(frame: pd.DataFrame, indicator: Indicator, label: Any) -> list[dict[str, Any]]:
    """Rows ready to show: a label, every measure formatted the French way (« — » when masked), the secret."""
    rows = []
    for record in frame.to_dict("records"):
        cells = [fr_number(_value(record.get(m.name)), m.decimals or 0) for m in indicator.measures]
        rows.append({"label": label(record), "cells": cells, "secret": record.get(SECRET_COLUMN) or ""})
    return rows


GROUP_LABELS = {"ligne": "Filière de spécialité", "etablissement_demandeur": "Établissement demandeur",
                "programme": "Programme de télésurveillance"}


def group_value_label(group: str, value: str) -> str:
    if value == TOTAL:
        return "Ensemble"
    if group == "programme":
        from maillage.monitoring.rules.programmes import PROGRAMMES

        programme = PROGRAMMES.get(value)
        return programme.label if programme is not None else value
    return value


def _group_page(request: Request, db: DbSession, actor: Actor, indicator: Indicator, gated: Any,
                provenance: Provenance, warehouse: Warehouse) -> HTMLResponse:
    """An indicator broken down by categories (line, establishment, programme) rather than by territory."""
    frame = gated.frame
    year = str(provenance.parameters.get("annee", ""))
    first, others = indicator.groups[0], indicator.groups[1:]

    def at(frame: pd.DataFrame, spread: str | None, period: str) -> pd.DataFrame:
        keep = frame.niveau_periode == period
        for g in indicator.groups:
            keep &= (frame[g] != TOTAL) if g == spread else (frame[g] == TOTAL)
        return frame[keep]

    measure = indicator.main_measure
    decimals = next((m.decimals for m in indicator.measures if m.name == measure), None) or 0
    measure_label, measure_unit = next((m.label, m.unit) for m in indicator.measures if m.name == measure)
    rows = at(frame, first, "annee").sort_values(first)
    bars = [charts.Bar(group_value_label(first, v), _value(x))
            for v, x in zip(rows[first], rows[measure], strict=True)][:MAX_BARS]
    chart = charts.bar_chart(f"{measure_label} par {GROUP_LABELS.get(first, first).lower()} ({year})", bars,
                             measure_unit, decimals)
    months = at(frame, None, "mois").sort_values("periode")
    series = charts.monthly_chart(f"{measure_label} par mois", list(months.periode),
                               [_value(v) for v in months[measure]], indicator.unit, decimals)
    second = others[0] if others else None
    breakdown = at(frame, second, "annee").sort_values(second) if second else frame.iloc[0:0]
    _audit(request, db, actor, action="read", code=indicator.code, provenance=provenance, filters={"annee": year},
           rows=len(frame))
    return templates().TemplateResponse(request, "analytics/indicateur.html", {
        "indicator": indicator, "chart": chart, "series": series, "row_header": GROUP_LABELS.get(first, first),
        "rows": display_rows(rows, indicator, lambda r: group_value_label(first, r[first])),
        "totals": display_rows(at(frame, None, "annee"), indicator, lambda r: "Ensemble"),
        "bands": display_rows(breakdown, indicator, lambda r: group_value_label(second or "", r[second])),
        "bands_title": f"Par {GROUP_LABELS.get(second or '', second or '').lower()}",
        "bands_header": GROUP_LABELS.get(second or "", second or ""), "area": "",
        "provenance": provenance, "annee": year, "departement": "", "departements": [], "secret": SECRET_COLUMN,
        "error": None, "threshold": gate_of(request).threshold,
        "manifest": warehouse.manifest(),
    })


@router.get("/pilotage/indicateurs/{code}", response_class=HTMLResponse)
def indicator_page(request: Request, db: DbSession, actor: Analyst, code: str, annee: str = "",
                   departement: str = "", page: str = "") -> HTMLResponse:
    indicator = get_indicator(code)
    warehouse = warehouse_of(request)
    empty = _empty_warehouse(request, warehouse)
    if empty is not None:
        return empty
    departement = territory_departement(warehouse, departement.strip().upper())
    try:
        params = _parse_year(annee, warehouse, code)
        gated, provenance = service.published(code, params, warehouse, engine_of(request), gate_of(request))
    except MaillageError as exc:
        return templates().TemplateResponse(request, "analytics/indicateur.html", {
            "indicator": indicator, "error": exc.message, "annee": annee, "departement": departement,
            "departements": []}, status_code=exc.status_code)
    if "geo" not in indicator.dimensions:
        return _group_page(request, db, actor, indicator, gated, provenance, warehouse)
    names, _ = _names(warehouse)
    selection = gated.select(departement=departement or None)
    year = str(provenance.parameters.get("annee", ""))
    geo = _geo_rows(selection, departement, indicator, year)
    if indicator.code == "apl-mg" and not _has_supply(geo):
        geo = geo.iloc[0:0]  # no GP activity in that year's claims: an APL of 0 everywhere would be a false alarm
    measure = indicator.main_measure
    decimals = next((m.decimals for m in indicator.measures if m.name == measure), None) or 0
    ordered = geo.sort_values(measure, ascending=indicator.code == "apl-mg", na_position="last").head(MAX_BARS)
    bars = [charts.Bar(names.get(c, c) if departement else f"Département {c}", _value(v))
            for c, v in zip(ordered.code_geo, ordered[measure], strict=True)]
    measure_label, measure_unit = next((m.label, m.unit) for m in indicator.measures if m.name == measure)
    chart = charts.bar_chart(f"{measure_label} par {'commune' if departement else 'département'} ({year})", bars,
                             measure_unit, decimals)
    series = None
    focus = _focus(selection, departement)
    if "periode" in indicator.dimensions:
        months = focus[focus.niveau_periode == "mois"].sort_values("periode")
        series = charts.monthly_chart(f"{measure_label} par mois", list(months.periode),
                                   [_value(v) for v in months[measure]], indicator.unit, decimals)
    bands = focus[focus.tranche_age != ALL_AGES] if "age" in indicator.dimensions else focus.iloc[0:0]
    totals = focus
    if "age" in indicator.dimensions:
        totals = totals[totals.tranche_age == ALL_AGES]
    if "periode" in indicator.dimensions:
        totals = totals[totals.niveau_periode == "annee"]
    area = f"Département {departement}" if departement else "Ensemble du territoire"
    departements = sorted(gated.frame.loc[gated.frame.niveau_geo == "departement", "code_geo"].unique().tolist()) \
        if "niveau_geo" in gated.frame.columns else []
    filters = {"departement": departement, "annee": annee}
    _audit(request, db, actor, action="read", code=code, provenance=provenance, filters=filters, rows=len(selection))
    listed = geo.assign(_nom=[names.get(c, c) for c in geo.code_geo]).sort_values(["_nom", "code_geo"]) \
        if departement else geo.sort_values("code_geo")
    pager = paged(request, display_rows(listed, indicator, lambda r: names.get(r["code_geo"], r["code_geo"])
                                        if departement else f"Département {r['code_geo']}"), page)
    return templates().TemplateResponse(request, "analytics/indicateur.html", {
        "indicator": indicator, "chart": chart if bars else None, "series": series, "pager": pager,
        "rows": pager.items,
        "totals": display_rows(totals, indicator, lambda r: area),
        "bands": display_rows(bands, indicator, lambda r: r["tranche_age"]), "area": area,
        "row_header": "Commune" if departement else "Département", "bands_title": f"Par tranche d'âge ({area})",
        "bands_header": "Tranche d'âge",
        "provenance": provenance, "annee": year, "departement": departement,
        "departements": departements, "secret": SECRET_COLUMN, "error": None,
        "threshold": gate_of(request).threshold, "manifest": warehouse.manifest(),
    })


@router.get("/pilotage/indicateurs/{code}/export")
def export_route(request: Request, db: DbSession, actor: Analyst, code: str, format: str = "csv",
                 annee: str = "", departement: str = "") -> Response:
    get_indicator(code)
    warehouse = warehouse_of(request)
    done = service.export(code, _parse_year(annee, warehouse, code), warehouse, engine_of(request), fmt=format,
                          actor=str(actor.user_id), departement=departement.strip().upper() or None,
                          gate_config=gate_of(request))
    platform_audit.record(
        db, action="export", object_type="analytics_indicator", object_id=code,
        actor_id=str(actor.user_id), actor_role=actor.role.value,
        context=AuditContext(request_id=request_id(request), address=client_address(request)),
        details={"run_id": done.provenance.run_id, "rows": done.rows, "format": format},
    )
    return Response(done.content, media_type=done.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{done.filename}"'})


@functools.lru_cache(maxsize=32)
def _outlines_cached(root: str, communes_stamp: tuple[int, int], departements: tuple[str, ...]
                     ) -> dict[str, list[list[tuple[float, float]]]]:
    communes = Warehouse(Path(root)).read_table("COMMUNES").to_pandas()
    return departement_outlines(communes[communes.departement.isin(departements)])


def _outlines(warehouse: Warehouse, departements: tuple[str, ...]) -> dict[str, list[list[tuple[float, float]]]]:
    """Approximate département outlines (from commune coordinates), computed once per communes table."""
    folder = warehouse.table_dir("COMMUNES")
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files or not departements:
        return {}
    stamp = (len(files), max(f.stat().st_mtime_ns for f in files))
    return _outlines_cached(str(warehouse.root), stamp, departements)


def _coverage(request: Request, warehouse: Warehouse, deserts: set[str], communes: set[str] | None
              ) -> tuple[list[CoverageRow], str]:
    """The communes served by each modality, beside the deserts shown (nothing when the activity is not
    extracted)."""
    try:
        params = _parse_year("", warehouse, COVERAGE.code)
        gated, provenance = service.published(COVERAGE.code, params, warehouse, engine_of(request), gate_of(request))
    except MaillageError:
        return [], ""
    return coverage_rows(gated.frame, deserts, communes), str(provenance.parameters.get("annee", ""))


@router.get("/pilotage/carte", response_class=HTMLResponse)
def map_page(request: Request, db: DbSession, actor: Analyst, annee: str = "", departement: str = "",
             page: str = "") -> HTMLResponse:
    indicator = get_indicator("apl-mg")
    warehouse = warehouse_of(request)
    empty = _empty_warehouse(request, warehouse)
    if empty is not None:
        return empty
    departement = territory_departement(warehouse, departement.strip().upper())
    params = _parse_year(annee, warehouse, "apl-mg")
    gated, provenance = service.published("apl-mg", params, warehouse, engine_of(request), gate_of(request))
    names, communes = _names(warehouse)
    rows = gated.select(departement=departement or None)
    rows = rows[rows.niveau_geo == "commune"].merge(
        communes.rename(columns={"code_insee": "code_geo", "population": "population_municipale"}),
        on="code_geo", how="inner")
    no_supply = len(rows) > 0 and not _has_supply(rows)
    if no_supply:
        rows = rows.iloc[0:0]
    points = [
        charts.MapPoint(r.code_geo, r.nom, float(r.latitude), float(r.longitude), int(r.population_municipale),
                        _value(r.apl), _value(r.desert) == 1)
        for r in rows.itertuples(index=False)
    ] if len(rows) else []
    threshold = float(provenance.parameters.get("seuil_desert", 2.5))
    breaks = [threshold, 3.0, 3.5, 4.0, 5.0]
    shown = tuple(sorted(set(rows.departement_x if "departement_x" in rows.columns else rows.departement)))
    svg = charts.commune_map("APL aux médecins généralistes par commune", points, breaks,
                             "consultations/an/hab. standardisé", outlines=_outlines(warehouse, shown)) \
        if points else None
    deserts = rows[rows.desert.fillna(0).eq(1)].sort_values(["apl", "nom"])
    departements = sorted({c[:3] if c.startswith("97") else c[:2] for c in names}) if names else []
    share = (deserts.population.sum() / rows.population.sum()) if len(rows) and rows.population.sum() else 0.0
    hidden = int(rows.apl.isna().sum())
    in_departement = set(communes.loc[communes.departement == departement, "code_insee"]) \
        if departement and len(communes) else None
    served, served_year = _coverage(request, warehouse, set(deserts.code_geo), in_departement)
    _audit(request, db, actor, action="read", code="apl-mg", provenance=provenance,
           filters={"departement": departement, "annee": annee, "page": "carte"}, rows=len(rows))
    return templates().TemplateResponse(request, "analytics/carte.html", {
        "indicator": indicator, "map": svg, "deserts": paged(request, list(deserts.itertuples()), page),
        "desert_count": len(deserts), "provenance": provenance, "departement": departement,
        "departements": departements, "annee": str(provenance.parameters.get("annee", "")),
        "share": share, "threshold": threshold, "manifest": warehouse.manifest(), "communes": len(rows),
        "hidden": hidden, "no_supply": no_supply, "served": served, "served_year": served_year,
    })

