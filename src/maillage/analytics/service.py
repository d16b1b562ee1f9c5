"""Use cases of the analytics side: run an indicator on an engine, store it with its provenance, read it back.

Raw results stay in the warehouse; anything that leaves it (page, export, API) goes through ``gate.publish``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from maillage.analytics import audit, engines, pmsi, stored
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import GateConfig, GatedTable, publish
from maillage.analytics.indicators import Indicator, finalise
from maillage.analytics.provenance import Provenance, code_version, vintage_of
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import NotFound, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.logging import get_logger

log = get_logger(__name__)


@dataclass
class IndicatorResult:
    indicator: Indicator
    frame: pd.DataFrame
    provenance: Provenance


def compute(indicator: Indicator, params: dict[str, Any], warehouse: Warehouse,
            config: engines.EngineConfig) -> IndicatorResult:
    """Run the indicator's one expression on the configured engine and finalise it (no storage, no gate)."""
    missing = [t for t in indicator.tables if not warehouse.has_table(t)]
    if missing:
        raise NotFound(
            f"L'entrepôt ne contient pas les tables nécessaires à l'indicateur {indicator.code} : {', '.join(missing)}."
        )
    started = time.perf_counter()
    con = engines.connect(config)
    tables = engines.register_tables(con, warehouse)
    expr = indicator.build(tables, params)
    frame = finalise(indicator, con.to_pyarrow(expr).to_pandas())
    duration = time.perf_counter() - started
    provenance = Provenance(
        indicator=indicator.code,
        indicator_version=indicator.version,
        parameters={k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        engine=config.name if config.name == "duckdb" else f"spark ({config.spark_master})",
        code_version=code_version(),
        data_vintage=vintage_of(warehouse.manifest()),
        computed_at=now().isoformat(timespec="seconds"),
        duration_seconds=round(duration, 3),
        rows=len(frame),
    )
    log.info("analytics.indicator_computed", indicator=indicator.code, engine=config.name, rows=len(frame),
             seconds=provenance.duration_seconds)
    return IndicatorResult(indicator, frame, provenance)


def run_indicator(code: str, given: Mapping[str, Any] | None, warehouse: Warehouse,
                  config: engines.EngineConfig) -> IndicatorResult:
    """Compute and store a result (Parquet + provenance JSON) under results/<indicator>/."""
    indicator = get_indicator(code)
    params = indicator.resolve_params(given)
    result = compute(indicator, params, warehouse, config)
    store(warehouse, result)
    return result


def store(warehouse: Warehouse, result: IndicatorResult) -> str:
    folder = warehouse.results_dir / result.indicator.code
    folder.mkdir(parents=True, exist_ok=True)
    run_id = result.provenance.run_id
    tmp = folder / f"{run_id}.parquet.tmp"
    result.frame.to_parquet(tmp, index=False)
    os.replace(tmp, folder / f"{run_id}.parquet")
    (folder / f"{run_id}.json").write_text(
        json.dumps(result.provenance.as_dict(), ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    return run_id


def latest_result(warehouse: Warehouse, code: str, params: Mapping[str, Any] | None = None
                  ) -> IndicatorResult | None:
    """The most recent stored result of ``code`` (with exactly these parameters when given).

    The folder is listed on every call (a newer run is seen at once); each run's files are read once per process
    (``stored``)."""
    indicator = get_indicator(code)
    folder = warehouse.results_dir / code
    if not folder.is_dir():
        return None
    wanted = indicator.resolve_params(params) if params is not None else None
    for meta in sorted(folder.glob("*.json"), reverse=True):
        provenance = Provenance.from_dict(stored.read_json(meta))
        if wanted is not None:
            normalised = {k: list(v) if isinstance(v, tuple) else v for k, v in wanted.items()}
            if provenance.parameters != normalised:
                continue
        data = meta.with_suffix(".parquet")
        if data.exists():
            return IndicatorResult(indicator, stored.read_frame(data), provenance)
    return None


def result_for(warehouse: Warehouse, code: str, params: Mapping[str, Any] | None,
               config: engines.EngineConfig) -> IndicatorResult:
    """The stored result with these parameters, computed (and stored) when there is none yet."""
    found = latest_result(warehouse, code, params or {})
    if found is not None:
        return found
    return run_indicator(code, params, warehouse, config)


def geo_parents(warehouse: Warehouse) -> dict[str, str]:
    """Commune → département, from the warehouse's communes table (the gate's geographic hierarchy)."""
    if not warehouse.has_table("COMMUNES"):
        return {}

    def load() -> dict[str, str]:
        communes = warehouse.read_table("COMMUNES").select(["code_insee", "departement"]).to_pydict()
        return dict(zip(communes["code_insee"], communes["departement"], strict=True))
    return stored.derived("geo_parents", warehouse.table_dir("COMMUNES"), load)


def gate_config_from_settings() -> GateConfig:
    from maillage.config import get_settings

    return GateConfig(threshold=get_settings().small_cell_threshold)


def published(code: str, params: Mapping[str, Any] | None, warehouse: Warehouse, config: engines.EngineConfig,
              gate_config: GateConfig | None = None) -> tuple[GatedTable, Provenance]:
    """The gated table of an indicator (computed on the whole territory) and its provenance, suppression included."""
    result = result_for(warehouse, code, params, config)
    gated = gated_result(warehouse, result, gate_config or gate_config_from_settings())
    provenance = Provenance.from_dict(result.provenance.as_dict())
    provenance.suppression = dict(gated.report)
    return gated, provenance


def _gate_digest(config: GateConfig, geo_parent: Mapping[str, str]) -> str:
    digest = hashlib.sha256(repr(dataclasses.astuple(config)).encode("utf-8"))
    digest.update(json.dumps(sorted(geo_parent.items())).encode("utf-8"))
    return digest.hexdigest()[:16]


def gated_result(warehouse: Warehouse, result: IndicatorResult, config: GateConfig) -> GatedTable:
    """The gate's output for a stored result, computed once and kept beside it.

    The gate solves linear programs (the attacker it checks itself against): up to a minute for a département's
    monthly table on two cores, far too long for a page. A stored result never changes (a new computation is a new
    run id), so its gated table is kept under ``results/<indicator>/gated/``, keyed by the run id, the gate's
    settings and the geographic hierarchy it was checked with; any change of these gates the result again.
    """
    geo_parent = geo_parents(warehouse)
    folder = warehouse.results_dir / result.indicator.code / "gated"
    digest = stored.derived(f"gate_digest:{config!r}", warehouse.table_dir("COMMUNES"),
                            lambda: _gate_digest(config, geo_parent))
    stem = f"{result.provenance.run_id}-{digest}"
    data, meta = folder / f"{stem}.parquet", folder / f"{stem}.json"
    if data.exists() and meta.exists():
        report = stored.read_json(meta)
        return GatedTable(result.indicator, stored.read_frame(data), report=dict(report), geo_parent=geo_parent)
    gated = publish(result.indicator, result.frame, config=config, geo_parent=geo_parent)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{stem}.parquet.tmp"
    gated.frame.to_parquet(tmp, index=False)
    os.replace(tmp, data)
    tmp_meta = folder / f"{stem}.json.tmp"
    tmp_meta.write_text(json.dumps(gated.report, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp_meta, meta)
    return gated


EXPORT_FORMATS = ("csv", "parquet")


@dataclass
class Export:
    content: bytes
    media_type: str
    filename: str
    provenance: Provenance
    rows: int


def export(code: str, params: Mapping[str, Any] | None, warehouse: Warehouse, config: engines.EngineConfig, *,
           fmt: str, actor: str, departement: str | None = None, periodes: list[str] | None = None,
           gate_config: GateConfig | None = None) -> Export:
    """A gated selection as CSV (``;``-separated, decimal comma, UTF-8 with BOM) or Parquet, audited."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(f"Format d'export inconnu : {fmt} (csv ou parquet).")
    gated, provenance = published(code, params, warehouse, config, gate_config)
    frame = gated.select(departement=departement or None, periodes=periodes or None)
    stem = f"{code}-{provenance.parameters.get('annee', '')}".rstrip("-")
    if fmt == "csv":
        content = frame.to_csv(index=False, sep=";", decimal=",").encode("utf-8-sig")
        media_type = "text/csv; charset=utf-8"
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({
            **(table.schema.metadata or {}),
            b"maillage.provenance": json.dumps(provenance.as_dict(), ensure_ascii=False, default=str).encode(),
        })
        sink = io.BytesIO()
        pq.write_table(table, sink)
        content = sink.getvalue()
        media_type = "application/vnd.apache.parquet"
    audit.record(warehouse, actor=actor, action="export", indicator=code, parameters=provenance.parameters,
                 filters={"departement": departement, "periodes": periodes}, rows=len(frame), fmt=fmt,
                 run_id=provenance.run_id)
    return Export(content, media_type, f"{stem}.{fmt}", provenance, len(frame))


# --- results kept ready for the pages ----------------------------------------------------------------------------
def data_year(warehouse: Warehouse, indicator: Indicator) -> int | None:
    """The year an indicator's default run should cover: the care year of a synthetic SNDS, else the latest year
    found in the date columns of its operational tables (None: keep the indicator's own default)."""
    if "ER_PRS_F" in indicator.tables:
        year = warehouse.manifest().get("care_year")
        return int(year) if year else None
    if indicator in pmsi.INDICATORS:
        if not warehouse.has_table("T_MCOC"):
            return None
        end = pc.max(warehouse.read_table("T_MCOC").column("EXE_SOI_DTF")).as_py()
        return pmsi.default_year(indicator, end) if end else None
    latest: int | None = None
    for name in indicator.tables:
        if not warehouse.has_table(name):
            continue
        table = warehouse.read_table(name)
        for column in table.schema:
            if pa.types.is_date(column.type) and table.num_rows:
                high = pc.max(table.column(column.name)).as_py()
                if high is not None and (latest is None or high.year > latest):
                    latest = high.year
    return latest


def refresh_results(warehouse: Warehouse, config: engines.EngineConfig, gate_config: GateConfig | None = None,
                    *, codes: Iterable[str] | None = None) -> dict[str, str]:
    """Compute, store and gate every indicator whose tables the warehouse holds, with its default parameters on
    the year of its data, so that the pages read a stored result instead of computing one. Returns the run id of
    each indicator refreshed (indicators lacking a table are left out)."""
    from maillage.analytics.catalogue import all_indicators

    config_gate = gate_config or gate_config_from_settings()
    wanted = set(codes) if codes is not None else None
    done: dict[str, str] = {}
    for indicator in all_indicators():
        if wanted is not None and indicator.code not in wanted:
            continue
        if any(not warehouse.has_table(t) for t in indicator.tables):
            continue
        year = data_year(warehouse, indicator)
        result = run_indicator(indicator.code, {"annee": year} if year else None, warehouse, config)
        gated_result(warehouse, result, config_gate)
        done[indicator.code] = result.provenance.run_id
    return done


def default_year(warehouse: Warehouse, code: str) -> int | None:
    """The newest year stored for ``code`` with otherwise default parameters (what a page shows by default)."""
    indicator = get_indicator(code)
    folder = warehouse.results_dir / code
    if not folder.is_dir():
        return None
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in indicator.resolve_params(None).items()}
    years = []
    for meta in folder.glob("*.json"):
        parameters = stored.read_json(meta).get("parameters", {})
        year = parameters.get("annee")
        if year is not None and parameters == {**defaults, "annee": year} and meta.with_suffix(".parquet").exists():
            years.append(int(year))
    return max(years) if years else None
