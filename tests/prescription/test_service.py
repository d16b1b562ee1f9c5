"""Prescribing, signing, cancelling and dispensing (maillage.prescription.service), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select, update

from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import frozen, now
from maillage.models.audit import AuditEntry
from maillage.models.prescription import Prescription, PrescriptionLine
from maillage.patient import allergy
from maillage.prescription import rules, service, signing
from maillage.prescription.rules import Outcome, Status
from maillage.prescription.service import DispenseEntry
from tests.conftest import run_migrations
from tests.fixtures.patients import actor as make_actor
from tests.fixtures.prescription import dermoval, doxycycline_dci, levothyrox, rx_world, signed


@pytest.fixture
def w(db):
    return rx_world(db)


class TestCreateDraft:
    def test_a_draft_takes_the_drug_names_from_the_base_and_is_audited(self, db, w):
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [dermoval(), doxycycline_dci()])
        view = service.view(db, w.a(db, w.prescriber), draft.id)
        assert view.status is Status.DRAFT and view.prescription.number is None
        assert [line.line.label for line in view.lines] == ["DERMOVAL 0,05 %, crème", "Doxycycline 100 mg, comprimé"]
        db.commit()  # audit entries are written with their transaction
        assert db.scalar(select(AuditEntry.action).where(AuditEntry.object_id == str(draft.id))) == "create"

    def test_a_pharmacist_may_not_prescribe(self, db, w):
        with pytest.raises(PermissionDenied):
            service.create_draft(db, w.a(db, w.pharmacist), w.patient_id, [dermoval()])

    def test_a_physician_who_does_not_follow_the_patient_gets_404(self, db, w):
        with pytest.raises(NotFound):
            service.create_draft(db, w.a(db, w.outsider), w.patient_id, [dermoval()])

    def test_a_drug_missing_from_the_base_is_refused_in_french(self, db, w):
        with pytest.raises(Exception, match="pas dans la base des médicaments"):
            service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [dermoval(cis="69999999")])

    def test_an_empty_prescription_is_refused(self, db, w):
        with pytest.raises(ValidationFailed, match="au moins une ligne"):
            service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [])


class TestChecks:
    def test_the_same_substance_twice_and_the_notices_are_shown_before_signing(self, db, w):
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id,
                                     [dermoval(), dermoval(cis="60000066"), levothyrox()])
        warnings = service.view(db, w.a(db, w.prescriber), draft.id).warnings
        assert any("Lignes 1 et 2 : la même substance (PROPIONATE DE CLOBÉTASOL)" in x for x in warnings)
        assert any(x.startswith("LÉVOTHYROX 100 microgrammes, comprimé sécable : Lévothyroxine") for x in warnings)


class TestAllergyChecks:
    def allergic(self, db, w, substance, reaction=None, code=None):
        allergy.record_allergy(db, w.a(db, w.prescriber), w.patient_id, allergy.AllergyIn(
            substance=substance, reaction=reaction, substance_code=code, criticality="high"))

    def test_a_speciality_whose_composition_holds_the_substance_warns_with_the_reaction(self, db, w):
        self.allergic(db, w, "clobétasol", reaction="eczéma de contact")
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [levothyrox(), dermoval()])
        warnings = service.view(db, w.a(db, w.prescriber), draft.id).warnings
        assert "Ligne 2 : allergie connue du patient à clobétasol (eczéma de contact)." in warnings
        assert not any(x.startswith("Ligne 1 : allergie") for x in warnings)

    def test_a_speciality_warns_by_the_substance_code_chosen_from_the_base(self, db, w):
        self.allergic(db, w, "Lévothyroxine", code="04310")
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [levothyrox()])
        warnings = service.view(db, w.a(db, w.prescriber), draft.id).warnings
        assert "Ligne 1 : allergie connue du patient à Lévothyroxine." in warnings

    def test_a_substance_line_warns_by_its_label_case_and_accents_aside(self, db, w):
        self.allergic(db, w, "DOXYCYCLINE")
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [doxycycline_dci()])
        warnings = service.view(db, w.a(db, w.prescriber), draft.id).warnings
        assert "Ligne 1 : allergie connue du patient à DOXYCYCLINE." in warnings

    def test_no_allergy_or_an_allergy_in_error_gives_no_warning_and_signing_is_never_blocked(self, db, w):
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [doxycycline_dci(), dermoval()])
        assert not any("allergie" in x for x in service.view(db, w.a(db, w.prescriber), draft.id).warnings)
        wrong = allergy.record_allergy(db, w.a(db, w.prescriber), w.patient_id, allergy.AllergyIn(substance="Doxy"))
        self.allergic(db, w, "clobétasol")
        allergy.mark_entered_in_error(db, w.a(db, w.prescriber), w.patient_id, wrong.id)
        warnings = service.view(db, w.a(db, w.prescriber), draft.id).warnings
        assert [x for x in warnings if "allergie" in x] == ["Ligne 2 : allergie connue du patient à clobétasol."]
        assert service.sign(db, w.a(db, w.prescriber), draft.id).status is Status.SIGNED

    @pytest.mark.parametrize(("name", "substance", "expected"), [
        ("AMOXICILLINE TRIHYDRATÉE", "amoxicilline", True),
        ("Amoxicilline 1 g, comprimé", "Amoxicilline", True),
        ("PROPIONATE DE CLOBÉTASOL", "Clobetasol", True),
        ("AMOXICILLINE", "amox", False),
        ("Doxycycline 100 mg", "", False),
    ])
    def test_a_name_names_a_substance_by_whole_words(self, name, substance, expected):
        assert service.names_substance(name, substance) is expected


class TestSign:
    def test_signing_gives_a_number_a_validity_and_a_signature_the_published_key_verifies(self, db, w):
        view = signed(db, w)
        p = view.prescription
        assert view.status is Status.SIGNED and rules.normalise_number(p.number) == p.number
        assert p.valid_until == service.today() + dt.timedelta(days=90)
        assert service.signature_valid(db, p)
        published = {k["key_id"] for k in service.verification_keys()}
        assert p.signing_key_id in published
        assert signing.verify(p.signed_content.encode(), p.signature, p.signing_key_id)
        assert '"rpps":"' in p.signed_content and view.prescriber_rpps in p.signed_content
        assert len(p.verification_code) == 8

    def test_only_the_prescriber_signs(self, db, w):
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [dermoval()])
        service_outsider = w.a(db, w.outsider)
        with pytest.raises(NotFound):
            service.sign(db, service_outsider, draft.id)

    def test_an_incomplete_line_stops_the_signature_with_its_reason(self, db, w):
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [dermoval(duration=0)])
        with pytest.raises(ValidationFailed, match="Ligne 1 : La durée"):
            service.sign(db, w.a(db, w.prescriber), draft.id)

    def test_a_signed_prescription_cannot_be_signed_again(self, db, w):
        view = signed(db, w)
        with pytest.raises(Conflict):
            service.sign(db, w.a(db, w.prescriber), view.prescription.id)


class TestOpenByNumber:
    def test_the_pharmacist_finds_it_by_the_typed_number_and_becomes_its_dispenser(self, db, w):
        view = signed(db, w)
        found = service.open_by_number(db, w.a(db, w.pharmacist), view.number_display)
        assert found.prescription.id == view.prescription.id
        assert [line.remaining for line in found.lines] == [1, 3]
        assert found.lines[1].mention == "Non substituable (MTE)"

    def test_a_mistyped_number_is_refused_before_any_lookup(self, db, w):
        with pytest.raises(ValidationFailed, match="16 chiffres"):
            service.open_by_number(db, w.a(db, w.pharmacist), "1234 5678")

    def test_an_unknown_number_is_not_found(self, db, w):
        with pytest.raises(NotFound, match="Aucune ordonnance"):
            service.open_by_number(db, w.a(db, w.pharmacist), rules.new_number())

    def test_a_physician_cannot_open_it_as_a_pharmacist(self, db, w):
        view = signed(db, w)
        with pytest.raises(PermissionDenied):
            service.open_by_number(db, w.a(db, w.outsider), view.prescription.number)

    def test_a_tampered_signature_is_refused_in_french(self, db, w):
        view = signed(db, w)
        raw = bytearray(view.prescription.signature.encode())
        raw[5] = ord("A") if raw[5] != ord("A") else ord("B")
        db.execute(update(Prescription).where(Prescription.id == view.prescription.id).values(signature=raw.decode()))
        db.expire_all()
        with pytest.raises(Conflict, match="La signature de cette ordonnance n'est pas valide"):
            service.open_by_number(db, w.a(db, w.pharmacist), view.prescription.number)

    def test_altered_content_is_refused_in_french(self, db, w):
        view = signed(db, w)
        db.execute(update(PrescriptionLine).where(PrescriptionLine.id == view.lines[0].line.id).values(quantity=5))
        db.expire_all()
        with pytest.raises(Conflict, match="contenu modifié ou signature altérée"):
            service.open_by_number(db, w.a(db, w.pharmacist), view.prescription.number)

    def test_an_expired_prescription_is_refused_with_its_date(self, db, w):
        view = signed(db, w, dermoval())
        last_day = view.prescription.valid_until
        with frozen(now() + dt.timedelta(days=91)), \
                pytest.raises(Conflict, match=f"a expiré le {last_day:%d/%m/%Y} : elle ne peut plus être délivrée"):
            service.open_by_number(db, w.a(db, w.pharmacist), view.prescription.number)

    def test_a_cancelled_prescription_is_refused_in_french(self, db, w):
        view = signed(db, w)
        service.cancel(db, w.a(db, w.prescriber), view.prescription.id, "Erreur de posologie")
        with pytest.raises(Conflict, match="annulée par son prescripteur"):
            service.open_by_number(db, w.a(db, w.pharmacist), view.prescription.number)


class TestCancel:
    def test_a_cancellation_needs_a_reason(self, db, w):
        view = signed(db, w)
        with pytest.raises(ValidationFailed):
            service.cancel(db, w.a(db, w.prescriber), view.prescription.id, "  ")

    def test_a_prescription_dispensed_in_part_can_no_longer_be_cancelled(self, db, w):
        view = signed(db, w)
        service.dispense(db, w.a(db, w.pharmacist), view.prescription.id,
                         [DispenseEntry(view.lines[0].line.id, Outcome.DELIVERED, 1)])
        with pytest.raises(Conflict, match="ne peut plus être annulée"):
            service.cancel(db, w.a(db, w.prescriber), view.prescription.id, "Trop tard")


class TestDispense:
    def test_a_generic_substitution_and_a_line_left_are_what_the_prescriber_then_sees(self, db, w):
        view = signed(db, w)
        service.open_by_number(db, w.a(db, w.pharmacist), view.prescription.number)
        after = service.dispense(db, w.a(db, w.pharmacist), view.prescription.id, [
            DispenseEntry(view.lines[0].line.id, Outcome.SUBSTITUTED, 1, substitute_cis="60000066")])
        assert after.status is Status.PARTIALLY_DISPENSED
        seen = service.view(db, w.a(db, w.prescriber), view.prescription.id)
        (dispensation,) = seen.lines[0].dispensations
        assert dispensation.outcome == "substituted"
        assert seen.substitute_name(dispensation) == "CLOBÉTASOL ARROW 0,05 %, crème"
        assert seen.lines[0].remaining == 0 and seen.lines[1].remaining == 3 and seen.lines[1].dispensations == []

    def test_a_second_dispensation_of_a_dispensed_line_is_refused(self, db, w):
        view = signed(db, w)
        line = view.lines[0].line.id
        service.dispense(db, w.a(db, w.pharmacist), view.prescription.id, [DispenseEntry(line, Outcome.DELIVERED, 1)])
        with pytest.raises(Conflict, match="Ligne 1 : Cette ligne a déjà été entièrement délivrée"):
            service.dispense(db, w.a(db, w.second_pharmacist), view.prescription.id,
                             [DispenseEntry(line, Outcome.DELIVERED, 1)])

    def test_a_substitute_outside_the_generic_group_is_refused(self, db, w):
        view = signed(db, w)
        with pytest.raises(Conflict, match="même groupe générique"):
            service.dispense(db, w.a(db, w.pharmacist), view.prescription.id, [
                DispenseEntry(view.lines[0].line.id, Outcome.SUBSTITUTED, 1, substitute_cis="60000073")])

    def test_a_non_substitutable_line_is_not_substituted(self, db, w):
        view = signed(db, w)
        with pytest.raises(Conflict, match="non substituable"):
            service.dispense(db, w.a(db, w.pharmacist), view.prescription.id, [
                DispenseEntry(view.lines[1].line.id, Outcome.SUBSTITUTED, 1, substitute_cis="60000103")])

    def test_renewals_are_dispensed_over_time_until_the_prescription_is_dispensed(self, db, w):
        view = signed(db, w)
        pharmacist = w.a(db, w.pharmacist)
        first, second = (line.line.id for line in view.lines)
        service.dispense(db, pharmacist, view.prescription.id, [DispenseEntry(first, Outcome.DELIVERED, 1),
                                                                DispenseEntry(second, Outcome.DELIVERED, 1)])
        for _ in range(2):
            after = service.dispense(db, pharmacist, view.prescription.id,
                                     [DispenseEntry(second, Outcome.DELIVERED, 1)])
        assert after.status is Status.DISPENSED
        with pytest.raises(Conflict, match="déjà été entièrement délivrée"):
            service.open_by_number(db, pharmacist, view.prescription.number)

    def test_a_line_not_delivered_keeps_its_reason_and_stays_to_deliver(self, db, w):
        view = signed(db, w)
        after = service.dispense(db, w.a(db, w.pharmacist), view.prescription.id, [
            DispenseEntry(view.lines[0].line.id, Outcome.NOT_DELIVERED, 0, reason="Rupture de stock")])
        assert after.lines[0].remaining == 1 and after.lines[0].dispensations[0].reason == "Rupture de stock"
        assert after.status is Status.PARTIALLY_DISPENSED


@pytest.mark.parametrize("empty_engine", ["postgresql"], indirect=True)
class TestConcurrentDispensations:
    def test_two_pharmacists_dispensing_the_same_line_at_once_one_succeeds(self, empty_engine):
        from maillage.kit.db import make_sessionmaker

        with empty_engine.begin() as conn:
            run_migrations(conn)
        sessions = make_sessionmaker(empty_engine)
        with sessions() as db:
            w = rx_world(db)
            view = signed(db, w, dermoval())
            db.commit()
            prescription_id, line_id = view.prescription.id, view.lines[0].line.id
            pharmacists = [w.pharmacist, w.second_pharmacist]
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def attempt(user) -> None:
            with sessions() as s:
                actor = make_actor(s, user)
                barrier.wait(30)
                try:
                    service.dispense(s, actor, prescription_id, [DispenseEntry(line_id, Outcome.DELIVERED, 1)])
                    s.commit()
                    outcomes.append("ok")
                except Conflict as exc:
                    s.rollback()
                    outcomes.append(exc.message)

        threads = [threading.Thread(target=attempt, args=(user,)) for user in pharmacists]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert sorted(outcomes)[-1] == "ok" and outcomes.count("ok") == 1, outcomes
        with sessions() as db:
            assert db.get(PrescriptionLine, line_id).dispensed_quantity == 1
            assert db.get(Prescription, prescription_id).status == "dispensed"
