"""Importing the national extracts into the directory (directory/import_service.py import_rpps, import_finess) and from
the console (``maillage directory import``): per-line French errors, nothing imported over the threshold, one
transaction, idempotent re-import (upsert by identifier), coordinates reprojected to WGS 84.

The sample files are the parser's fixtures (tests/fixtures/data, fake people and fictional establishments).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from maillage.directory import import_service, imports
from maillage.exceptions import PermissionDenied, ValidationFailed
from maillage.models.audit import AuditEntry
from maillage.models.directory import Establishment, Professional, ProfessionalRole
from tests.fixtures.directory import FINESS_FILE, RPPS_FILE
from tests.fixtures.factories import make_user


def rpps_lines() -> list[bytes]:
    return list(imports.read_lines(RPPS_FILE))


def finess_lines() -> list[bytes]:
    return list(imports.read_lines(FINESS_FILE))


def count(db, model) -> int:
    return int(db.scalar(select(func.count()).select_from(model)))


class TestImportRpps:
    def test_the_sample_is_imported_with_one_professional_per_national_identifier(self, db):
        """119 valid activity lines; a professional may have several activities (one role each)."""
        outcome = import_service.import_rpps(db, rpps_lines())
        report = outcome.report
        people = {row.national_id for row in report.rows}
        assert outcome.created == len(people) == count(db, Professional)
        keys = {(r.national_id, import_service._activity_key(r)) for r in report.rows}
        assert count(db, ProfessionalRole) == len(keys)
        assert "créé(s)" in outcome.summary

    def test_a_second_import_of_the_same_file_changes_nothing(self, db):
        first = import_service.import_rpps(db, rpps_lines())
        roles = count(db, ProfessionalRole)
        second = import_service.import_rpps(db, rpps_lines())
        assert (second.created, second.updated, second.unchanged) == (0, 0, first.created)
        assert count(db, ProfessionalRole) == roles

    def test_a_changed_name_updates_the_professional_in_place(self, db):
        import_service.import_rpps(db, rpps_lines())
        lines = rpps_lines()
        lines[1] = lines[1].replace(b"|PROTOTYPE|", b"|PROTOTYPE-NOUVEAU|")
        outcome = import_service.import_rpps(db, lines)
        assert outcome.updated == 1 and outcome.created == 0
        changed = db.scalar(select(Professional).where(Professional.rpps == "11490405583"))
        assert changed.last_name == "PROTOTYPE-NOUVEAU"

    def test_a_wrong_luhn_key_is_kept_with_its_warning(self, db):
        """RPPS key: soft check only, warn and keep (DOMAIN §1.3)."""
        import_service.import_rpps(db, rpps_lines())
        warned = db.scalars(select(Professional).where(func.length(Professional.national_id) == 12)).all()
        flagged = [p for p in warned if p.identifier_warnings]
        assert len(flagged) == 1 and "Luhn" in flagged[0].identifier_warnings[0]

    def test_a_file_over_the_threshold_imports_nothing_and_names_the_bad_line(self, db):
        with pytest.raises(ValidationFailed) as caught:
            import_service.import_rpps(db, rpps_lines(), threshold=0.005)
        assert "refusé" in caught.value.message and "0.83 %" in caught.value.message
        assert [(d["line"], d["field"]) for d in caught.value.details] == [(90, "Numéro FINESS site")]
        assert count(db, Professional) == 0

    def test_roles_point_at_the_establishments_the_directory_knows(self, db):
        import_service.import_finess(db, finess_lines(), threshold=0.1)
        import_service.import_rpps(db, rpps_lines())
        hospital = db.scalar(select(Establishment).where(Establishment.finess_et == "010910008"))
        linked = db.scalars(select(ProfessionalRole).where(ProfessionalRole.establishment_id == hospital.id)).all()
        assert linked and all(r.site_finess == "010910008" for r in linked)

    def test_progress_is_reported_up_to_the_number_of_rows(self, db):
        seen: list[tuple[int, int]] = []
        import_service.import_rpps(db, rpps_lines(), progress=lambda done, total: seen.append((done, total)))
        assert sum(done for done, _ in seen) == seen[0][1] == 119

    def test_the_import_is_audited(self, db):
        import_service.import_rpps(db, rpps_lines())
        db.commit()
        entry = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "directory_rpps")).one()
        assert (entry.action, entry.actor_role, entry.details["valid"]) == ("import", "cli", 119)

    def test_a_role_without_the_directory_permission_cannot_import(self, db):
        from maillage.auth import service as auth

        with pytest.raises(PermissionDenied):
            import_service.import_rpps(db, rpps_lines(), actor=auth.actor_for(db, make_user(db, "physician")))


class TestImportFiness:
    def test_the_sample_over_the_default_threshold_imports_nothing(self, db):
        """One bad line in fourteen (7.14 %) is over 1 %: the whole file is refused."""
        with pytest.raises(ValidationFailed) as caught:
            import_service.import_finess(db, finess_lines())
        assert caught.value.details[0]["line"] == 13
        assert count(db, Establishment) == 0

    def test_known_kinds_are_imported_and_other_categories_ignored(self, db):
        outcome = import_service.import_finess(db, finess_lines(), threshold=0.1)
        kinds = dict(db.execute(select(Establishment.finess_et, Establishment.kind)).all())
        assert outcome.ignored == 2 and outcome.created == len(kinds) == 9
        assert kinds["010910008"] == "hospital" and kinds["010910073"] == "ehpad" and kinds["010930014"] == "pharmacy"

    def test_lambert_93_coordinates_become_latitude_and_longitude(self, db):
        import_service.import_finess(db, finess_lines(), threshold=0.1)
        hospital = db.scalar(select(Establishment).where(Establishment.finess_et == "010910008"))
        assert 45.5 < hospital.latitude < 46.8 and 4.5 < hospital.longitude < 6.0
        assert hospital.commune_insee == "01053" and hospital.commune_name == "Bourg-en-Bresse"
        assert hospital.public is True

    def test_establishments_without_geolocation_sit_on_their_commune(self, db):
        import_service.import_finess(db, finess_lines(), threshold=0.1)
        corsica = db.scalar(select(Establishment).where(Establishment.finess_et == "2A0093003"))
        assert corsica.commune_insee == "2A004" and round(corsica.latitude) == 42

    def test_a_second_import_changes_nothing(self, db):
        first = import_service.import_finess(db, finess_lines(), threshold=0.1)
        second = import_service.import_finess(db, finess_lines(), threshold=0.1)
        assert (second.created, second.updated, second.unchanged) == (0, 0, first.created)


class TestToWgs84:
    def test_an_unknown_projection_gives_no_point(self):
        assert import_service.to_wgs84(1.0, 2.0, "1,SOURCE,INCONNUE") is None

    def test_the_reunion_utm_zone_is_known(self):
        lat, lon = import_service.to_wgs84(338000.0, 7690000.0, "1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,UTM_S40")
        assert -21.5 < lat < -20.8 and 55.1 < lon < 55.9


class TestCommandLine:
    @pytest.fixture
    def migrated(self):
        from maillage.cli import upgrade_database

        upgrade_database()

    def test_a_refused_file_reports_its_lines_and_imports_nothing(self, migrated):
        from maillage.cli import app

        result = CliRunner().invoke(app, ["directory", "import", "finess", str(FINESS_FILE)])
        assert result.exit_code == 2
        assert "ligne 13" in result.output and "Rien n'a été importé" in result.output

    def test_an_accepted_file_is_imported_then_reimported_without_change(self, migrated):
        from maillage.cli import app

        first = CliRunner().invoke(app, ["directory", "import", "rpps", str(RPPS_FILE)])
        assert first.exit_code == 0, first.output
        assert "ligne 90" in first.output
        second = CliRunner().invoke(app, ["directory", "import", "rpps", str(RPPS_FILE), "--seuil", "0.02"])
        assert second.exit_code == 0 and "0 créé(s), 0 mis à jour" in second.output

    def test_a_dry_run_writes_nothing(self, migrated):
        from maillage.cli import app

        result = CliRunner().invoke(app, ["directory", "import", "finess", str(FINESS_FILE), "--threshold", "0.1",
                                          "--dry-run"])
        assert result.exit_code == 0 and "Rien n'a été écrit" in result.output

    def test_a_threshold_outside_zero_and_one_is_refused(self, migrated):
        from maillage.cli import app

        result = CliRunner().invoke(app, ["directory", "import", "rpps", str(RPPS_FILE), "--threshold", "5"])
        assert result.exit_code == 2 and "Seuil" in result.output
