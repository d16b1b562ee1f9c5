"""The warehouse: Parquet files per table, a manifest (source, vintage, synthetic or not), results and the audit log.

Layout under the warehouse directory (``var/warehouse/`` by default):

    tables/<TABLE>/part-00000.parquet …   one folder per table, written by the generator or the extract
    manifest.json                         what is in the warehouse: source, vintage (flux months), row counts
    entrepot.duckdb                       a DuckDB catalogue of views over the Parquet files, for analysts' tools
    results/<indicator>/<run>.parquet     raw indicator results, with <run>.json holding their provenance
    audit/analytics.jsonl                 who ran or exported what, when (ids only)

The operational database is never reachable from here: analysts see only this directory.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from maillage.exceptions import NotFound, ValidationFailed

MANIFEST = "manifest.json"
CATALOG = "entrepot.duckdb"
SYNTHETIC_METADATA = {b"maillage.synthetic": b"true", b"maillage.notice": "DONNÉES SYNTHÉTIQUES".encode()}


@dataclass(frozen=True)
class Warehouse:
    root: Path

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def audit_path(self) -> Path:
        return self.root / "audit" / "analytics.jsonl"

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG

    def table_dir(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValidationFailed(f"Nom de table invalide : {name!r}.")
        return self.tables_dir / name

    def has_table(self, name: str) -> bool:
        folder = self.table_dir(name)
        return folder.is_dir() and any(folder.glob("*.parquet"))

    def table_names(self) -> list[str]:
        if not self.tables_dir.is_dir():
            return []
        return sorted(p.name for p in self.tables_dir.iterdir() if self.has_table(p.name))

    def parquet_glob(self, name: str) -> str:
        if not self.has_table(name):
            raise NotFound(f"La table {name} n'existe pas dans l'entrepôt {self.root}.")
        return str(self.table_dir(name) / "*.parquet")

    def reset_table(self, name: str) -> Path:
        folder = self.table_dir(name)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def write_part(self, name: str, part: int, table: pa.Table, *, synthetic: bool) -> Path:
        folder = self.table_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        if synthetic:
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **SYNTHETIC_METADATA})
        path = folder / f"part-{part:05d}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="snappy")
        os.replace(tmp, path)
        return path

    def write_table(self, name: str, table: pa.Table, *, synthetic: bool) -> Path:
        self.reset_table(name)
        return self.write_part(name, 0, table, synthetic=synthetic)

    def read_table(self, name: str) -> pa.Table:
        return pq.read_table(self.table_dir(name)) if self.has_table(name) else _missing(name, self.root)

    def row_count(self, name: str) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(self.table_dir(name).glob("*.parquet")))

    # --- manifest --------------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.exists():
            return {}
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def update_manifest(self, **entries: Any) -> dict[str, Any]:
        data = self.manifest()
        data.update(entries)
        data["tables"] = {name: self.row_count(name) for name in self.table_names()}
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, self.root / MANIFEST)
        return data

    @property
    def is_synthetic(self) -> bool:
        return bool(self.manifest().get("synthetic", False))

    def refresh_catalog(self) -> None:
        """(Re)create the DuckDB catalogue: one view per table over its Parquet files."""
        import duckdb

        self.root.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(self.catalog_path)) as con:
            for name in self.table_names():
                glob = self.parquet_glob(name).replace("'", "''")
                # Names are the warehouse's own folder names, checked by table_dir; the path is quoted.
                con.execute(f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_parquet('{glob}')")  # noqa: S608


def _missing(name: str, root: Path) -> pa.Table:
    raise NotFound(f"La table {name} n'existe pas dans l'entrepôt {root}.")


def default_warehouse() -> Warehouse:
    from maillage.config import get_settings

    settings = get_settings()
    return Warehouse(settings.warehouse_dir or settings.var_dir / "warehouse")
