"""Short patient labels for other capabilities' lists, read under the actor's access (real migrated database)."""

from __future__ import annotations

from maillage.auth import service as auth
from maillage.authz import service as authz
from maillage.patient.labels import short_labels
from tests.fixtures.factories import make_patient, make_user


class TestShortLabels:
    def test_a_patient_the_actor_follows_is_named_by_used_name_and_given_name(self, db):
        doctor = auth.actor_for(db, make_user(db, "physician"))
        p = make_patient(db, "Durand", "Jeanne Marie", used_name="Martin")
        authz.grant_relationship(db, user_id=doctor.user_id, patient_id=p.id, kind="attending")
        assert short_labels(db, doctor, [p.id]) == {p.id: "MARTIN Jeanne"}

    def test_the_used_given_name_comes_before_the_first_birth_given_name(self, db):
        doctor = auth.actor_for(db, make_user(db, "physician"))
        p = make_patient(db, "Durand", "Jeanne Marie", used_given_name="Jeannette")
        authz.grant_relationship(db, user_id=doctor.user_id, patient_id=p.id, kind="attending")
        assert short_labels(db, doctor, [p.id]) == {p.id: "DURAND Jeannette"}

    def test_a_patient_outside_the_actors_access_is_left_out(self, db):
        doctor = auth.actor_for(db, make_user(db, "physician"))
        followed, other = make_patient(db, "Durand", "Jeanne"), make_patient(db, "Petit", "Louise")
        authz.grant_relationship(db, user_id=doctor.user_id, patient_id=followed.id, kind="attending")
        assert short_labels(db, doctor, [followed.id, other.id]) == {followed.id: "DURAND Jeanne"}

    def test_an_ended_relationship_no_longer_names_the_patient(self, db):
        doctor = auth.actor_for(db, make_user(db, "physician"))
        p = make_patient(db, "Durand", "Jeanne")
        authz.grant_relationship(db, user_id=doctor.user_id, patient_id=p.id, kind="care_unit", source_type="stay",
                                 source_id="s1")
        authz.end_relationships(db, source_type="stay", source_id="s1")
        assert short_labels(db, doctor, [p.id]) == {}

    def test_no_ids_reads_nothing(self, db):
        doctor = auth.actor_for(db, make_user(db, "physician"))
        assert short_labels(db, doctor, []) == {}
