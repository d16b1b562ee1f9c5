"""The worker job of the analytics side."""

from __future__ import annotations


class TestExtractJob:
    def test_the_worker_job_runs_the_catalogued_extractors(self, tmp_path, monkeypatch, db):
        from maillage.analytics import tasks
        from maillage.config import get_settings
        from maillage.worker import registry

        monkeypatch.setenv("MAILLAGE_VAR_DIR", str(tmp_path / "var"))
        get_settings.cache_clear()
        try:
            spec = registry.get("analytics.extract")
            assert spec is not None and spec.handler is tasks.extract_job
            result = registry.call(spec, db, {"only": "communes"})
        finally:
            get_settings.cache_clear()
        assert result["key_version"] == 1
        assert (tmp_path / "var" / "keys" / "analytics-pseudonym.keys").exists()
