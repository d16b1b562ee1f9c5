"""The synthetic patients of the demo territory (demo/patients.py): demo INS, care relationships, duplicates."""

from __future__ import annotations

from maillage.demo.patients import plan_patients
from maillage.patient.rules import InsOid, validate_nir


class TestPlanPatients:
    def test_demo_patients_carry_valid_nirs_with_the_demo_oid(self, haute_vienne):
        plans = plan_patients(haute_vienne)
        with_ins = [p for p in plans if p.has_ins]
        assert with_ins and all(p.identity.ins.oid is InsOid.DEMO for p in with_ins)
        assert all(validate_nir(p.identity.ins.matricule.value) for p in with_ins)

    def test_dr_dupont_is_the_attending_physician_of_qualified_patients(self, haute_vienne):
        plans = plan_patients(haute_vienne)
        his = [p for p in plans if ("dr.dupont", "attending") in p.care_accounts]
        assert len(his) == 8 and {p.status.value for p in his} == {"QUAL"}
