"""The only way to patient data: care relationships, break-the-glass, audit in the same transaction."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from maillage.auth import service as auth
from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind, RequestParties, is_request_party
from maillage.config import Settings
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit import clock
from maillage.kit.http import AFTER_ROLLBACK
from maillage.models.audit import AuditEntry
from maillage.models.authz import BreakGlassAccess
from maillage.security.policy import ROLE_PERMISSIONS, Permission, role_allows
from maillage.security.purposes import Purpose
from tests.fixtures.factories import make_patient_id, make_user
from tests.fixtures.patients import existing_patient

T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


def actor_of(db, user):
    return auth.actor_for(db, user)


@pytest.fixture
def s(tmp_path):
    return Settings(environment="test", var_dir=tmp_path, secret_key="s" * 40)


class TestPolicyTable:
    def test_every_role_has_an_entry_and_only_administrators_administer(self):
        from maillage.security.roles import Role

        assert set(ROLE_PERMISSIONS) == set(Role)
        admins = {r for r in Role if role_allows(r, Permission.USERS_ADMIN)}
        assert admins == {Role.ADMINISTRATOR}

    def test_analysts_and_billing_never_read_patient_records(self):
        from maillage.security.roles import Role

        assert not role_allows(Role.ANALYST, Permission.PATIENT_READ)
        assert not role_allows(Role.BILLING_OFFICER, Permission.PATIENT_READ)
        assert not role_allows(Role.ADMINISTRATOR, Permission.PATIENT_READ)


class TestAccessPatient:
    def test_a_current_relationship_grants_access_and_writes_an_audit_entry(self, db):
        user = make_user(db, "physician")
        patient = make_patient_id(db)
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
        patient = make_patient_id(db)
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
        patient = make_patient_id(db)
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
        patient = make_patient_id(db)
        authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="expert",
                                 source_type="teleexpertise", source_id="9")
        assert authz.end_relationships(db, source_type="teleexpertise", source_id="9") == 1
        with pytest.raises(NotFound):
            authz.access_patient(db, actor_of(db, user), patient, Purpose.TELEEXPERTISE)

    def test_granting_twice_for_the_same_source_is_idempotent(self, db):
        user = make_user(db, "physician")
        patient = make_patient_id(db)
        a = authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="requester",
                                     source_type="teleexpertise", source_id="1")
        b = authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="requester",
                                     source_type="teleexpertise", source_id="1")
        assert a.id == b.id

    def test_accessible_patients_scopes_lists(self, db):
        user = make_user(db, "physician")
        mine, theirs = make_patient_id(db), make_patient_id(db)
        authz.grant_relationship(db, user_id=user.id, patient_id=mine, kind="attending")
        authz.grant_relationship(db, user_id=make_user(db).id, patient_id=theirs, kind="attending")
        assert set(db.scalars(authz.accessible_patients(actor_of(db, user)))) == {mine}


def after_rollback_of(db) -> None:
    """Play the boundary's part when a request fails: roll back, then run what must survive the rollback."""
    pending = db.info.pop(AFTER_ROLLBACK, [])
    db.rollback()
    for write in pending:
        write(db)
    db.commit()


def parties(patient: uuid.UUID, requester: uuid.UUID, *, draft: bool = False, assignee: uuid.UUID | None = None,
            named: uuid.UUID | None = None, staff: frozenset[uuid.UUID] = frozenset()) -> RequestParties:
    return RequestParties(patient_id=patient, draft=draft, requester_id=requester, assignee_id=assignee,
                          named_expert_id=named, line_staff=lambda: staff)


class TestRecordRefusal:
    def test_the_refusal_is_written_after_the_rollback_not_in_the_refused_transaction(self, db):
        user = make_user(db, "physician")
        db.commit()
        patient = uuid.uuid4()
        authz.record_refusal(db, actor_of(db, user), action="read", object_type="thing", object_id="7",
                             patient_id=patient, purpose=Purpose.CARE, details={"why": "test"})
        db.flush()
        assert db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient))).all() == []
        after_rollback_of(db)
        entry = db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient))).one()
        assert (entry.action, entry.object_type, entry.object_id, entry.outcome, entry.purpose, entry.actor_id) == (
            "read", "thing", "7", "denied", "care", str(user.id))


class TestAccessRequest:
    def test_a_party_passes_and_the_access_is_audited_in_the_transaction(self, db):
        user = make_user(db, "physician")
        patient = uuid.uuid4()
        authz.access_request(db, actor_of(db, user), parties(patient, user.id), action="read",
                             object_type="teleexpertise_request", object_id="r1", purpose=Purpose.TELEEXPERTISE)
        db.commit()
        entry = db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient))).one()
        assert (entry.action, entry.object_id, entry.outcome, entry.purpose) == (
            "read", "r1", "success", "teleexpertise")

    def test_anyone_else_is_not_found_and_the_attempt_is_audited_as_denied(self, db):
        outsider = make_user(db, "physician")
        db.commit()
        patient = uuid.uuid4()
        with pytest.raises(NotFound) as refused:
            authz.access_request(db, actor_of(db, outsider), parties(patient, uuid.uuid4()), action="answer",
                                 object_type="teleexpertise_request", object_id="r2", purpose=Purpose.TELEEXPERTISE,
                                 not_found="Demande introuvable.")
        assert refused.value.message == "Demande introuvable."
        after_rollback_of(db)
        entry = db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient))).one()
        assert (entry.action, entry.object_id, entry.outcome, entry.actor_id) == (
            "answer", "r2", "denied", str(outsider.id))


class TestIsRequestParty:
    """The rule of ``authz.rules.is_request_party``, case by case (pure: no database)."""

    REQUESTER, ASSIGNEE, NAMED, STAFF, OTHER = (uuid.uuid4() for _ in range(5))

    def sent(self, **kw) -> RequestParties:
        return parties(uuid.uuid4(), self.REQUESTER, assignee=self.ASSIGNEE, named=self.NAMED,
                       staff=frozenset({self.STAFF}), **kw)

    def test_every_party_of_a_sent_request_is_a_party(self):
        assert all(is_request_party(u, self.sent()) for u in (self.REQUESTER, self.ASSIGNEE, self.NAMED, self.STAFF))

    def test_someone_else_is_not(self):
        assert not is_request_party(self.OTHER, self.sent())

    def test_a_draft_is_its_authors_alone(self):
        draft = self.sent(draft=True)
        assert is_request_party(self.REQUESTER, draft)
        assert not any(is_request_party(u, draft) for u in (self.ASSIGNEE, self.NAMED, self.STAFF))

    def test_the_line_staff_is_looked_up_only_for_someone_not_named(self):
        calls = []

        def staff() -> frozenset[uuid.UUID]:
            calls.append(1)
            return frozenset({self.STAFF})

        request = RequestParties(patient_id=uuid.uuid4(), draft=False, requester_id=self.REQUESTER,
                                 assignee_id=None, named_expert_id=None, line_staff=staff)
        assert is_request_party(self.REQUESTER, request) and calls == []
        assert is_request_party(self.STAFF, request) and calls == [1]


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
