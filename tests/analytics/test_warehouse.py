"""The warehouse: table folders, manifest, DuckDB catalogue."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from maillage.exceptions import NotFound, ValidationFailed


class TestTables:
    def test_a_written_table_is_listed_counted_and_read_back(self, fresh_warehouse):
        fresh_warehouse.write_table("T", pa.table({"x": [1, 2, 3]}), synthetic=False)
        assert fresh_warehouse.table_names() == ["T"] and fresh_warehouse.row_count("T") == 3
        assert fresh_warehouse.read_table("T").column("x").to_pylist() == [1, 2, 3]

    @pytest.mark.parametrize("name", ["", "../etc", ".cache", "a/b"])
    def test_unsafe_table_names_are_refused(self, fresh_warehouse, name):
        with pytest.raises(ValidationFailed):
            fresh_warehouse.table_dir(name)

    def test_a_missing_table_is_not_found(self, fresh_warehouse):
        with pytest.raises(NotFound):
            fresh_warehouse.parquet_glob("ABSENT")


class TestManifest:
    def test_records_entries_and_the_row_counts(self, fresh_warehouse):
        fresh_warehouse.write_table("T", pa.table({"x": [1]}), synthetic=True)
        data = fresh_warehouse.update_manifest(source="synthetic", synthetic=True)
        assert data["tables"] == {"T": 1} and fresh_warehouse.is_synthetic


class TestCatalog:
    def test_offers_one_duckdb_view_per_table(self, fresh_warehouse):
        fresh_warehouse.write_table("T", pa.table({"x": [1, 2]}), synthetic=False)
        fresh_warehouse.refresh_catalog()
        with duckdb.connect(str(fresh_warehouse.catalog_path), read_only=True) as con:
            assert con.execute('SELECT SUM(x) FROM "T"').fetchone() == (3,)
