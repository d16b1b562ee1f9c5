"""Provenance: code version, parameters digest, data vintage."""

from __future__ import annotations

from maillage.analytics import provenance


class TestProvenance:
    def test_the_run_id_depends_on_time_engine_and_parameters(self):
        base = dict(indicator="x", indicator_version="1", engine="duckdb", code_version="0.1", data_vintage={},
                    computed_at="2026-01-02T03:04:05+00:00", duration_seconds=1.0, rows=3)
        a = provenance.Provenance(parameters={"annee": 2025}, **base)
        b = provenance.Provenance(parameters={"annee": 2024}, **base)
        assert a.run_id != b.run_id and a.run_id.startswith("20260102T030405-duckdb-")
        assert provenance.Provenance.from_dict(a.as_dict()) == a

    def test_the_code_version_names_the_package_version(self):
        from maillage import __version__

        assert provenance.code_version().startswith(__version__)

    def test_the_vintage_keeps_only_what_describes_the_data(self):
        vintage = provenance.vintage_of({"source": "synthetic", "synthetic": True, "tables": {"A": 1},
                                         "flux_months": {"first": "2025-01-01"}})
        assert vintage == {"source": "synthetic", "synthetic": True, "flux_months": {"first": "2025-01-01"}}
