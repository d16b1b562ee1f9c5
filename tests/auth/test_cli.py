"""``maillage user|device|token``: account administration from the console, on a real database file."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from maillage.cli import app
from maillage.config import get_settings
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.audit import AuditEntry
from maillage.models.auth import ApiToken, DeviceCredential, UserAccount
from tests.conftest import run_migrations

runner = CliRunner()


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        run_migrations(conn)
    monkeypatch.setenv("MAILLAGE_DATABASE_URL", url)
    get_settings.cache_clear()
    yield make_sessionmaker(engine)
    get_settings.cache_clear()
    engine.dispose()


def invoke(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


class TestUserCommands:
    def test_create_prints_a_one_time_password_and_audits(self, database):
        result = invoke("user", "create", "dr.curie", "--role", "physician", "--name", "Dr Marie Curie")
        assert result.exit_code == 0, result.output
        assert "Mot de passe initial" in result.output
        with database() as s:
            user = s.scalar(select(UserAccount))
            assert (user.username, user.role, user.totp_enrolled_at) == ("dr.curie", "physician", None)
            assert s.scalar(select(AuditEntry).where(AuditEntry.action == "create")).object_id == str(user.id)

    def test_a_weak_password_from_stdin_is_refused_in_french_and_nothing_is_created(self, database):
        result = invoke("user", "create", "dr.x", "--role", "physician", "--name", "Dr X", "--password-stdin",
                        stdin="court\n")
        assert result.exit_code == 2
        assert "au moins 12 caractères" in result.output
        with database() as s:
            assert s.scalar(select(UserAccount)) is None

    def test_disable_unlock_reset_and_list(self, database):
        invoke("user", "create", "ide.a", "--role", "nurse", "--name", "IDE A")
        assert invoke("user", "unlock", "ide.a").exit_code == 0
        assert invoke("user", "reset-2fa", "ide.a").exit_code == 0
        assert invoke("user", "disable", "ide.a").exit_code == 0
        listing = invoke("user", "list")
        assert "ide.a" in listing.output and "désactivé" in listing.output
        with database() as s:
            assert s.scalar(select(UserAccount)).status == "disabled"

    def test_a_created_account_gets_a_one_time_password_valid_24_hours(self, database):
        """Finding 6: the printed initial password never expired and was never replaced."""
        result = invoke("user", "create", "dr.curie", "--role", "physician", "--name", "Dr Marie Curie")
        assert "usage unique" in result.output
        with database() as s:
            user = s.scalar(select(UserAccount))
            assert user.must_change_password
            assert user.password_expires_at is not None
            assert dt.timedelta(hours=23) < user.password_expires_at - user.created_at <= dt.timedelta(hours=24)

    def test_reset_password_prints_a_one_time_password_that_signs_in_once_then_must_change(self, database):
        from maillage.auth import service

        invoke("user", "create", "ide.b", "--role", "nurse", "--name", "IDE B", "--password-stdin",
               stdin="Choisi-Par-Moi-2026\n")
        with database() as s:
            user = s.scalar(select(UserAccount))
            service.set_password(s, user, "Le-Mien-Depuis-2026")
            s.commit()
        result = invoke("user", "reset-password", "ide.b")
        assert result.exit_code == 0, result.output
        one_time = result.output.strip().split()[-1]
        with database() as s:
            user = s.scalar(select(UserAccount))
            assert user.must_change_password
            assert not service.authenticate_password(s, "ide.b", "Le-Mien-Depuis-2026").ok
            assert service.authenticate_password(s, "ide.b", one_time).ok
            assert s.scalar(select(AuditEntry).where(AuditEntry.action == "admin_reset_password")) is not None

    def test_an_unknown_account_is_a_clear_error(self, database):
        result = invoke("user", "disable", "personne")
        assert result.exit_code == 2 and "introuvable" in result.output.lower()

    def test_an_unknown_role_is_refused_by_the_option(self, database):
        assert invoke("user", "create", "x.y", "--role", "sorcier", "--name", "X").exit_code != 0


class TestDeviceAndTokenCommands:
    def test_a_device_secret_is_shown_once_and_stored_hashed(self, database):
        result = invoke("device", "create", "balance-007", "--label", "Balance connectée")
        assert result.exit_code == 0
        secret = result.output.strip().split()[-1]
        assert secret.startswith("mlg_dev_")
        with database() as s:
            row = s.scalar(select(DeviceCredential))
            assert row.secret_hash != secret and row.device_identifier == "balance-007"
        assert invoke("device", "revoke", "balance-007").exit_code == 0

    def test_a_service_token_needs_scopes_its_role_allows(self, database):
        ok = invoke("token", "create-service", "entrepot", "--role", "analyst", "--scope", "analytics.read")
        assert ok.exit_code == 0 and "mlg_svc_" in ok.output
        refused = invoke("token", "create-service", "x", "--role", "analyst", "--scope", "users.admin")
        assert refused.exit_code == 2
        with database() as s:
            assert len(s.scalars(select(ApiToken)).all()) == 1
