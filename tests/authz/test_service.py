"""The only way to patient data: care relationships, break-the-glass, audit in the same transaction."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from maillage.auth import service as auth
from maillage.authz import service as authz
from maillage.authz.policy import ROLE_PERMISSIONS, Permission, role_allows
from maillage.authz.rules import Purpose, RelationshipKind
from maillage.config import Settings
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit import clock
from maillage.models.audit import AuditEntry
from maillage.models.authz import BreakGlassAccess
from tests.fixtures.factories import make_user
from tests.fixtures.patients import existing_patient

T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


def actor_of(db, user):
    return auth.actor_for(db, user)


@pytest.fixture
def s(tmp_path):
    return Settings(environment="test", var_dir=tmp_path, secret_key="s" * 40)


class TestPolicyTable:
    def test_every_role_has_an_entry_and_only_administrators_administer(self):
        from maillage.auth.rules import Role

        assert set(ROLE_PERMISSIONS) == set(Role)
        admins = {r for r in Role if role_allows(r, Permission.USERS_ADMIN)}
        assert admins == {Role.ADMINISTRATOR}

    def test_analysts_and_billing_never_read_patient_records(self):
        from maillage.auth.rules import Role

        assert not role_allows(Role.ANALYST, Permission.PATIENT_READ)
        assert not role_allows(Role.BILLING_OFFICER, Permission.PATIENT_READ)
        assert not role_allows(Role.ADMINISTRATOR, Permission.PATIENT_READ)


class TestAccessPatient:
    def test_a_current_relationship_grants_access_and_writes_an_audit_entry(self, db):
        user = make_user(db, "physician")
        patient = uuid.uuid4()
        authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind=RelationshipKind.EXPERT,
                                 source_type="teleexpertise", source_id="42")
        grant = authz.access_patient(db, actor_of(db, user), patient, Purpose.TELEEXPERTISE)
        assert grant.patient_id == patient and grant.break_glass is None
        db.commit()
        entry = db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient))).one()
        assert (entry.action, entry.outcome, entry.purpose, entry.actor_id) == (
            "read", "success", "teleexpertise", str(user.id))

    def test_no_relationship_is_not_found_like_a_missing_patient(self, db):
        user = make_user(db, "physician")
        with pytest.raises(NotFound) as unknown:
            authz.access_patient(db, actor_of(db, user), uuid.uuid4(), Purpose.CARE)
        other = make_user(db, "physician")
        patient = uuid.uuid4()
        authz.grant_relationship(db, user_id=other.id, patient_id=patient, kind="attending")
        with pytest.raises(NotFound) as hidden:
            authz.access_patient(db, actor_of(db, user), patient, Purpose.CARE)
        assert (unknown.value.status_code, unknown.value.message) == (hidden.value.status_code, hidden.value.message)

    def test_a_role_that_never_reads_records_is_forbidden(self, db):
        analyst = make_user(db, "analyst")
        with pytest.raises(PermissionDenied):
            authz.access_patient(db, actor_of(db, analyst), uuid.uuid4(), Purpose.CARE)

    def test_an_ended_or_future_relationship_grants_nothing(self, db):
        user = make_user(db, "nurse")
        patient = uuid.uuid4()
        with clock.frozen(T0) as c:
            authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="care_team",
                                     source_type="monitoring", source_id="7",
                                     starts_at=T0 + dt.timedelta(days=1), ends_at=T0 + dt.timedelta(days=30))
            with pytest.raises(NotFound):
                authz.access_patient(db, actor_of(db, user), patient, Purpose.MONITORING)
            c.advance(dt.timedelta(days=2))
            authz.access_patient(db, actor_of(db, user), patient, Purpose.MONITORING)
            c.advance(dt.timedelta(days=29))
            with pytest.raises(NotFound):
                authz.access_patient(db, actor_of(db, user), patient, Purpose.MONITORING)

    def test_ending_the_source_ends_the_access(self, db):
        user = make_user(db, "physician")
        patient = uuid.uuid4()
        authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="expert",
                                 source_type="teleexpertise", source_id="9")
        assert authz.end_relationships(db, source_type="teleexpertise", source_id="9") == 1
        with pytest.raises(NotFound):
            authz.access_patient(db, actor_of(db, user), patient, Purpose.TELEEXPERTISE)

    def test_granting_twice_for_the_same_source_is_idempotent(self, db):
        user = make_user(db, "physician")
        patient = uuid.uuid4()
        a = authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="requester",
                                     source_type="teleexpertise", source_id="1")
        b = authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="requester",
                                     source_type="teleexpertise", source_id="1")
        assert a.id == b.id

    def test_accessible_patients_scopes_lists(self, db):
        user = make_user(db, "physician")
        mine, theirs = uuid.uuid4(), uuid.uuid4()
        authz.grant_relationship(db, user_id=user.id, patient_id=mine, kind="attending")
        authz.grant_relationship(db, user_id=make_user(db).id, patient_id=theirs, kind="attending")
        assert set(db.scalars(authz.accessible_patients(actor_of(db, user)))) == {mine}


class TestBreakGlass:
    def test_break_glass_opens_a_time_limited_flagged_access(self, db, s):
        user = make_user(db, "physician")
        patient = existing_patient(db)
        with clock.frozen(T0) as c:
            access = authz.break_glass(db, actor_of(db, user), patient,
                                       "Patient inconscient aux urgences, médecin traitant injoignable", settings=s)
            grant = authz.access_patient(db, actor_of(db, user), patient, Purpose.CARE)
            assert grant.break_glass is not None and grant.break_glass.id == access.id
            c.advance(dt.timedelta(minutes=s.break_glass_minutes, seconds=1))
            with pytest.raises(NotFound):
                authz.access_patient(db, actor_of(db, user), patient, Purpose.CARE)
        db.commit()
        entries = db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient),
                                                      AuditEntry.actor_id == str(user.id))
                             .order_by(AuditEntry.seq)).all()
        assert [(e.action, e.break_glass, e.purpose) for e in entries] == [
            ("break_glass", True, "emergency"), ("read", True, "emergency")]
        assert access.ground == "emergency"
        assert entries[0].reason.startswith("Patient inconscient")

    def test_a_patient_id_that_does_not_exist_is_not_found_and_nothing_is_recorded(self, db, s):
        user = make_user(db, "physician")
        ghost = uuid.uuid4()
        with pytest.raises(NotFound):
            authz.break_glass(db, actor_of(db, user), ghost, "Patient inconscient aux urgences, dossier requis",
                              settings=s)
        db.commit()
        assert db.scalars(select(BreakGlassAccess).where(BreakGlassAccess.patient_id == ghost)).all() == []
        assert db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(ghost))).all() == []

    @pytest.mark.parametrize("reason", ["", "urgence", "aaaaaaaaaaaaaaaaaaaaaaaa"])
    def test_a_vague_reason_is_refused(self, db, s, reason):
        user = make_user(db, "physician")
        with pytest.raises(ValidationFailed):
            authz.break_glass(db, actor_of(db, user), uuid.uuid4(), reason, settings=s)

    def test_roles_without_the_permission_cannot_break_the_glass(self, db, s):
        nurse = make_user(db, "nurse")
        with pytest.raises(PermissionDenied):
            authz.break_glass(db, actor_of(db, nurse), uuid.uuid4(), "Urgence vitale, patient inconscient", settings=s)

    def test_an_administrator_reviews_each_access_once(self, db, s):
        user = make_user(db, "physician")
        admin = make_user(db, "administrator")
        access = authz.break_glass(db, actor_of(db, user), existing_patient(db),
                                   "Détresse respiratoire, dossier nécessaire immédiatement", settings=s)
        assert [a.id for a in authz.break_glass_to_review(db, actor_of(db, admin))] == [access.id]
        authz.review_break_glass(db, actor_of(db, admin), access.id, "Justifié")
        assert authz.break_glass_to_review(db, actor_of(db, admin)) == []
        with pytest.raises(PermissionDenied):
            authz.break_glass_to_review(db, actor_of(db, user))
