"""E-prescription's part of the demo: the demo drug database is imported with the territory."""

from __future__ import annotations

from sqlalchemy import select

from maillage.demo import load as demo
from maillage.demo.prescription import DEMO_BDPM, seed_demo_drugs
from maillage.models.drug import DrugRelease
from maillage.prescription import drugs


class TestDemoDrugs:
    def test_the_demo_territory_comes_with_a_searchable_drug_database(self, db):
        demo.build_demo(db, "87", 1)
        release = db.scalars(select(DrugRelease).where(DrugRelease.current.is_(True))).one()
        assert release.speciality_count == 14 and release.skipped_line_count == 0
        assert release.encoding == "cp1252"  # the demo files are Latin-1, as the ANSM has published them
        assert [hit.name for hit in drugs.search(db, "dermoval")] == ["DERMOVAL 0,05 %, crème"]

    def test_the_demo_files_are_packaged_with_the_code(self, db):
        assert sorted(p.name for p in DEMO_BDPM.iterdir()) == [
            "CIS_CIP_bdpm.txt", "CIS_COMPO_bdpm.txt", "CIS_GENER_bdpm.txt", "CIS_InfoImportantes.txt", "CIS_bdpm.txt"]
        assert seed_demo_drugs(db).specialities == 14
