"""Tele-expertise use cases on SQLite and PostgreSQL: draft → submit → claim/assign/hand back/transfer → ask/reply →
answer (admission, acts) or decline, with the timeline, the audit trail and the care relationships.

Sources: DOMAIN.md §4 (HAS workflow: consent, the requis decides, traceability), §2.3 (TE2/RQD, yearly cap).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from maillage.exceptions import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import frozen
from maillage.models.audit import AuditEntry, AuditEntryPatient
from maillage.models.authz import CareRelationship
from maillage.models.patient import Patient
from maillage.models.teleexpertise import TeleexpertiseAct, TeleexpertiseRequest
from maillage.patient import consent
from maillage.patient.schemas import ConsentPurpose
from maillage.teleexpertise import service
from maillage.teleexpertise.schemas import AdmissionUpdate, MessageIn, OpinionIn, RequestCreate
from tests.conftest import postgresql_only
from tests.fixtures.factories import make_user
from tests.fixtures.scratch import scratch_postgres_engine
from tests.fixtures.teleexpertise import OPINION, T0, actor, claimed, draft, submitted, world


def audit_actions(db: Any, request_id: uuid.UUID) -> list[str]:
    """Audit entries are written when the unit of work commits (here, a savepoint of the test's transaction)."""
    db.commit()
    rows = db.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(request_id))
                      .order_by(AuditEntry.occurred_at))
    return list(rows)


def relationship_kinds(db: Any, request_id: uuid.UUID, user_id: uuid.UUID, *, current: bool = True) -> list[str]:
    stmt = select(CareRelationship.kind).where(CareRelationship.source_id == str(request_id),
                                               CareRelationship.user_id == user_id)
    if current:
        stmt = stmt.where(CareRelationship.ends_at.is_(None))
    return list(db.scalars(stmt))




# --- Tests ---------------------------------------------------------------------------------------------------------


class TestCreateRequest:
    def test_a_requester_caring_for_the_patient_opens_a_draft_and_becomes_its_requester(self, db):
        w = world(db)
        req = draft(db, w)
        assert req.status == "draft" and req.requester_id == w.requester.id
        assert relationship_kinds(db, req.id, w.requester.id) == ["requester"]

    def test_a_patient_the_requester_does_not_care_for_is_not_found(self, db):
        w = world(db)
        with pytest.raises(NotFound):
            service.create_request(db, w.a(db, w.outsider), RequestCreate(
                patient_id=w.patient_id, line_id=w.line.id, question="Question de test suffisante"))

    def test_an_urgency_the_line_does_not_offer_is_refused_in_french(self, db):
        w = world(db)
        with pytest.raises(ValidationFailed, match="ne prend pas"):
            draft(db, w, urgency="very_urgent")

    def test_a_named_specialist_must_answer_the_line(self, db):
        w = world(db)
        with pytest.raises(ValidationFailed, match="ne répond pas"):
            draft(db, w, named_professional_id=w.outsider.person_id)

    def test_an_analyst_may_not_request(self, db):
        w = world(db)
        with pytest.raises(PermissionDenied):
            service.create_request(db, actor(db, make_user(db, "analyst")), RequestCreate(
                patient_id=w.patient_id, line_id=w.line.id))


class TestSubmit:
    def test_what_the_line_requires_is_listed_in_french_and_nothing_changes(self, db):
        """HAS §4: the request carries the data the requis needs; consent is mandatory."""
        w = world(db, requirements=["photo", "treatment_list"])
        req = draft(db, w, question="court")
        with pytest.raises(ValidationFailed) as failed:
            service.submit(db, w.a(db, w.requester), req.id)
        fields = [d["field"] for d in failed.value.details]
        assert fields == ["question", "photos", "provided", "consent"]
        assert "Liste des traitements" in failed.value.details[2]["message"]
        assert req.status == "draft"

    def test_a_complete_request_goes_to_the_pool_with_its_due_time_and_the_consent_recorded(self, db):
        with frozen(T0):
            w = world(db)
            req = submitted(db, w)
        assert (req.status, req.assignee_id, req.committed_minutes) == ("published", None, 48 * 60)
        assert req.due_at == T0 + dt.timedelta(hours=48)
        assert consent.has_consent(db, w.patient_id, ConsentPurpose.TELEEXPERTISE)
        assert "submit" in audit_actions(db, req.id)

    def test_a_consent_already_on_file_is_enough(self, db):
        w = world(db, requirements=[])
        first = draft(db, w)
        service.submit(db, w.a(db, w.requester), first.id, consent_recorded_now=True)
        second = draft(db, w)
        assert service.submit(db, w.a(db, w.requester), second.id).status == "published"

    def test_only_the_requester_submits_and_the_line_does_not_even_see_the_draft(self, db):
        w = world(db, requirements=[])
        req = draft(db, w)
        with pytest.raises(NotFound):
            service.submit(db, w.a(db, w.expert), req.id, consent_recorded_now=True)


class TestClaim:
    def test_a_specialist_of_the_line_takes_the_request_and_becomes_its_expert(self, db):
        w = world(db)
        req = claimed(db, w)
        assert (req.status, req.assignee_id) == ("in_progress", w.expert.id)
        assert relationship_kinds(db, req.id, w.expert.id) == ["expert"]

    def test_a_second_claim_is_a_conflict(self, db):
        w = world(db)
        req = claimed(db, w)
        with pytest.raises(Conflict):
            service.claim(db, w.a(db, w.colleague), req.id)

    def test_a_specialist_of_another_line_does_not_see_the_request(self, db):
        w = world(db)
        req = submitted(db, w)
        with pytest.raises(NotFound):
            service.claim(db, w.a(db, w.outsider), req.id)

    def test_a_request_named_to_a_colleague_cannot_be_taken(self, db):
        w = world(db)
        req = submitted(db, w, named_professional_id=w.colleague.person_id)
        with pytest.raises(PermissionDenied):
            service.claim(db, w.a(db, w.expert), req.id)
        assert service.claim(db, w.a(db, w.colleague), req.id).assignee_id == w.colleague.id

    def test_a_stale_copy_loses_against_a_claim_already_made(self, db):
        """The conditional UPDATE on status, version and assignee: the loser changes nothing."""
        w = world(db)
        req = submitted(db, w)
        from maillage.teleexpertise import repository as repo
        stale_version = req.version
        service.claim(db, w.a(db, w.expert), req.id)
        req.version = stale_version
        req.status = "published"
        assert not repo.transition(db, req, expect_status="published", check_assignee=True, assignee=None,
                                   values={"assignee_id": w.colleague.id})
        assert req.assignee_id == w.expert.id


class TestAssignHandBackTransfer:
    def test_a_coordinator_of_the_line_assigns_and_a_reassignment_moves_the_relationship(self, db):
        w = world(db)
        req = claimed(db, w)
        service.assign(db, w.a(db, w.backup), req.id, w.colleague.person_id)
        assert req.assignee_id == w.colleague.id
        assert relationship_kinds(db, req.id, w.expert.id) == []
        assert relationship_kinds(db, req.id, w.colleague.id) == ["expert"]

    def test_a_hand_back_needs_a_reason_and_returns_the_request_to_the_pool(self, db):
        w = world(db)
        req = claimed(db, w)
        with pytest.raises(ValidationFailed, match="motif"):
            service.hand_back(db, w.a(db, w.expert), req.id, "  ")
        service.hand_back(db, w.a(db, w.expert), req.id, "Absent demain, je remets dans la file")
        assert (req.status, req.assignee_id) == ("published", None)
        events = service.get_request(db, w.a(db, w.requester), req.id).events
        assert events[-1].action == "hand_back" and events[-1].reason.startswith("Absent")

    def test_a_transfer_goes_to_a_colleague_of_the_line_with_its_reason(self, db):
        w = world(db)
        req = claimed(db, w)
        service.transfer(db, w.a(db, w.expert), req.id, w.colleague.person_id, "Relève plus compétente")
        assert req.assignee_id == w.colleague.id and req.status == "in_progress"

    def test_only_the_assignee_transfers(self, db):
        w = world(db)
        req = claimed(db, w)
        with pytest.raises(PermissionDenied):
            service.transfer(db, w.a(db, w.colleague), req.id, w.colleague.person_id, "Je la prends")


class TestAskAndReply:
    def test_a_question_pauses_the_due_time_until_the_reply(self, db):
        """rules.due_at: the clock stops while the question waits for the requester."""
        with frozen(T0) as clock:
            w = world(db)
            req = claimed(db, w)
            clock.advance(dt.timedelta(hours=1))
            service.ask(db, w.a(db, w.expert), req.id, MessageIn(body="Depuis quand la lésion évolue-t-elle ?"))
            assert req.status == "awaiting_information"
            clock.advance(dt.timedelta(hours=5))
            service.reply(db, w.a(db, w.requester), req.id, MessageIn(body="Trois mois environ."))
        assert req.status == "in_progress"
        assert req.due_at == T0 + dt.timedelta(hours=48 + 5)
        detail = service.get_request(db, w.a(db, w.expert), req.id)
        assert [m.kind for m in detail.messages] == ["question", "reply"]
        assert detail.messages[0].answered_at is not None

    def test_the_requester_cannot_reply_without_a_question(self, db):
        w = world(db)
        req = claimed(db, w)
        with pytest.raises(InvalidTransition):
            service.reply(db, w.a(db, w.requester), req.id, MessageIn(body="Information spontanée"))


class TestAnswer:
    def test_an_incomplete_opinion_is_refused_field_by_field(self, db):
        w = world(db)
        req = claimed(db, w)
        with pytest.raises(ValidationFailed) as failed:
            service.answer(db, w.a(db, w.expert), req.id, OpinionIn(answer="ok", orientation="consultation"))
        assert [d["field"] for d in failed.value.details] == ["answer", "delay_days"]
        assert req.status == "in_progress"

    def test_a_signed_transfer_opens_an_admission_and_records_te2_and_rqd_at_the_act_date(self, db):
        """DOMAIN.md §2.3: TE2 23 € from 1 Jan 2026, RQD 10 €, priced at the act's date."""
        with frozen(T0):
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OpinionIn(
                answer="Mélanome probable : transfert en dermatologie.", orientation="urgent_transfer"))
        detail = service.get_request(db, w.a(db, w.requester), req.id)
        assert (req.status, req.signed_by, req.orientation) == ("completed", w.expert.id, "urgent_transfer")
        assert detail.admission is not None and detail.admission.status == "requested"
        assert [(a.code, a.amount, a.billable, a.act_date) for a in detail.acts] == [
            ("TE2", Decimal("23.00"), True, T0.date()), ("RQD", Decimal("10.00"), True, T0.date())]
        assert detail.acts[0].professional_user_id == w.expert.id

    def test_an_act_in_2025_is_priced_at_20_euros(self, db):
        with frozen(dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC)):
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OPINION)
        assert service.get_request(db, w.a(db, w.expert), req.id).acts[0].amount == Decimal("20.00")

    def test_an_inpatient_s_acts_are_recorded_but_not_billable(self, db):
        w = world(db)
        req = claimed(db, w, patient_inpatient=True)
        service.answer(db, w.a(db, w.expert), req.id, OPINION)
        acts = service.get_request(db, w.a(db, w.expert), req.id).acts
        assert [a.billable for a in acts] == [False, False] and "hospitalisé" in acts[0].reason

    def test_the_yearly_cap_per_patient_per_specialist_stops_billing(self, db, settings):
        w = world(db)
        capped = settings.model_copy(update={"teleexpertise_yearly_cap": 1})
        first = claimed(db, w)
        service.answer(db, w.a(db, w.expert), first.id, OPINION, settings=capped)
        second = claimed(db, w)
        service.answer(db, w.a(db, w.expert), second.id, OPINION, settings=capped)
        te2 = db.scalars(select(TeleexpertiseAct).where(TeleexpertiseAct.code == "TE2",
                                                        TeleexpertiseAct.patient_id == w.patient_id)
                         .order_by(TeleexpertiseAct.created_at)).all()
        assert [a.billable for a in te2] == [True, False] and "Plafond" in te2[1].reason

    def test_recording_the_acts_twice_adds_nothing(self, db):
        w = world(db)
        req = claimed(db, w)
        service.answer(db, w.a(db, w.expert), req.id, OPINION)
        assert len(service.record_acts(db, req)) == 2
        assert db.scalar(select(TeleexpertiseAct.id).where(TeleexpertiseAct.request_id == req.id).limit(1))


class TestDeclineAndCancel:
    def test_the_line_declines_with_a_reason_the_requester_sees(self, db):
        w = world(db)
        req = submitted(db, w)
        service.decline(db, w.a(db, w.colleague), req.id, "Urgence vitale : appelez le 15.")
        detail = service.get_request(db, w.a(db, w.requester), req.id)
        assert (detail.request.status, detail.request.closing_reason) == ("declined", "Urgence vitale : appelez le 15.")

    def test_the_requester_cancels_with_a_reason(self, db):
        w = world(db)
        req = submitted(db, w)
        service.cancel(db, w.a(db, w.requester), req.id, "Patient vu en consultation")
        assert req.status == "cancelled" and req.closed_at is not None


class TestUpdateAdmission:
    def test_the_line_accepts_with_a_date_then_records_the_arrival(self, db):
        w = world(db)
        req = claimed(db, w)
        service.answer(db, w.a(db, w.expert), req.id, OpinionIn(answer="Hospitalisation programmée utile.",
                                                                 orientation="scheduled_hospitalisation"))
        with pytest.raises(ValidationFailed, match="date"):
            service.update_admission(db, w.a(db, w.expert), req.id, AdmissionUpdate(status="accepted"))
        when = T0 + dt.timedelta(days=3)
        service.update_admission(db, w.a(db, w.expert), req.id, AdmissionUpdate(status="accepted", planned_at=when))
        admission = service.update_admission(db, w.a(db, w.expert), req.id, AdmissionUpdate(status="arrived"))
        assert admission.status == "arrived"
        with pytest.raises(InvalidTransition):
            service.update_admission(db, w.a(db, w.expert), req.id, AdmissionUpdate(status="refused", reason="x" * 9))


class TestGetRequest:
    def test_the_timeline_and_audit_trail_hold_every_step(self, db):
        w = world(db)
        req = claimed(db, w)
        service.answer(db, w.a(db, w.expert), req.id, OPINION)
        detail = service.get_request(db, w.a(db, w.requester), req.id)
        assert [e.action for e in detail.events] == ["create", "attach", "submit", "claim", "answer"]
        assert {"create", "submit", "claim", "answer", "read"} <= set(audit_actions(db, req.id))

    def test_someone_outside_the_request_gets_not_found(self, db):
        w = world(db)
        req = submitted(db, w)
        with pytest.raises(NotFound):
            service.get_request(db, w.a(db, w.outsider), req.id)
        with pytest.raises(NotFound):
            service.get_request(db, w.a(db, w.expert), uuid.uuid4())

    def test_a_draft_is_its_authors_alone_even_for_the_line_and_the_named_expert(self, db):
        """Until it is sent, a draft is out of scope for the line's staff (404, like a missing request)."""
        w = world(db)
        req = draft(db, w, named_professional_id=w.colleague.person_id)
        for someone in (w.expert, w.colleague, w.backup):
            with pytest.raises(NotFound):
                service.get_request(db, w.a(db, someone), req.id)
        assert service.get_request(db, w.a(db, w.requester), req.id).request.id == req.id


class TestWorklist:
    def test_the_line_s_open_requests_come_by_urgency_then_due_time(self, db):
        with frozen(T0) as clock:
            w = world(db)
            routine = submitted(db, w)
            clock.advance(dt.timedelta(hours=1))
            urgent = submitted(db, w, urgency="urgent")
        rows = service.worklist(db, w.a(db, w.expert), w.line.id, limit=10, offset=0)
        assert [r.id for r in rows] == [urgent.id, routine.id]
        db.commit()
        mine = (AuditEntry.actor_id == str(w.expert.id), AuditEntry.action == "search")
        entry = db.scalars(select(AuditEntry).where(*mine).order_by(AuditEntry.seq.desc())).first()
        assert entry is not None and entry.details is not None and entry.details["patients"] == len(
            {urgent.patient_id, routine.patient_id})
        listed = db.scalars(select(AuditEntryPatient.patient_id).where(AuditEntryPatient.entry_id == entry.id)).all()
        assert sorted(listed) == sorted({str(urgent.patient_id), str(routine.patient_id)})

    def test_another_line_s_worklist_is_not_found(self, db):
        w = world(db)
        with pytest.raises(NotFound):
            service.worklist(db, w.a(db, w.outsider), w.line.id, limit=10, offset=0)

    def test_my_requests_lists_the_requester_s_own(self, db):
        w = world(db)
        req = draft(db, w)
        assert [r.id for r in service.my_requests(db, w.a(db, w.requester), limit=10, offset=0)] == [req.id]
        assert service.my_requests(db, w.a(db, w.expert), limit=10, offset=0) == []


@pytest.fixture
def scratch_postgres(backend: str) -> Any:
    """A freshly migrated PostgreSQL database of its own, dropped afterwards: the concurrency test commits for real
    and must leave nothing in the shared test database."""
    assert backend == "postgresql"  # concurrent writers need PostgreSQL (SQLite serialises the whole database)
    yield from scratch_postgres_engine("claims")


class TestConcurrentClaims:
    @postgresql_only
    def test_of_two_concurrent_claims_exactly_one_wins(self, scratch_postgres):
        """Two sessions claim the same published request at once: one wins, the other gets Conflict."""
        from sqlalchemy.orm import sessionmaker

        from maillage.models.teleexpertise import TeleexpertiseRequest

        make = sessionmaker(bind=scratch_postgres, expire_on_commit=False)
        with make() as setup:
            w = world(setup, requirements=[])
            req = draft(setup, w)
            service.submit(setup, w.a(setup, w.requester), req.id, consent_recorded_now=True)
            setup.commit()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def run(user: Any) -> None:
            with make() as s:
                a = actor(s, s.merge(user))
                barrier.wait()
                try:
                    service.claim(s, a, req.id)
                    s.commit()
                    outcomes.append("won")
                except Conflict:
                    s.rollback()
                    outcomes.append("conflict")

        threads = [threading.Thread(target=run, args=(u,)) for u in (w.expert, w.colleague)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "won"]
        with make() as s:
            row = s.get(TeleexpertiseRequest, req.id)
            assert row is not None and row.status == "in_progress"
            assert row.assignee_id in (w.expert.id, w.colleague.id)


class TestCompteRendu:
    def test_the_pdf_holds_the_patient_the_professionals_the_date_and_the_opinion(self, db):
        """CSP R6316-4 / NGAP art. 14.9.4: compte rendu with identities, date and time, opinion."""
        import io as _io

        from pypdf import PdfReader

        with frozen(T0):
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OPINION)
            pdf = service.compte_rendu(db, w.a(db, w.requester), req.id)
        text = " ".join(page.extract_text() for page in PdfReader(_io.BytesIO(pdf)).pages)
        assert pdf.startswith(b"%PDF")
        assert "Compte rendu de téléexpertise" in text and "Naevus atypique" in text
        assert w.expert.display_name in text and "02/03/2026 à 09:00" in text
        assert "TE2 — 23,00 € — 02/03/2026 — facturable" in text and "RQD — 10,00 € — 02/03/2026" in text
        assert "EUR" not in text
        born = "Née le" if db.get(Patient, req.patient_id).sex == "F" else "Né le"
        assert born in text and "né(e)" not in text, "the birth line agrees with the known sex"

    def test_the_pdf_states_the_banner_s_facts_agreed_with_the_sex(self, db):
        """The same facts as the pages' patient banner: "Née le"/"Né le", age, sex, INS status, médecin traitant."""
        import io as _io

        from pypdf import PdfReader

        from maillage.patient import service as patients

        with frozen(T0):
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OPINION)
            pdf = service.compte_rendu(db, w.a(db, w.requester), req.id)
            view = patients.get_patient(db, w.a(db, w.requester), w.patient_id)
            born, age = view.born_label, view.age_label
        text = " ".join(" ".join(page.extract_text() for page in PdfReader(_io.BytesIO(pdf)).pages).split())
        assert f"{born} : {view.patient.birth_date.strftime('%d/%m/%Y')} ({age})" in text
        assert view.sex_label in text and view.identity_status_label in text and "Médecin traitant" in text
        assert "né(e)" not in text

    def test_every_french_character_and_the_euro_sign_print_as_typed(self, db):
        """The standard PDF fonts are Latin-1: the embedded DejaVu Sans prints œ, ’, « », the euro sign and more."""
        import io as _io

        from pypdf import PdfReader

        from maillage.teleexpertise.schemas import OpinionIn

        answer = "Œdème du cœur : l’exérèse « conseillée » coûte 23,00 € ; dose ≥ 2 µg."
        with frozen(T0):
            w = world(db)
            req = claimed(db, w)
            service.answer(db, w.a(db, w.expert), req.id, OpinionIn(answer=answer, orientation="advice_only"))
            pdf = service.compte_rendu(db, w.a(db, w.requester), req.id)
        reader = PdfReader(_io.BytesIO(pdf))
        text = " ".join(page.extract_text() for page in reader.pages)
        assert answer in text
        fonts = {str(f["/BaseFont"]) for page in reader.pages for f in page["/Resources"]["/Font"].values()}
        assert fonts and all("DejaVuSans" in f for f in fonts)

    def test_there_is_no_compte_rendu_before_the_opinion(self, db):
        w = world(db)
        req = claimed(db, w)
        with pytest.raises(Conflict):
            service.compte_rendu(db, w.a(db, w.requester), req.id)

    def test_a_line_member_who_did_not_answer_may_not_export_it(self, db):
        w = world(db)
        req = claimed(db, w)
        service.answer(db, w.a(db, w.expert), req.id, OPINION)
        with pytest.raises(PermissionDenied):
            service.compte_rendu(db, w.a(db, w.colleague), req.id)


class TestDeclaredItemsAreCodes:
    """Issue 15: ``provided`` is stored in clear (a JSON list of codes); free text there would escape the sealing."""

    def test_free_text_among_the_declared_items_is_refused_and_nothing_is_created(self, db):
        w = world(db)
        with pytest.raises(ValidationFailed) as refused:
            draft(db, w, provided=["ecg", "Patient VIH+, sous trithérapie"])
        assert refused.value.details[0]["field"] == "provided"
        assert db.scalar(select(func.count()).select_from(TeleexpertiseRequest)) == 0

    def test_known_codes_are_kept(self, db):
        w = world(db)
        assert draft(db, w, provided=["treatment_list", "ecg"]).provided == ["ecg", "treatment_list"]
