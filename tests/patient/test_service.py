"""Patient identity through the service: creation with identity vigilance, masking of the INS matricule below a
qualified identity, access only through care relationships (audited), consents and objections, duplicates, merges
and their undoing.

Rules: DOMAIN §1.2 (INS, identity status, matricule shared only when qualified); RNIV (one record per person,
identity vigilance); DESIGN "Security model" (404 without a care relationship, every access audited).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from maillage.audit import rules as audit_rules
from maillage.authz import service as authz
from maillage.demo.territory_plan import demo_rpps
from maillage.directory import service as directory
from maillage.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from maillage.kit import clock
from maillage.models import audit as audit_models
from maillage.models.audit import AuditEntry
from maillage.models.authz import CareRelationship
from maillage.models.patient import Patient, PatientConsent
from maillage.patient import consent, service, views, vigilance
from maillage.patient.rules import InsOid
from maillage.patient.schemas import AttachRequest, ConsentCreate, IdentityCheck
from maillage.security.purposes import Purpose
from tests.fixtures.factories import make_user
from tests.fixtures.patients import (
    IDENTITIES,
    REASON,
    actor,
    create,
    ins_of,
    insert_record,
    physician,
    qualified,
    traits,
)


def listed_patients(db: Any, entry: AuditEntry) -> list[str]:
    """The patients an audited list read returned (audit_entry_patient)."""
    return sorted(db.scalars(select(audit_models.AuditEntryPatient.patient_id)
                          .where(audit_models.AuditEntryPatient.entry_id == entry.id)))


def audit_entries(db: Any, **where: Any) -> list[AuditEntry]:
    db.commit()
    stmt = select(AuditEntry)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, name) == value)
    return list(db.scalars(stmt.order_by(AuditEntry.seq)))


# --- Tests --------------------------------------------------------------------------------------------------


class TestCreatePatient:
    def test_a_patient_is_created_with_the_creators_care_relationship_and_an_audit_entry(self, db):
        user = physician(db)
        view = create(db, user)
        rel = db.scalars(select(CareRelationship).where(CareRelationship.patient_id == view.patient.id)).one()
        assert (rel.user_id, rel.kind) == (user.id, "care_unit")
        entries = audit_entries(db, patient_id=str(view.patient.id))
        assert [(e.action, e.outcome, e.purpose) for e in entries] == [("create", "success", "care")]
        assert view.patient.identity_status == "PROV"

    def test_the_creator_who_is_the_attending_physician_gets_an_attending_relationship(self, db):
        user = physician(db)
        mine = directory.professional_of_user(db, user.id)
        view = create(db, user, attending_professional_id=mine.id)
        rel = db.scalars(select(CareRelationship).where(CareRelationship.patient_id == view.patient.id)).one()
        assert rel.kind == "attending"
        assert view.attending_name is not None and "TEST" in view.attending_name

    def test_matching_strict_traits_refuse_a_duplicate_without_naming_the_record(self, db):
        first, second = physician(db), physician(db)
        existing = create(db, first)
        with pytest.raises(service.IdentityExists) as caught:
            create(db, second, used_name="Autre")
        assert caught.value.status_code == 409
        assert not caught.value.details
        assert str(existing.patient.id) not in caught.value.message
        assert "déjà enregistrée" in caught.value.message
        assert db.scalar(select(Patient.id).where(Patient.id != existing.patient.id)) is None

    def test_a_caller_who_already_follows_the_record_is_told_which_one(self, db):
        user = physician(db)
        existing = create(db, user)
        with pytest.raises(service.IdentityExists) as caught:
            create(db, user)
        assert caught.value.details == {"existing_patient_id": str(existing.patient.id)}

    def test_accents_case_and_hyphens_do_not_make_a_second_identity(self, db):
        """Duplicate detection compares normalised traits (patient.rules.normalise_name)."""
        user = physician(db)
        create(db, user, birth_name="Lefèvre-Dupré", given_names="Hélène")
        with pytest.raises(service.IdentityExists):
            create(db, user, birth_name="LEFEVRE DUPRE", given_names="helene")

    def test_an_ins_with_other_traits_reveals_nothing_the_caller_did_not_send(self, db):
        """The INS oracle: an INS alone with wrong traits used to return the record's id and identity status."""
        owner, prober = physician(db), physician(db)
        existing = qualified(db, owner, 0)
        with pytest.raises(service.IdentityExists) as by_ins:
            create(db, prober, 1, **ins_of(0))
        create(db, owner, 2)
        with pytest.raises(service.IdentityExists) as by_traits:
            create(db, prober, 2)
        answer = (by_ins.value.status_code, by_ins.value.code, by_ins.value.message, by_ins.value.details)
        assert answer == (by_traits.value.status_code, by_traits.value.code, by_traits.value.message,
                          by_traits.value.details)
        assert not by_ins.value.details
        assert str(existing.patient.id) not in by_ins.value.message and "QUAL" not in by_ins.value.message
        # Joining with the traits the prober sent is the same NotFound as traits of nobody at all.
        reason = "Patient adressé par le SAMU, dossier nécessaire"
        with pytest.raises(NotFound) as joined:
            service.attach_to_patient(db, actor(db, prober), AttachRequest(**traits(1), reason=reason))
        with pytest.raises(NotFound) as nobody:
            service.attach_to_patient(db, actor(db, prober), AttachRequest(**traits(7), reason=reason))
        assert (joined.value.message, joined.value.details) == (nobody.value.message, nobody.value.details)

    @pytest.mark.parametrize(("insi", "document", "status"), [
        (False, None, "PROV"), (True, None, "RECUP"), (False, "passport", "VALI"), (True, "identity_card", "QUAL"),
    ])
    def test_the_status_follows_the_checks_done(self, db, insi, document, status):
        """status_for: INSi check and high-trust document check (DOMAIN §1.2)."""
        view = create(db, physician(db), **ins_of(0), insi_checked=insi, identity_document=document)
        assert view.patient.identity_status == status

    def test_an_insi_check_without_the_ins_is_refused(self, db):
        with pytest.raises(ValidationFailed, match="INSi"):
            create(db, physician(db), insi_checked=True)

    def test_the_legacy_ins_c_is_refused(self, db):
        with pytest.raises(ValidationFailed, match="INS-C"):
            create(db, physician(db), ins_matricule=IDENTITIES[0].ins.matricule.value, ins_oid="1.2.250.1.213.1.4.2")

    def test_a_birth_date_in_the_future_is_refused_in_french(self, db):
        with pytest.raises(ValidationFailed) as caught:
            create(db, physician(db), birth_date=dt.date.today() + dt.timedelta(days=400))
        assert "futur" in caught.value.message

    def test_a_pharmacist_may_not_create_patients(self, db):
        with pytest.raises(PermissionDenied):
            create(db, make_user(db, "pharmacist"))

    def test_an_unknown_attending_rpps_is_refused(self, db):
        with pytest.raises(ValidationFailed, match="RPPS"):
            create(db, physician(db), attending_rpps=demo_rpps(999_999))


class TestAttachToPatient:
    def test_a_physician_who_knows_the_traits_gets_no_care_relationship(self, db, settings):
        """The attack: a physician with no link to the patient types the five strict traits, is refused as a
        duplicate, then joins. They must end with no access to the record, its consents, curves or alerts."""
        owner, intruder = physician(db), physician(db)
        existing = create(db, owner)
        pid = existing.patient.id
        with pytest.raises(service.IdentityExists) as refused:
            create(db, intruder)
        assert not refused.value.details
        with clock.frozen(dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)) as c:
            view = service.attach_to_patient(db, actor(db, intruder), AttachRequest(**traits(0), reason=REASON),
                                             settings=settings)
            assert view.patient.id == pid
            assert db.scalars(select(CareRelationship).where(CareRelationship.user_id == intruder.id)).all() == []
            c.advance(dt.timedelta(minutes=settings.break_glass_minutes, seconds=1))
            with pytest.raises(NotFound):
                service.get_patient(db, actor(db, intruder), pid)
            with pytest.raises(NotFound):
                consent.consent_history(db, actor(db, intruder), pid)
            for purpose in (Purpose.MONITORING, Purpose.TELEEXPERTISE, Purpose.CARE):
                with pytest.raises(NotFound):
                    authz.access_patient(db, actor(db, intruder), pid, purpose)
            assert pid not in set(db.scalars(authz.accessible_patients(actor(db, intruder))))

    def test_the_exceptional_access_is_reasoned_flagged_and_listed_for_review(self, db, settings):
        owner, requester, admin = physician(db), physician(db), make_user(db, "administrator")
        existing = create(db, owner)
        service.attach_to_patient(db, actor(db, requester), AttachRequest(**traits(0), reason=REASON),
                                  settings=settings)
        assert service.get_patient(db, actor(db, requester), existing.patient.id).patient.id == existing.patient.id
        listed = authz.break_glass_to_review(db, actor(db, admin))
        assert [(a.user_id, a.patient_id, a.ground, a.reason) for a in listed] == [
            (requester.id, existing.patient.id, "identity_attach", REASON)]
        entries = audit_entries(db, patient_id=str(existing.patient.id), actor_id=str(requester.id))
        assert [(e.action, e.break_glass, e.purpose, e.reason) for e in entries] == [
            ("attach", True, "emergency", REASON), ("read", True, "emergency", REASON),
            ("read", True, "emergency", REASON)]

    def test_a_care_act_started_within_the_access_is_what_creates_the_lasting_relationship(self, db, settings):
        """The intended path: the exceptional access lets the physician start a real care act (here a
        tele-expertise request, sent to the line), and that act, not the knowledge of the traits, grants the care
        relationship."""
        from maillage.teleexpertise import service as teleexpertise
        from maillage.teleexpertise.schemas import RequestCreate
        from tests.fixtures.teleexpertise import make_line, professional_user

        owner, gp = physician(db), physician(db)
        existing = create(db, owner)
        line = make_line(db, answering=[professional_user(db, specialty="SM15")], requirements=[])
        with clock.frozen(dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)) as c:
            service.attach_to_patient(db, actor(db, gp), AttachRequest(**traits(0), reason=REASON), settings=settings)
            req = teleexpertise.create_request(db, actor(db, gp), RequestCreate(
                patient_id=existing.patient.id, line_id=line.id, question="Lésion pigmentée évolutive du dos ?"))
            teleexpertise.submit(db, actor(db, gp), req.id, consent_recorded_now=True)
            c.advance(dt.timedelta(minutes=settings.break_glass_minutes, seconds=1))
            assert service.get_patient(db, actor(db, gp), existing.patient.id).patient.id == existing.patient.id
        lasting = db.scalars(select(CareRelationship.kind).where(
            CareRelationship.user_id == gp.id, CareRelationship.ends_at.is_(None))).all()
        assert lasting == ["requester"]

    def test_a_draft_never_sent_does_not_outlive_the_exceptional_access(self, db, settings):
        """The variant attack: join by the traits, write a tele-expertise draft (seen by no one but its author)
        and never send it. The draft is no care act: access ends with the exceptional access, and the draft can
        no longer be sent afterwards."""
        from maillage.teleexpertise import service as teleexpertise
        from maillage.teleexpertise.schemas import RequestCreate
        from tests.fixtures.teleexpertise import make_line, professional_user

        owner, intruder = physician(db), physician(db)
        existing = create(db, owner)
        pid = existing.patient.id
        consent.record_consent(db, actor(db, owner), pid, ConsentCreate(purpose="teleexpertise", decision="consent",
                                                                        source="oral"))
        line = make_line(db, answering=[professional_user(db, specialty="SM15")], requirements=[])
        with clock.frozen(dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)) as c:
            service.attach_to_patient(db, actor(db, intruder), AttachRequest(**traits(0), reason=REASON),
                                      settings=settings)
            req = teleexpertise.create_request(db, actor(db, intruder), RequestCreate(
                patient_id=pid, line_id=line.id, question="Lésion pigmentée évolutive du dos ?"))
            # A second draft, written on the strength of the first draft's (bounded) relationship, is bounded too.
            c.advance(dt.timedelta(minutes=1))
            teleexpertise.create_request(db, actor(db, intruder), RequestCreate(
                patient_id=pid, line_id=line.id, question="Lésion pigmentée évolutive du dos ?"))
            c.advance(dt.timedelta(minutes=settings.break_glass_minutes, seconds=1))
            with pytest.raises(NotFound):
                service.get_patient(db, actor(db, intruder), pid)
            assert pid not in set(db.scalars(authz.accessible_patients(actor(db, intruder))))
            with pytest.raises(NotFound):
                teleexpertise.submit(db, actor(db, intruder), req.id)
            with pytest.raises(NotFound):
                service.get_patient(db, actor(db, intruder), pid)

    @pytest.mark.parametrize("reason", ["", "urgence", "je le connais"])
    def test_a_vague_reason_is_refused_and_nothing_is_opened(self, db, settings, reason):
        owner, requester = physician(db), physician(db)
        create(db, owner)
        with pytest.raises(ValidationFailed, match="Motif"):
            service.attach_to_patient(db, actor(db, requester), AttachRequest.model_construct(
                **traits(0), reason=reason), settings=settings)
        assert authz.break_glass_to_review(db, actor(db, make_user(db, "administrator"))) == []

    def test_a_role_without_exceptional_access_must_go_through_a_care_act(self, db, settings):
        owner, nurse = physician(db), make_user(db, "nurse")
        create(db, owner)
        with pytest.raises(PermissionDenied, match="acte de soins"):
            service.attach_to_patient(db, actor(db, nurse), AttachRequest(**traits(0), reason=REASON),
                                      settings=settings)

    def test_a_merged_record_is_not_joined(self, db, settings):
        officer = make_user(db, "identity_officer")
        owner = physician(db)
        kept = create(db, owner, 0)
        merged = insert_record(db, 0, birthplace="75115")
        vigilance.merge_patients(db, actor(db, officer), kept_id=kept.patient.id, merged_id=merged.id,
                                 reason="Même personne, lieu de naissance mal saisi")
        with pytest.raises(NotFound):
            service.attach_to_patient(db, actor(db, physician(db)), AttachRequest(**traits(0, birthplace="75115"),
                                                                                  reason=REASON), settings=settings)


class TestGetPatient:
    def test_the_matricule_is_masked_below_a_qualified_identity(self, db):
        user = physician(db)
        view = create(db, user, **ins_of(0), insi_checked=True)
        read = service.get_patient(db, actor(db, user), view.patient.id)
        assert read.patient.identity_status == "RECUP"
        assert read.matricule is None and read.matricule_display == views.MASKED_MATRICULE
        assert read.ins["matricule"] is None and read.ins["matricule_shared"] is False

    def test_the_matricule_is_shown_for_a_qualified_identity(self, db):
        user = physician(db)
        view = qualified(db, user)
        read = service.get_patient(db, actor(db, user), view.patient.id)
        assert read.matricule == IDENTITIES[0].ins.matricule.value
        assert read.ins["oid"] == InsOid.TEST.value

    def test_someone_without_a_care_relationship_gets_not_found(self, db):
        view = create(db, physician(db))
        with pytest.raises(NotFound):
            service.get_patient(db, actor(db, physician(db)), view.patient.id)

    def test_the_identity_officer_reads_for_identity_vigilance_only(self, db):
        view = create(db, physician(db))
        officer = make_user(db, "identity_officer")
        with pytest.raises(NotFound):
            service.get_patient(db, actor(db, officer), view.patient.id)
        service.get_patient(db, actor(db, officer), view.patient.id, purpose=Purpose.IDENTITY_VIGILANCE)
        entries = audit_entries(db, patient_id=str(view.patient.id), actor_id=str(officer.id))
        assert [(e.action, e.purpose, e.outcome) for e in entries] == [("read", "identity_vigilance", "success")]

    def test_an_analyst_is_refused_by_role(self, db):
        view = create(db, physician(db))
        with pytest.raises(PermissionDenied):
            service.get_patient(db, actor(db, make_user(db, "analyst")), view.patient.id)


class TestSearchPatients:
    def test_a_search_by_ins_finds_only_the_actors_patients(self, db):
        mine, other = physician(db), physician(db)
        qualified(db, mine, 0)
        qualified(db, other, 1)
        found = service.search_patients(db, actor(db, mine), ins=IDENTITIES[0].ins.matricule.formatted())
        assert [v.patient.birth_name for v in found] == [IDENTITIES[0].traits.birth_name]
        assert service.search_patients(db, actor(db, mine), ins=IDENTITIES[1].ins.matricule.value) == []

    def test_a_search_by_traits_ignores_accents_and_case(self, db):
        user = physician(db)
        create(db, user, birth_name="Lefèvre", given_names="Éloïse")
        found = service.search_patients(db, actor(db, user), name="lefev", given_name="eloi")
        assert len(found) == 1

    def test_a_search_is_audited_with_its_count_and_the_patients_it_returned(self, db):
        user = physician(db)
        view = create(db, user)
        service.search_patients(db, actor(db, user), name=IDENTITIES[0].traits.birth_name)
        entry = audit_entries(db, actor_id=str(user.id), action="search")[-1]
        assert (entry.object_type, entry.purpose) == ("patient", "care")
        assert entry.details == {"count": 1, "patients": 1,
                                 "patients_sha256": audit_rules.list_patients_digest((str(view.patient.id),))}
        assert listed_patients(db, entry) == [str(view.patient.id)]


class TestMyPatients:
    def test_my_patients_is_audited_with_every_patient_it_lists(self, db):
        """The list (also the patient picker of a new tele-expertise request) names each patient it showed."""
        user, other = physician(db), physician(db)
        mine = {str(create(db, user, i).patient.id) for i in (0, 1)}
        create(db, other, 2)
        shown = service.my_patients(db, actor(db, user))
        assert {str(v.patient.id) for v in shown} == mine
        entry = audit_entries(db, actor_id=str(user.id), action="search")[-1]
        assert entry.details is not None and entry.details["patients"] == 2
        assert listed_patients(db, entry) == sorted(mine)

    def test_an_invalid_ins_is_refused_in_french(self, db):
        with pytest.raises(ValidationFailed, match="clé de contrôle"):
            service.search_patients(db, actor(db, physician(db)), ins="295109912611199")

    def test_a_search_without_criteria_is_refused(self, db):
        with pytest.raises(ValidationFailed, match="Recherche"):
            service.search_patients(db, actor(db, physician(db)))


class TestCheckIdentity:
    def test_insi_and_document_checks_qualify_a_provisional_identity(self, db):
        user = physician(db)
        view = create(db, user)
        checked = service.check_identity(db, actor(db, user), view.patient.id,
                                         IdentityCheck(insi_checked=True, identity_document="passport", **ins_of(0)))
        assert checked.patient.identity_status == "QUAL"
        assert checked.matricule == IDENTITIES[0].ins.matricule.value
        entry = audit_entries(db, object_type="patient_identity")[-1]
        assert entry.details == {"from_status": "PROV", "to_status": "QUAL"}

    def test_a_doubtful_identity_cannot_be_qualified(self, db):
        """A doubtful (DOUT) identity stays provisional (patient.rules.check_transition; RNIV)."""
        user = physician(db)
        view = create(db, user)
        officer = actor(db, make_user(db, "identity_officer"))
        service.set_identity_attributes(db, officer, view.patient.id, ["DOUT"])
        with pytest.raises(InvalidTransition):
            service.check_identity(db, actor(db, user), view.patient.id,
                                   IdentityCheck(insi_checked=True, **ins_of(0)))

    def test_flagging_a_qualified_identity_doubtful_makes_it_provisional(self, db):
        view = qualified(db, physician(db))
        officer = actor(db, make_user(db, "identity_officer"))
        flagged = service.set_identity_attributes(db, officer, view.patient.id, ["DOUT"])
        assert (flagged.patient.identity_status, flagged.attributes) == ("PROV", ["DOUT"])
        assert flagged.matricule is None

    def test_a_matricule_carried_by_another_record_is_a_conflict(self, db):
        user = physician(db)
        qualified(db, user, 0)
        view = create(db, user, 1)
        with pytest.raises(Exception, match="déjà porté"):
            service.check_identity(db, actor(db, user), view.patient.id,
                                   IdentityCheck(insi_checked=True, **ins_of(0)))


class TestConsents:
    def test_the_history_is_kept_and_the_latest_choice_wins(self, db):
        user = physician(db)
        view = create(db, user)
        a = actor(db, user)
        consent.record_consent(db, a, view.patient.id, ConsentCreate(purpose="teleexpertise", decision="consent"))
        consent.record_consent(db, a, view.patient.id, ConsentCreate(purpose="teleexpertise", decision="objection",
                                                                     source="written"))
        history = consent.consent_history(db, a, view.patient.id)
        assert [c.decision for c in history] == ["objection", "consent"]
        assert all(c.recorded_by == user.id for c in history)
        states = {s.purpose.value: s for s in consent.consent_states(history)}
        assert states["teleexpertise"].label == "Opposition enregistrée"
        assert states["data_reuse"].label == "Pas d'opposition"
        assert states["telesurveillance"].label == "Non recueilli"

    def test_an_unknown_purpose_is_refused(self, db):
        user = physician(db)
        view = create(db, user)
        with pytest.raises(ValidationFailed):
            consent.record_consent(db, actor(db, user), view.patient.id,
                                   ConsentCreate(purpose="marketing", decision="consent"))

    def test_objects_to_data_reuse_lists_the_patients_whose_latest_choice_is_an_objection(self, db):
        user = physician(db)
        a = actor(db, user)
        objecting, changed_mind, silent = (create(db, user, i).patient.id for i in range(3))
        consent.record_consent(db, a, objecting, ConsentCreate(purpose="data_reuse", decision="objection"))
        consent.record_consent(db, a, changed_mind, ConsentCreate(purpose="data_reuse", decision="objection"))
        latest = consent.record_consent(db, a, changed_mind, ConsentCreate(purpose="data_reuse", decision="consent"))
        latest.recorded_at = latest.recorded_at + dt.timedelta(seconds=1)
        db.flush()
        excluded = consent.objects_to_data_reuse(db)
        assert objecting in excluded and changed_mind not in excluded and silent not in excluded

    def test_an_objection_on_a_merged_record_excludes_the_whole_person(self, db):
        user = physician(db)
        kept = create(db, user, 0)
        twin = insert_record(db, 0, birth_name=traits(0)["birth_name"].title())
        db.add(PatientConsent(patient_id=twin.id, purpose="data_reuse", decision="objection", source="oral"))
        db.flush()
        officer = actor(db, make_user(db, "identity_officer"))
        vigilance.merge_patients(db, officer, kept_id=kept.patient.id, merged_id=twin.id, reason="Même personne")
        assert {kept.patient.id, twin.id} <= consent.objects_to_data_reuse(db)

    def test_has_consent_reads_the_latest_choice(self, db):
        user = physician(db)
        view = create(db, user)
        from maillage.patient.schemas import ConsentPurpose

        assert not consent.has_consent(db, view.patient.id, ConsentPurpose.TELECONSULTATION)
        consent.record_consent(db, actor(db, user), view.patient.id,
                               ConsentCreate(purpose="teleconsultation", decision="consent"))
        assert consent.has_consent(db, view.patient.id, ConsentPurpose.TELECONSULTATION)


class TestPotentialDuplicates:
    def test_same_traits_typed_twice_are_listed_for_the_identity_officer(self, db):
        first = insert_record(db, 0)
        second = insert_record(db, 0, birth_name=traits(0)["birth_name"].lower())
        officer = actor(db, make_user(db, "identity_officer"))
        pairs = vigilance.potential_duplicates(db, officer)
        assert [({p.first.patient.id, p.second.patient.id}, p.reason) for p in pairs] == [
            ({first.id, second.id}, "same_traits")]
        entry = audit_entries(db, actor_id=str(officer.user_id), action="search")[-1]
        assert entry.purpose == "identity_vigilance"
        assert entry.details is not None and (entry.details["count"], entry.details["patients"]) == (2, 2)
        assert listed_patients(db, entry) == sorted([str(first.id), str(second.id)])

    def test_a_one_letter_slip_in_the_birth_name_is_a_close_pair(self, db):
        name = traits(1)["birth_name"]
        insert_record(db, 1)
        insert_record(db, 1, birth_name=name[:-1] + ("Z" if name[-1] != "Z" else "Y"))
        pairs = vigilance.potential_duplicates(db, actor(db, make_user(db, "identity_officer")))
        assert [(p.reason, p.differing) for p in pairs] == [("close_traits", ["birth_name"])]

    def test_people_born_the_same_day_with_other_names_are_not_listed(self, db):
        insert_record(db, 2)
        insert_record(db, 3, birth_date=traits(2)["birth_date"])
        assert vigilance.potential_duplicates(db, actor(db, make_user(db, "identity_officer"))) == []

    def test_a_pair_declared_distinct_leaves_the_worklist_and_is_flagged_homonym(self, db):
        a, b = insert_record(db, 0), insert_record(db, 0, birth_name=traits(0)["birth_name"].lower())
        officer = actor(db, make_user(db, "identity_officer"))
        vigilance.mark_distinct(db, officer, a.id, b.id)
        assert vigilance.potential_duplicates(db, officer) == []
        assert "HOMD" in db.get(Patient, a.id).identity_attributes

    def test_only_the_identity_officer_sees_the_worklist(self, db):
        with pytest.raises(PermissionDenied):
            vigilance.potential_duplicates(db, actor(db, physician(db)))


class TestMergeAndUnmerge:
    def test_a_merge_points_the_duplicate_to_the_kept_record_and_extends_its_care_relationships(self, db):
        owner, nurse = physician(db), make_user(db, "nurse")
        kept = qualified(db, owner, 0)
        twin = insert_record(db, 0, birth_name=traits(0)["birth_name"].title())
        authz.grant_relationship(db, user_id=nurse.id, patient_id=twin.id, kind="care_unit")
        officer = actor(db, make_user(db, "identity_officer"))
        merge = vigilance.merge_patients(db, officer, kept_id=kept.patient.id, merged_id=twin.id,
                                         reason="Même personne, traits vérifiés")
        assert db.get(Patient, twin.id).merged_into_id == kept.patient.id
        assert merge.relationships_copied == 1
        assert service.get_patient(db, actor(db, nurse), kept.patient.id).patient.id == kept.patient.id
        entries = audit_entries(db, actor_id=str(officer.user_id))
        assert {(e.action, e.patient_id) for e in entries} >= {
            ("merge", str(kept.patient.id)), ("merge", str(twin.id))}
        assert any(e.object_type == "identity_merge" and e.details["merged_patient_id"] == str(twin.id)
                   for e in entries)

    def test_undoing_a_merge_restores_both_records_and_ends_the_extended_relationships(self, db):
        owner, nurse = physician(db), make_user(db, "nurse")
        kept = qualified(db, owner, 0)
        twin = insert_record(db, 0, birth_name=traits(0)["birth_name"].title())
        authz.grant_relationship(db, user_id=nurse.id, patient_id=twin.id, kind="care_unit")
        officer = actor(db, make_user(db, "identity_officer"))
        merge = vigilance.merge_patients(db, officer, kept_id=kept.patient.id, merged_id=twin.id,
                                         reason="Même personne")
        undone = vigilance.unmerge_patients(db, officer, merge.id, "Erreur : jumeaux")
        assert undone.unmerged_at is not None and undone.unmerge_reason == "Erreur : jumeaux"
        assert db.get(Patient, twin.id).merged_into_id is None
        with pytest.raises(NotFound):
            service.get_patient(db, actor(db, nurse), kept.patient.id)
        assert service.get_patient(db, actor(db, nurse), twin.id).patient.id == twin.id
        assert "unmerge" in [e.action for e in audit_entries(db, object_type="identity_merge")]

    def test_a_merge_cannot_be_undone_twice(self, db):
        kept = create(db, physician(db), 0)
        twin = insert_record(db, 0, birth_name=traits(0)["birth_name"].title())
        officer = actor(db, make_user(db, "identity_officer"))
        merge = vigilance.merge_patients(db, officer, kept_id=kept.patient.id, merged_id=twin.id,
                                         reason="Même personne")
        vigilance.unmerge_patients(db, officer, merge.id, "Annulation")
        with pytest.raises(Exception, match="déjà été annulée"):
            vigilance.unmerge_patients(db, officer, merge.id, "Annulation")

    def test_the_less_reliable_record_may_not_be_kept(self, db):
        qual = qualified(db, physician(db), 0)
        twin = insert_record(db, 0, birth_name=traits(0)["birth_name"].title())
        officer = actor(db, make_user(db, "identity_officer"))
        with pytest.raises(ValidationFailed, match="plus fiable"):
            vigilance.merge_patients(db, officer, kept_id=twin.id, merged_id=qual.patient.id, reason="Même personne")

    def test_a_merged_record_cannot_be_changed_any_more(self, db):
        owner = physician(db)
        kept = create(db, owner, 0)
        twin = create(db, owner, 1)
        officer = actor(db, make_user(db, "identity_officer"))
        vigilance.merge_patients(db, officer, kept_id=kept.patient.id, merged_id=twin.patient.id,
                                 reason="Même personne")
        with pytest.raises(Exception, match="fusionné"):
            consent.record_consent(db, actor(db, owner), twin.patient.id,
                                   ConsentCreate(purpose="teleexpertise", decision="consent"))

    def test_only_the_identity_officer_merges(self, db):
        owner = physician(db)
        a, b = create(db, owner, 0), create(db, owner, 1)
        with pytest.raises(PermissionDenied):
            vigilance.merge_patients(db, actor(db, owner), kept_id=a.patient.id, merged_id=b.patient.id, reason="x" * 9)


class TestUpdatePatient:
    def test_contact_residence_and_attending_physician_change_without_touching_identity(self, db):
        owner = physician(db)
        view = create(db, owner)
        gp = directory.professional_of_user(db, owner.id)
        updated = service.update_patient(db, actor(db, owner), view.patient.id, SimpleNamespace(
            model_fields_set={"phone", "commune_insee", "attending_professional_id", "used_name"}, phone="0600000000",
            commune_insee="87085", attending_professional_id=gp.id, attending_rpps=None, used_name="Durand-Martin"))
        assert (updated.patient.phone, updated.commune_name, updated.attending.id) == ("0600000000", "Limoges", gp.id)
        assert updated.patient.duplicate_key == view.patient.duplicate_key

    def test_an_unknown_commune_is_refused(self, db):
        owner = physician(db)
        view = create(db, owner)
        with pytest.raises(ValidationFailed, match="commune"):
            service.update_patient(db, actor(db, owner), view.patient.id, SimpleNamespace(
                model_fields_set={"commune_insee"}, commune_insee="99999"))
