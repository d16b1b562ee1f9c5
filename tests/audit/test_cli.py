"""``maillage audit verify | export | purge``: exit codes and French output, on committed databases."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from maillage import config
from maillage.cli import app
from maillage.kit import clock
from tests.audit.conftest import ChainDb

# 10:00 in Paris on 5 January.
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def cli_db(chain_db: ChainDb, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChainDb]:
    """The chain database as the one the console's settings point to."""
    monkeypatch.setenv("MAILLAGE_DATABASE_URL", chain_db.url)
    monkeypatch.setenv("MAILLAGE_ENVIRONMENT", "test")
    monkeypatch.delenv("MAILLAGE_AUDIT_RETENTION_DAYS", raising=False)
    config.get_settings.cache_clear()
    yield chain_db
    config.get_settings.cache_clear()


def invoke(*args: str):
    return CliRunner().invoke(app, ["audit", *args], terminal_width=200)


class TestVerify:
    def test_an_intact_chain_exits_0_with_the_count(self, cli_db):
        cli_db.record(3)
        result = invoke("verify")
        assert result.exit_code == 0, result.output
        assert "Chaîne d'audit intègre : 3 entrées vérifiées" in result.stdout
        assert "Tête de chaîne : n° 3" in result.stdout

    def test_a_broken_chain_exits_1_naming_the_first_broken_entry(self, cli_db):
        cli_db.record(4)
        cli_db.as_dba("UPDATE audit_entry SET action = 'create' WHERE seq = 2")
        result = invoke("verify")
        assert result.exit_code == 1
        assert "Chaîne d'audit rompue" in result.stderr
        assert f"entrée n° 2 (id {cli_db.entry_id(2)})" in result.stderr
        assert "1 entrée(s) intègre(s) avant la rupture" in result.stderr

    def test_a_database_without_the_audit_tables_exits_2_with_a_french_message(self, tmp_path, monkeypatch):
        monkeypatch.setenv("MAILLAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        config.get_settings.cache_clear()
        try:
            result = invoke("verify")
        finally:
            config.get_settings.cache_clear()
        assert result.exit_code == 2
        assert "maillage db upgrade" in result.stderr


class TestExport:
    def test_writes_a_valid_fhir_bundle_of_the_paris_days_asked_and_traces_it(self, cli_db, tmp_path):
        with clock.frozen(START) as c:
            cli_db.record(2)
            c.advance(dt.timedelta(days=1))
            cli_db.record(1)
        target = tmp_path / "traces.json"
        result = invoke("export", "--from", "2026-01-05", "--to", "2026-01-05", "--output", str(target))
        assert result.exit_code == 0, result.output
        assert "2 trace(s) exportée(s) du 05/01/2026 au 05/01/2026" in result.stdout
        bundle = Bundle.model_validate_json(target.read_text(encoding="utf-8"))
        assert bundle.type == "collection" and len(bundle.entry) == 2
        assert json.loads(target.read_text(encoding="utf-8"))["entry"][0]["resource"]["resourceType"] == "AuditEvent"
        assert cli_db.scalar("SELECT count(*) FROM audit_entry WHERE action = 'export'") == 1
        assert not list(tmp_path.glob(".audit-export-*")), "the temporary file is gone"

    @pytest.mark.parametrize("args, message", [
        (["--from", "05/01/2026", "--to", "2026-01-05"], "AAAA-MM-JJ"),
        (["--from", "2026-01-06", "--to", "2026-01-05"], "précéder"),
    ])
    def test_bad_dates_exit_2_and_write_nothing(self, cli_db, tmp_path, args, message):
        target = tmp_path / "traces.json"
        result = invoke("export", *args, "--output", str(target))
        assert result.exit_code == 2
        assert message in result.output
        assert not target.exists()
        assert cli_db.scalar("SELECT count(*) FROM audit_entry") == 0


class TestPurge:
    def _history(self, cli_db) -> dt.datetime:
        with clock.frozen(START) as c:
            cli_db.record(3)
            c.advance(dt.timedelta(days=200))
            cli_db.record(2)
            return c.now

    def test_purges_with_the_configured_retention_and_verify_stays_green(self, cli_db):
        at = self._history(cli_db)
        with clock.frozen(at):
            result = invoke("purge")
        assert result.exit_code == 0, result.output
        assert "3 trace(s) purgée(s) (jusqu'au n° 3), ancre de purge n° 1. Conservation : 183 jours." in result.stdout
        verified = invoke("verify")
        assert verified.exit_code == 0, verified.output
        assert "Chaîne d'audit intègre : 3 entrées vérifiées" in verified.stdout
        assert "Depuis l'ancre de purge n° 1" in verified.stdout
        assert cli_db.scalar("SELECT actor_role FROM audit_entry WHERE action = 'purge'") == "cli"

    def test_a_retention_under_six_months_is_refused_without_force(self, cli_db):
        at = self._history(cli_db)
        with clock.frozen(at):
            refused = invoke("purge", "--retention-days", "30")
            assert refused.exit_code == 2
            assert "ne peut pas être inférieure à 183 jours" in refused.stderr
            assert cli_db.scalar("SELECT count(*) FROM audit_entry") == 5
            forced = invoke("purge", "--retention-days", "30", "--force")
        assert forced.exit_code == 0, forced.output
        assert cli_db.scalar("SELECT count(*) FROM audit_entry") == 3   # 2 recent + the purge entry

    def test_nothing_to_purge_says_so(self, cli_db):
        cli_db.record(1)
        result = invoke("purge")
        assert result.exit_code == 0
        assert "à purger" in result.stdout


class TestVerifyLists:
    def test_intact_lists_exit_0(self, cli_db):
        cli_db.record(1, action="search", object_type="patient", patient_id=None, list_patients=["p-1", "p-2"])
        result = invoke("verify-lists")
        assert result.exit_code == 0, result.output
        assert "conformes à la chaîne d'audit" in result.output

    def test_a_patient_added_to_a_list_around_the_triggers_exits_1_naming_the_entry(self, cli_db):
        cli_db.record(1, action="search", object_type="patient", patient_id=None, list_patients=["p-1"])
        entry = cli_db.scalar("SELECT id FROM audit_entry WHERE seq = 1")
        cli_db.as_dba("INSERT INTO audit_entry_patient (patient_id, entry_id) VALUES ('p-2', :e)", e=entry)
        result = invoke("verify-lists")
        assert result.exit_code == 1
        assert "entrée n° 1 : 1 patient(s) attendu(s), 2 trouvé(s)" in result.output
        assert invoke("verify").exit_code == 0, "the chain alone does not see it: hence this command"
