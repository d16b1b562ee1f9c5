"""Allergies and intolerances of a patient (maillage.patient.allergy), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.models.audit import AuditEntry
from maillage.models.patient import PatientAllergy
from maillage.patient import allergy
from maillage.patient.allergy import AllergyIn
from tests.fixtures.factories import make_user
from tests.fixtures.patients import actor, create, physician


@pytest.fixture
def owner(db: Any) -> Any:
    return physician(db)


@pytest.fixture
def patient_id(db: Any, owner: Any) -> Any:
    return create(db, owner).patient.id


def penicillin(**changes: Any) -> AllergyIn:
    data: dict[str, Any] = dict(substance="Amoxicilline", kind="allergy", criticality="high",
                                reaction="Urticaire généralisée")
    return AllergyIn(**{**data, **changes})


class TestRecord:
    def test_an_allergy_is_recorded_with_who_and_when_and_audited(self, db, owner, patient_id):
        row = allergy.record_allergy(db, actor(db, owner), patient_id, penicillin(substance="  Amoxicilline  "))
        listed = allergy.allergies(db, actor(db, owner), patient_id)
        assert [(a.entry.substance, a.kind_label, a.criticality_label, a.entry.reaction) for a in listed] == [
            ("Amoxicilline", "Allergie", "Élevée", "Urticaire généralisée")]
        assert listed[0].active and listed[0].high and listed[0].recorded_by_name == owner.display_name
        assert row.recorded_by == owner.id and row.recorded_at is not None
        db.commit()
        actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "allergy",
                                                                 AuditEntry.patient_id == str(patient_id))))
        assert actions == {"create", "read"}

    def test_the_substance_and_the_reaction_are_sealed_in_the_database(self, db, owner, patient_id):
        row = allergy.record_allergy(db, actor(db, owner), patient_id, penicillin())
        db.flush()
        raw = db.execute(text("select substance, reaction from patient_allergy where id = :id"),
                         {"id": row.id.hex if db.bind.dialect.name == "sqlite" else row.id}).one()
        assert "Amoxicilline" not in raw[0] and "Urticaire" not in raw[1]

    @pytest.mark.parametrize(("changes", "message"), [
        ({"substance": "   "}, "indiquez la substance"),
        ({"kind": "phobia"}, "Type : « phobia » n'est pas permis"),
        ({"criticality": "medium"}, "Criticité : « medium » n'est pas permis"),
        ({"substance_code": "AB12"}, "fait de chiffres"),
        ({"reaction": "x" * 501}, "500 caractères au plus"),
    ])
    def test_bad_input_is_refused_in_french_and_nothing_is_written(self, db, owner, patient_id, changes, message):
        with pytest.raises(ValidationFailed, match=message):
            allergy.record_allergy(db, actor(db, owner), patient_id, penicillin(**changes))
        assert db.scalar(select(PatientAllergy.id)) is None

    def test_a_physician_without_a_relationship_gets_404_and_nothing_is_written(self, db, patient_id):
        stranger = physician(db)
        with pytest.raises(NotFound):
            allergy.record_allergy(db, actor(db, stranger), patient_id, penicillin())
        with pytest.raises(NotFound):
            allergy.allergies(db, actor(db, stranger), patient_id)
        assert db.scalar(select(PatientAllergy.id)) is None

    def test_a_pharmacist_may_not_record_one(self, db, patient_id):
        with pytest.raises(PermissionDenied):
            allergy.record_allergy(db, actor(db, make_user(db, "pharmacist")), patient_id, penicillin())


class TestEnteredInError:
    def test_an_entry_marked_in_error_stays_struck_out_and_leaves_the_active_ones(self, db, owner, patient_id):
        wrong = allergy.record_allergy(db, actor(db, owner), patient_id, penicillin(substance="Aspirine"))
        allergy.record_allergy(db, actor(db, owner), patient_id, penicillin())
        allergy.mark_entered_in_error(db, actor(db, owner), patient_id, wrong.id)
        listed = allergy.allergies(db, actor(db, owner), patient_id)
        assert [(a.entry.substance, a.active) for a in listed] == [("Amoxicilline", True), ("Aspirine", False)]
        assert wrong.entered_in_error_by == owner.id and wrong.entered_in_error_at is not None
        assert [k.substance for k in allergy.active_allergies(db, patient_id)] == ["Amoxicilline"]
        with pytest.raises(Conflict, match="déjà marquée"):
            allergy.mark_entered_in_error(db, actor(db, owner), patient_id, wrong.id)

    def test_an_entry_of_another_patient_is_not_found(self, db, owner, patient_id):
        other = create(db, owner, 1).patient.id
        row = allergy.record_allergy(db, actor(db, owner), other, penicillin())
        with pytest.raises(NotFound):
            allergy.mark_entered_in_error(db, actor(db, owner), patient_id, row.id)

    def test_a_physician_without_a_relationship_gets_404(self, db, owner, patient_id):
        row = allergy.record_allergy(db, actor(db, owner), patient_id, penicillin())
        with pytest.raises(NotFound):
            allergy.mark_entered_in_error(db, actor(db, physician(db)), patient_id, row.id)
        assert row.status == "active"
