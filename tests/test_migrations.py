"""Migrations are production code: they go up, down and up again, and match the models exactly."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from maillage.models import Base
from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
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


PATIENT_KEYS = "20261207_0200"
PATIENT_KEYED = ("document", "care_relationship", "monitoring_enrolment", "monitoring_alert")


def _revision(conn) -> str:
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def _patient_keys(eng) -> dict[str, str | None]:
    """Table -> the table its ``patient_id`` references (None: no foreign key)."""
    found: dict[str, str | None] = {}
    for table in (*PATIENT_KEYED, "monitoring_reading"):
        keys = [fk for fk in inspect(eng).get_foreign_keys(table) if fk["constrained_columns"] == ["patient_id"]]
        found[table] = keys[0]["referred_table"] if keys else None
    return found


class TestPatientForeignKeys:
    def test_documents_relationships_enrolments_and_alerts_reference_the_patient_but_readings_do_not(
            self, empty_engine):
        with empty_engine.begin() as conn:
            run_migrations(conn)
        assert _patient_keys(empty_engine) == {**{t: "patient" for t in PATIENT_KEYED}, "monitoring_reading": None}

    def test_an_orphan_row_stops_the_migration_with_the_counts_and_nothing_changes(self, empty_engine):
        with empty_engine.begin() as conn:
            run_migrations(conn, "20261207_0120")
            user = uuid.uuid4()
            conn.execute(UserAccount.__table__.insert().values(
                id=user, username="u1", display_name="U", role="physician", password_hash="x"))
            for _ in range(2):
                conn.execute(CareRelationship.__table__.insert().values(
                    id=uuid.uuid4(), user_id=user, patient_id=uuid.uuid4(), kind="attending"))
        with pytest.raises(RuntimeError) as refused, empty_engine.begin() as conn:
            run_migrations(conn)
        assert "refusée, rien n'a été modifié" in str(refused.value)
        assert "care_relationship : 2" in str(refused.value) and "document" not in str(refused.value)
        with empty_engine.connect() as conn:
            assert _revision(conn) == "20261207_0120"
            assert len(conn.execute(select(CareRelationship.__table__.c.id)).all()) == 2
        assert set(_patient_keys(empty_engine).values()) == {None}

    def test_up_and_down_keep_every_row_of_the_keyed_tables_and_of_their_children(self, empty_engine):
        """On SQLite a batch rebuild (copy, drop, rename) would fire the children's ON DELETE CASCADE: an
        enrolment's pauses would vanish. The migration must leave them, both ways."""
        from maillage.models.directory import Establishment
        from maillage.models.monitoring import MonitoringEnrolment, MonitoringPause, MonitoringTeam
        from maillage.models.patient import Patient

        at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        with empty_engine.begin() as conn:
            run_migrations(conn, "20261207_0120")
            session = Session(bind=conn)
            hospital = Establishment(kind="hospital", name="CH")
            patient = Patient(birth_name="A", given_names="B", birth_date=dt.date(1950, 1, 1), sex="F",
                              birthplace="87085", birth_name_norm="A", first_given_name_norm="B", duplicate_key="k")
            session.add_all([hospital, patient])
            session.flush()
            team = MonitoringTeam(establishment_id=hospital.id, name="Équipe")
            session.add(team)
            session.flush()
            enrolment = MonitoringEnrolment(
                patient_id=patient.id, team_id=team.id, programme="heart_failure", prescribed_on=at.date(),
                duration_months=3, starts_on=at.date(), ends_on=dt.date(2026, 3, 31), consent_at=at, watch_from=at)
            session.add(enrolment)
            session.flush()
            session.add(MonitoringPause(enrolment_id=enrolment.id, reason="hospitalisation", starts_at=at,
                                        ends_at=at + dt.timedelta(days=2)))
            session.flush()

        def counts(conn) -> tuple[int, int]:
            return (len(conn.execute(select(MonitoringEnrolment.id)).all()),
                    len(conn.execute(select(MonitoringPause.id)).all()))

        with empty_engine.begin() as conn:
            run_migrations(conn)
            assert counts(conn) == (1, 1)
        assert _patient_keys(empty_engine)["monitoring_enrolment"] == "patient"
        with empty_engine.begin() as conn:
            run_migrations(conn, "20261207_0120", down=True)
            assert _revision(conn) == "20261207_0120" and counts(conn) == (1, 1)
        assert set(_patient_keys(empty_engine).values()) == {None}
