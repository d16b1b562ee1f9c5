"""``maillage drugs import|search``: the drug database from the console, on a real database file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from maillage.cli import app
from maillage.config import get_settings
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.drug import DrugRelease, DrugSpeciality
from tests.conftest import run_migrations

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "bdpm"
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


class TestImportCommand:
    def test_a_release_is_imported_and_its_bad_lines_listed_by_file_and_line(self, database):
        result = runner.invoke(app, ["drugs", "import", str(FIXTURES / "latin1"), "--seuil", "0.1"])
        assert result.exit_code == 0, result.output
        assert "14 spécialités" in result.output
        assert "CIS_CIP_bdpm.txt:2 : code CIP13" in result.output
        with database() as s:
            assert s.scalar(select(func.count()).select_from(DrugSpeciality)) == 14

    def test_above_the_threshold_nothing_is_imported_and_the_exit_code_says_so(self, database):
        result = runner.invoke(app, ["drugs", "import", str(FIXTURES / "latin1"), "--threshold", "0.01"])
        assert result.exit_code == 2
        assert "rien n'a été importé" in result.output
        with database() as s:
            assert s.scalar(select(func.count()).select_from(DrugRelease)) == 0

    def test_the_same_release_twice_changes_nothing(self, database):
        assert runner.invoke(app, ["drugs", "import", str(FIXTURES / "utf8")]).exit_code == 0
        result = runner.invoke(app, ["drugs", "import", str(FIXTURES / "utf8")])
        assert result.exit_code == 0 and "déjà la version en service" in result.output


class TestSearchCommand:
    def test_a_substance_lists_its_specialities(self, database):
        runner.invoke(app, ["drugs", "import", str(FIXTURES / "utf8")])
        result = runner.invoke(app, ["drugs", "search", "clobetasol"])
        assert result.exit_code == 0
        assert "DERMOVAL 0,05 %, crème" in result.output and "CLOBÉTASOL ARROW" in result.output
        assert "DIPROSONE" not in result.output
