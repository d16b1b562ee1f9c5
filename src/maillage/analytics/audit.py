"""Audit of analysts' queries and exports: an append-only JSON-lines journal kept with the warehouse.

Each entry carries ids only (who, which indicator, which parameters and filters, how many rows, which format),
never a value of the result. Analysts never reach the operational database, so their trail lives here; the
platform's audit trail can ingest this file.
"""

from __future__ import annotations

import json
import os
from typing import Any

from maillage.analytics.warehouse import Warehouse
from maillage.kit.clock import now


def record(warehouse: Warehouse, *, actor: str, action: str, indicator: str, parameters: dict[str, Any],
           filters: dict[str, Any] | None = None, rows: int = 0, fmt: str = "", run_id: str = "") -> dict[str, Any]:
    entry = {
        "at": now().isoformat(timespec="seconds"),
        "actor": actor,
        "action": action,  # "consultation" (page or API) | "export" | "calcul"
        "indicator": indicator,
        "parameters": parameters,
        "filters": filters or {},
        "rows": rows,
        "format": fmt,
        "run_id": run_id,
    }
    path = warehouse.audit_path
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line)
    return entry


def entries(warehouse: Warehouse) -> list[dict[str, Any]]:
    path = warehouse.audit_path
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
