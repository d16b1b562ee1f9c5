"""Writing the demo territory (demo/load.py): every establishment, line, account and patient of the plan."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from maillage.auth import service as auth
from maillage.demo.load import build_demo
from maillage.demo.patients import plan_patients
from maillage.directory import service
from maillage.models.authz import CareRelationship
from maillage.models.directory import Establishment, SpecialtyLine
from maillage.models.patient import Patient
from maillage.patient import consent, vigilance
from maillage.patient import service as patients


class TestBuildDemo:
    @pytest.mark.parametrize("departement", ["87", "2A", "974"])
    def test_a_territory_is_written_for_several_departements(self, db, departement):
        summary = build_demo(db, departement, 1)
        plan = summary.plan
        assert db.scalar(select(func.count()).select_from(Establishment)) == len(plan.establishments)
        assert db.scalar(select(func.count()).select_from(SpecialtyLine)) == len(plan.lines)
        assert db.scalar(select(func.count()).select_from(Patient)) == summary.patients
        support = db.get(Establishment, plan.id_for("support"))
        assert support.commune_insee == plan.departement.prefecture_insee

    def test_the_demo_gp_finds_his_patients_and_the_specialist_her_lines(self, db):
        build_demo(db, "87", 1)
        dupont = auth.actor_for(db, auth.get_user(db, "dr.dupont"))
        mine = patients.my_patients(db, dupont)
        # His eight (qualified identities), then the EHPAD resident the nurse's message opened to him for 30 days.
        assert len(mine) == 9 and all(v.matricule_shared for v in mine[:8]) and not mine[8].matricule_shared
        found = patients.search_patients(db, dupont, ins=mine[0].matricule)
        assert [v.patient.id for v in found] == [mine[0].patient.id]
        martin = auth.get_user(db, "dr.martin")
        lines = service.search_lines(db, professional_id=martin.person_id)
        assert [v.specialty_code for v in lines] == ["SM15"]
        assert auth.actor_for(db, martin).current_establishment_id is not None
        leroy = auth.actor_for(db, auth.get_user(db, "ide.leroy"))
        assert len(patients.my_patients(db, leroy)) == 8  # six EHPAD residents and the two records typed again

    def test_the_identity_officer_has_the_planted_duplicates_to_review(self, db):
        build_demo(db, "87", 1)
        officer = auth.actor_for(db, auth.get_user(db, "idv.fournier"))
        reasons = sorted(p.reason for p in vigilance.potential_duplicates(db, officer))
        assert reasons == ["close_traits", "same_traits"]

    def test_some_demo_patients_object_to_data_reuse(self, db):
        build_demo(db, "87", 1)
        assert consent.objects_to_data_reuse(db)

    def test_care_relationships_are_only_those_of_the_plan_and_of_its_activity(self, db):
        summary = build_demo(db, "87", 1)
        expected = sum(len(p.care_accounts) for p in plan_patients(summary.plan))
        sources = dict(db.execute(select(CareRelationship.source_type, func.count())
                                  .group_by(CareRelationship.source_type)).all())
        assert sources.pop("demo") == expected
        # The rest come from the demo's activity, played through the services (requests, enrolments, appointments,
        # the messaging threads that opened a patient to a professional added to them).
        assert set(sources) == {"teleexpertise_request", "monitoring_enrolment", "teleconsultation", "message_thread"}
