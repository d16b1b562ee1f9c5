"""Migrations are production code: they go up, down and up again, and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from maillage.models import Base
from tests.conftest import ROOT, run_migrations


def _tables(eng) -> set[str]:
    return set(inspect(eng).get_table_names()) - {"alembic_version"}


class TestMigrations:
    def test_upgrade_downgrade_upgrade_leaves_no_difference_with_the_models(self, empty_engine):
        with empty_engine.begin() as conn:
            run_migrations(conn)
        assert _tables(empty_engine) == set(Base.metadata.tables)
        with empty_engine.begin() as conn:
            run_migrations(conn, "base", down=True)
        assert _tables(empty_engine) == set()
        with empty_engine.begin() as conn:
            run_migrations(conn)
        with empty_engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"

    def test_revision_files_are_date_stamped_and_never_import_maillage(self):
        files = sorted((ROOT / "migrations" / "versions").glob("*.py"))
        assert files
        for path in files:
            assert path.name[:15].replace("-", "").isdigit(), path.name
            source = path.read_text()
            assert "import maillage" not in source and "from maillage" not in source, path.name
