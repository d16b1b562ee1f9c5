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
        assert "1 entrée intègre avant la rupture" in result.stderr

    def test_says_where_the_last_checkpoint_stands_and_what_it_does_not_cover_yet(self, cli_db):
        cli_db.record(3)
        assert "Aucun point de contrôle signé" in invoke("verify").stdout
        cli_db.checkpoint()
        cli_db.record(2)
        result = invoke("verify")
        assert result.exit_code == 0, result.output
        assert "Scellée par la clé d'audit depuis l'entrée n° 1." in result.stdout
        assert "Dernier point de contrôle signé : n° 1 du " in result.stdout
        assert "(entrée n° 3), 1 au total" in result.stdout
        assert "2 entrées écrites depuis, non encore couvertes contre une suppression" in result.stdout

    def test_warns_when_the_last_checkpoint_is_older_than_two_intervals_and_entries_followed(self, cli_db):
        with clock.frozen(START) as c:
            cli_db.record(2)
            cli_db.checkpoint()
            c.advance(dt.timedelta(minutes=15))
            cli_db.record(1)
            assert "plus de deux intervalles" not in invoke("verify").stdout
            c.advance(dt.timedelta(minutes=10))
            assert "plus de deux intervalles" in invoke("verify").stdout

    def test_newest_entries_deleted_past_the_last_checkpoint_exit_1(self, cli_db):
        cli_db.record(3)
        cli_db.checkpoint()
        cli_db.as_dba("DELETE FROM audit_entry WHERE seq = 3")
        result = invoke("verify")
        assert result.exit_code == 1
        assert ("la chaîne s'arrête au numéro 2 alors que le point de contrôle signé n° 1 atteste le numéro 3 : "
                "entrées les plus récentes supprimées (audit chain BROKEN)") in result.stderr

    def test_a_missing_audit_key_outside_development_exits_2_with_a_french_message(self, cli_db, tmp_path,
                                                                                 monkeypatch):
        from maillage.audit import keys

        monkeypatch.setattr(keys._audit_keys, "_override", None)
        monkeypatch.setattr(keys._audit_keys, "_kept", None)
        monkeypatch.setenv("MAILLAGE_AUDIT_KEY_DIR", str(tmp_path / "no-keys"))
        config.get_settings.cache_clear()
        result = invoke("verify")
        assert result.exit_code == 2
        assert "Aucune clé d'audit" in result.stderr and "maillage audit keygen" in result.stderr

    def test_a_database_without_the_audit_tables_exits_2_with_a_french_message(self, tmp_path, monkeypatch):
        monkeypatch.setenv("MAILLAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        config.get_settings.cache_clear()
        try:
            result = invoke("verify")
        finally:
            config.get_settings.cache_clear()
        assert result.exit_code == 2
        assert "maillage db upgrade" in result.stderr


class TestCheckpoint:
    def test_signs_the_head_into_the_file_store_then_has_nothing_to_sign(self, cli_db, tmp_path):
        from maillage.audit.checkpoints import FileCheckpointStore, use_checkpoint_store

        with use_checkpoint_store(FileCheckpointStore(tmp_path / "cp")) as store:
            assert "La chaîne d'audit est vide" in invoke("checkpoint").stdout
            cli_db.record(4)
            result = invoke("checkpoint")
            assert result.exit_code == 0, result.output
            assert "Point de contrôle signé écrit : n° 1 du " in result.stdout
            assert "(entrée n° 4), 4 entrées vérifiées" in result.stdout
            assert [r["seq"] for r in store.read()] == [4]
            assert "rien à signer" in invoke("checkpoint").stdout
            assert "1 au total" in invoke("verify").stdout

    def test_a_chain_edited_since_the_last_checkpoint_is_refused_with_exit_2(self, cli_db):
        cli_db.record(2)
        assert invoke("checkpoint").exit_code == 0
        cli_db.record(2)
        cli_db.as_dba("UPDATE audit_entry SET outcome = 'denied' WHERE seq = 4")
        result = invoke("checkpoint")
        assert result.exit_code == 2
        assert "Point de contrôle refusé : la chaîne d'audit est rompue (entrée n° 4" in result.stderr


class TestKeygen:
    def test_creates_a_private_key_in_the_configured_directory(self, tmp_path, monkeypatch):
        monkeypatch.setenv("MAILLAGE_AUDIT_KEY_DIR", str(tmp_path / "ak"))
        config.get_settings.cache_clear()
        try:
            result = invoke("keygen")
        finally:
            config.get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        [key_file] = list((tmp_path / "ak").iterdir())
        assert key_file.name.startswith("audit-") and oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert "créée" in result.stdout


class TestExport:
    def test_writes_a_valid_fhir_bundle_of_the_paris_days_asked_and_traces_it(self, cli_db, tmp_path):
        with clock.frozen(START) as c:
            cli_db.record(2)
            c.advance(dt.timedelta(days=1))
            cli_db.record(1)
        target = tmp_path / "traces.json"
        result = invoke("export", "--from", "2026-01-05", "--to", "2026-01-05", "--output", str(target))
        assert result.exit_code == 0, result.output
        assert "2 traces exportées du 05/01/2026 au 05/01/2026" in result.stdout
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
        assert "3 traces purgées (jusqu'au n° 3), ancre de purge n° 1. Conservation : 183 jours." in result.stdout
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
        assert "entrée n° 1 : 1 patient attendu, 2 trouvés" in result.output
        assert invoke("verify").exit_code == 0, "the chain alone does not see it: hence this command"
