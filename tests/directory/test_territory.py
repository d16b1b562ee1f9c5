"""The demonstration territory (directory/territory.py, written by maillage.demo): a believable GHT for any
département, deterministic for a seed, with valid identifiers that cannot be real ones."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from stdnum import luhn

from maillage import demo
from maillage.auth import service as auth
from maillage.directory import rules, service, territory
from maillage.directory.rules import EstablishmentKind, GhtRole
from maillage.exceptions import ValidationFailed
from maillage.models.authz import CareRelationship
from maillage.models.directory import Establishment, SpecialtyLine
from maillage.models.patient import Patient
from maillage.patient import consent, vigilance
from maillage.patient import service as patients
from maillage.patient.rules import InsOid, validate_nir


@pytest.fixture(scope="module")
def haute_vienne() -> territory.TerritoryPlan:
    return territory.build_territory("87", 1)


class TestBuildTerritory:
    def test_the_same_departement_and_seed_give_the_same_territory(self, haute_vienne):
        again = territory.build_territory("87", 1)
        assert [(e.key, e.name, e.finess_et) for e in again.establishments] == [
            (e.key, e.name, e.finess_et) for e in haute_vienne.establishments]
        assert again.id_for("support") == haute_vienne.id_for("support")
        assert [p.rpps for p in again.professionals] == [p.rpps for p in haute_vienne.professionals]

    def test_another_seed_gives_another_territory(self, haute_vienne):
        other = territory.build_territory("87", 2)
        assert [e.name for e in other.establishments] != [e.name for e in haute_vienne.establishments]
        assert other.id_for("support") != haute_vienne.id_for("support")

    def test_the_support_hospital_is_in_the_prefecture_and_members_in_other_towns(self, haute_vienne):
        support = haute_vienne.establishment("support")
        assert (support.commune.name, support.ght_role, support.public) == ("Limoges", GhtRole.SUPPORT, True)
        members = [e for e in haute_vienne.establishments if e.ght_role is GhtRole.MEMBER
                   and e.kind is EstablishmentKind.HOSPITAL]
        assert members and "Saint-Junien" in {m.commune.name for m in members}
        assert all(territory.distance_km(m.commune, support.commune) >= territory.MEMBER_MIN_DISTANCE_KM
                   for m in members)

    def test_the_ght_composition_is_valid(self, haute_vienne):
        """One support establishment, roles allowed for each kind (directory.rules.validate_ght; CSP L6132-1)."""
        participants = [rules.GhtParticipant(e.finess_et or f"X{i:08d}", e.kind, e.public, e.ght_role)
                        for i, e in enumerate(haute_vienne.establishments) if e.ght_role]
        rules.validate_ght([p for p in participants if p.finess[0] != "X"])

    def test_finess_numbers_pass_the_key_check_and_cannot_be_real(self, haute_vienne):
        numbers = [n for e in haute_vienne.establishments for n in (e.finess_et, e.finess_ej) if n]
        assert len(numbers) == len(set(numbers))
        for number in numbers:
            assert rules.validate_finess(number) == number and number.startswith("00")

    def test_rpps_numbers_pass_the_luhn_key_in_the_test_range(self, haute_vienne):
        numbers = [p.rpps for p in haute_vienne.professionals]
        assert len(numbers) == len(set(numbers))
        assert all(luhn.is_valid(n) and n.startswith("9990") and len(n) == 11 for n in numbers)

    def test_every_kind_of_partner_is_present(self, haute_vienne):
        kinds = {e.kind for e in haute_vienne.establishments}
        assert kinds == set(EstablishmentKind)

    def test_a_prison_health_unit_is_attached_to_a_hospital_where_there_is_a_prison(self, haute_vienne):
        usmp = [e for e in haute_vienne.establishments if e.kind is EstablishmentKind.USMP]
        assert [u.name for u in usmp] == ["Unité sanitaire — Maison d'arrêt de Limoges"]
        assert haute_vienne.establishment(usmp[0].parent_key).kind is EstablishmentKind.HOSPITAL

    def test_a_departement_without_a_known_prison_has_no_usmp_and_says_so(self):
        gers = territory.build_territory("32", 1)
        assert not [e for e in gers.establishments if e.kind is EstablishmentKind.USMP]
        assert "pas d'USMP" in gers.notes[0]

    def test_paris_as_one_commune_gets_hospital_sites_in_the_prefecture(self):
        paris = territory.build_territory("75", 1)
        members = [e for e in paris.establishments if e.ght_role is GhtRole.MEMBER and e.kind is
                   EstablishmentKind.HOSPITAL]
        assert [m.name for m in members] == ["Hôpital Nord de Paris", "Hôpital Sud de Paris"]

    def test_the_demo_accounts_have_their_places(self, haute_vienne):
        places = {a.username: a for a in haute_vienne.accounts}
        martin = haute_vienne.professional(places["dr.martin"].professional_key)
        assert (martin.last_name, martin.specialty_code) == ("MARTIN", "SM15")
        dermatology = next(line for line in haute_vienne.lines if line.specialty_code == "SM15")
        assert martin.key in dermatology.answering
        dupont = haute_vienne.professional(places["dr.dupont"].professional_key)
        assert (dupont.last_name, dupont.specialty_code, dupont.practice_mode) == ("DUPONT", "SM54", "L")

    def test_an_unknown_departement_is_refused_in_french(self):
        with pytest.raises(ValidationFailed, match="n'existe pas"):
            territory.build_territory("00", 1)

    def test_names_use_french_elision(self):
        assert territory.of("Ajaccio") == "d'Ajaccio" and territory.of("Le Port") == "du Port"
        assert territory.of("Limoges") == "de Limoges" and territory.of("Les Abymes") == "des Abymes"


class TestPlanPatients:
    def test_demo_patients_carry_valid_nirs_with_the_demo_oid(self, haute_vienne):
        plans = demo.plan_patients(haute_vienne)
        with_ins = [p for p in plans if p.has_ins]
        assert with_ins and all(p.identity.ins.oid is InsOid.DEMO for p in with_ins)
        assert all(validate_nir(p.identity.ins.matricule.value) for p in with_ins)

    def test_dr_dupont_is_the_attending_physician_of_qualified_patients(self, haute_vienne):
        plans = demo.plan_patients(haute_vienne)
        his = [p for p in plans if ("dr.dupont", "attending") in p.care_accounts]
        assert len(his) == 8 and {p.status.value for p in his} == {"QUAL"}


class TestBuildDemo:
    @pytest.mark.parametrize("departement", ["87", "2A", "974"])
    def test_a_territory_is_written_for_several_departements(self, db, departement):
        summary = demo.build_demo(db, departement, 1)
        plan = summary.plan
        assert db.scalar(select(func.count()).select_from(Establishment)) == len(plan.establishments)
        assert db.scalar(select(func.count()).select_from(SpecialtyLine)) == len(plan.lines)
        assert db.scalar(select(func.count()).select_from(Patient)) == summary.patients
        support = db.get(Establishment, plan.id_for("support"))
        assert support.commune_insee == plan.departement.prefecture_insee

    def test_the_demo_gp_finds_his_patients_and_the_specialist_her_lines(self, db):
        demo.build_demo(db, "87", 1)
        dupont = auth.actor_for(db, auth.get_user(db, "dr.dupont"))
        mine = patients.my_patients(db, dupont)
        assert len(mine) == 8 and all(v.matricule_shared for v in mine)
        found = patients.search_patients(db, dupont, ins=mine[0].matricule)
        assert [v.patient.id for v in found] == [mine[0].patient.id]
        martin = auth.get_user(db, "dr.martin")
        lines = service.search_lines(db, professional_id=martin.person_id)
        assert [v.specialty_code for v in lines] == ["SM15"]
        assert auth.actor_for(db, martin).current_establishment_id is not None
        leroy = auth.actor_for(db, auth.get_user(db, "ide.leroy"))
        assert len(patients.my_patients(db, leroy)) == 8  # six EHPAD residents and the two records typed again

    def test_the_identity_officer_has_the_planted_duplicates_to_review(self, db):
        demo.build_demo(db, "87", 1)
        officer = auth.actor_for(db, auth.get_user(db, "idv.fournier"))
        reasons = sorted(p.reason for p in vigilance.potential_duplicates(db, officer))
        assert reasons == ["close_traits", "same_traits"]

    def test_some_demo_patients_object_to_data_reuse(self, db):
        demo.build_demo(db, "87", 1)
        assert consent.objects_to_data_reuse(db)

    def test_care_relationships_are_only_those_of_the_plan(self, db):
        summary = demo.build_demo(db, "87", 1)
        expected = sum(len(p.care_accounts) for p in demo.plan_patients(summary.plan))
        assert db.scalar(select(func.count()).select_from(CareRelationship)) == expected
