"""E-prescription's part of the demo: the demo drug database is imported with the territory."""

from __future__ import annotations

from decimal import Decimal

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


class TestDemoPrescription:
    def test_a_signed_prescription_waits_at_the_demo_pharmacy(self, db):
        from maillage.auth import service as auth
        from maillage.models.auth import UserAccount
        from maillage.prescription import service
        from maillage.web.home import waiting_items
        from maillage.web.nav import items_for

        demo.build_demo(db, "87", 1)
        users = {u.username: u for u in db.scalars(select(UserAccount))}
        pharmacist = auth.actor_for(db, users["pharma.petit"])
        (row,) = service.waiting_at_my_pharmacy(db, pharmacist)
        assert row.prescription.status == "signed" and row.prescriber_name
        opened = service.open_by_number(db, pharmacist, row.prescription.number)
        assert [line.line.label for line in opened.lines] == ["DERMOVAL 0,05 %, crème", "Doxycycline 100 mg, comprimé"]
        items = waiting_items(db, pharmacist, None)
        assert any(item.href == "/officine" and item.count == 1 for item in items)
        assert any(item.href == "/officine" for item in items_for("pharmacist", True))
        prescriber = auth.actor_for(db, users["dr.martin"])
        from maillage.patient import allergy
        from maillage.prescription.rules import LineDraft, LineKind, Period
        known = allergy.allergies(db, prescriber, opened.prescription.patient_id)
        assert [(a.entry.substance, a.entry.criticality) for a in known] == [("Amoxicilline", "high")]
        amoxicillin = LineDraft(kind=LineKind.SPECIALITY, label="", cis="60000035", dose=Decimal(1),
                                dose_unit="comprimé", times=2, period=Period.DAY, duration=7,
                                duration_unit=Period.DAY, quantity=1)
        draft = service.create_draft(db, prescriber, opened.prescription.patient_id, [amoxicillin])
        warnings = service.view(db, prescriber, draft.id).warnings
        assert any(w.startswith("Ligne 1 : allergie connue du patient à Amoxicilline") for w in warnings)
