"""Stored results read once per process: the steering pages serve figures from memory, not from Parquet each time.

A stored result never changes: a new computation is a new run id, hence a new file, and a re-gated result is a new
``gated/`` file. Each file read here is kept under its path **and** its modification time and size, so a file
replaced in place (a table part rewritten by the extraction) is a new key as well: no stale figure is served. The
listing of a result folder is not kept (``os.scandir`` of a few names costs microseconds), so a newer run is seen
on the very next request.

The cache is small and bounded (least recently used out first); frames handed out are shared between requests and
must be treated as read-only (every caller selects, sorts or copies, none writes in place).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow.parquet as pq

T = TypeVar("T")
MAX_ENTRIES = 64

_lock = threading.Lock()
_entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _signature(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size


def _remember(key: tuple[Any, ...], load: Callable[[], T]) -> T:
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
    value = load()
    with _lock:
        _entries[key] = value
        _entries.move_to_end(key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def read_json(path: Path) -> Any:
    """A stored JSON file (provenance, gate report), parsed once per version of the file."""
    return _remember(("json", str(path), *_signature(path)), lambda: json.loads(path.read_text(encoding="utf-8")))


def read_frame(path: Path) -> pd.DataFrame:
    """A stored Parquet result, read once per version of the file (shared: read-only for the caller)."""
    return _remember(("parquet", str(path), *_signature(path)), lambda: pd.read_parquet(path))


def table_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, modification time and size of each part of a warehouse table: changes when any part is rewritten."""
    if not folder.is_dir():
        return ()
    parts = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".parquet"):
                status = entry.stat()
                parts.append((entry.name, status.st_mtime_ns, status.st_size))
    return tuple(sorted(parts))


def derived(kind: str, folder: Path, compute: Callable[[], T]) -> T:
    """A value computed from a warehouse table (``folder``), kept until one of the table's parts changes."""
    return _remember(("derived", kind, str(folder), table_signature(folder)), compute)


def read_columns(folder: Path, columns: list[str]) -> pd.DataFrame:
    """Some columns of a warehouse table, kept until one of its parts changes (shared: read-only)."""
    return derived("columns:" + ",".join(columns), folder,
                   lambda: pq.read_table(folder, columns=columns).to_pandas())


def clear() -> None:
    """Forget everything (tests; never needed for correctness, as every key names the file version it read)."""
    with _lock:
        _entries.clear()
