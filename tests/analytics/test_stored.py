"""Stored results read once per process (``analytics.stored``): a second page reads nothing from disk, a newer run
or a rewritten file is served at once (never a stale figure)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from maillage.analytics import service, stored
from maillage.analytics.gate import GateConfig
from maillage.analytics.warehouse import Warehouse
from maillage.kit.clock import frozen

GATE = GateConfig()


@pytest.fixture
def copy(warehouse: Warehouse, tmp_path: Path) -> Warehouse:
    shutil.copytree(warehouse.root, tmp_path / "w", ignore=shutil.ignore_patterns("results", "audit"))
    stored.clear()
    return Warehouse(tmp_path / "w")


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = pd.read_parquet

    def counting(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(str(path))
        return real(path, *args, **kwargs)
    monkeypatch.setattr(stored.pd, "read_parquet", counting)
    return reads


class TestReadOnce:
    def test_the_second_publication_reads_no_parquet(self, copy, duckdb_engine, monkeypatch):
        service.published("telemedecine", {"annee": 2025}, copy, duckdb_engine, GATE)
        reads = _count_reads(monkeypatch)
        first, _ = service.published("telemedecine", {"annee": 2025}, copy, duckdb_engine, GATE)
        again, _ = service.published("telemedecine", {"annee": 2025}, copy, duckdb_engine, GATE)
        # The first call after storing reads the raw result (the gated one was read when it was gated: not yet).
        assert len(reads) <= 2
        assert again.frame is first.frame

    def test_a_newer_run_is_served_at_once(self, copy, duckdb_engine):
        with frozen(dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)):
            old = service.run_indicator("telemedecine", {"annee": 2025}, copy, duckdb_engine)
        assert service.latest_result(copy, "telemedecine", {"annee": 2025}).provenance.run_id == old.provenance.run_id
        with frozen(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)):
            new = service.run_indicator("telemedecine", {"annee": 2025}, copy, duckdb_engine)
        assert new.provenance.run_id != old.provenance.run_id
        found = service.latest_result(copy, "telemedecine", {"annee": 2025})
        assert found.provenance.run_id == new.provenance.run_id

    def test_a_file_rewritten_in_place_is_read_again(self, tmp_path):
        path = tmp_path / "r.parquet"
        pd.DataFrame({"n": [1]}).to_parquet(path)
        assert stored.read_frame(path).n.tolist() == [1]
        pd.DataFrame({"n": [2, 3]}).to_parquet(path)
        assert stored.read_frame(path).n.tolist() == [2, 3]

    def test_a_rewritten_table_part_changes_what_is_derived_from_it(self, tmp_path):
        folder = tmp_path / "T"
        folder.mkdir()
        pd.DataFrame({"site": ["A"]}).to_parquet(folder / "part-00000.parquet")
        assert stored.read_columns(folder, ["site"]).site.tolist() == ["A"]
        pd.DataFrame({"site": ["A", "B", "C"]}).to_parquet(folder / "part-00000.parquet")
        assert stored.read_columns(folder, ["site"]).site.tolist() == ["A", "B", "C"]

    def test_the_cache_is_bounded(self, tmp_path):
        stored.clear()
        for n in range(stored.MAX_ENTRIES + 10):
            path = tmp_path / f"{n}.parquet"
            pd.DataFrame({"n": [n]}).to_parquet(path)
            stored.read_frame(path)
        assert len(stored._entries) == stored.MAX_ENTRIES
