"""FHIR mapping of prescriptions (maillage.prescription.fhir), validated with the fhir.resources R4B models."""

from __future__ import annotations

import uuid

from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest

from maillage.models.directory import Professional
from maillage.prescription import fhir, repository, service
from maillage.prescription.rules import Outcome
from maillage.prescription.service import DispenseEntry
from tests.fixtures.prescription import doxycycline_dci, levothyrox, rx_world, signed


class TestMedicationRequest:
    def test_a_signed_line_is_a_valid_active_order_grouped_by_the_number(self, db):
        w = rx_world(db)
        view = signed(db, w, levothyrox(ald=True), doxycycline_dci())
        p = view.prescription
        first, second = (fhir.medication_request(p, line.line, prescriber_name=view.prescriber_name,
                                                 prescriber_rpps=view.prescriber_rpps) for line in view.lines)
        request = MedicationRequest.model_validate(first)
        assert request.status == "active" and request.intent == "order"
        assert request.groupIdentifier.value == p.number
        coding = request.medicationCodeableConcept.coding[0]
        assert (coding.system, coding.code) == ("urn:oid:1.2.250.1.213.2.3.1", "60000103")
        assert request.requester.identifier.value == view.prescriber_rpps
        assert request.substitution.allowedBoolean is False
        assert request.substitution.reason.text.startswith("Non substituable (MTE)")
        assert request.dispenseRequest.numberOfRepeatsAllowed == 2
        repeat = request.dosageInstruction[0].timing.repeat
        assert (repeat.frequency, repeat.periodUnit, repeat.boundsDuration.code) == (1, "d", "mo")
        assert str(request.dispenseRequest.validityPeriod.end) == p.valid_until.isoformat()
        dci = MedicationRequest.model_validate(second)
        assert dci.medicationCodeableConcept.coding is None
        assert dci.medicationCodeableConcept.text == "Doxycycline 100 mg, comprimé"

    def test_a_draft_is_a_draft_without_number(self, db):
        w = rx_world(db)
        draft = service.create_draft(db, w.a(db, w.prescriber), w.patient_id, [levothyrox()])
        (line,) = repository.lines_of(db, draft.id)
        resource = MedicationRequest.model_validate(fhir.medication_request(draft, line, prescriber_name="Dr X",
                                                                            prescriber_rpps=None))
        assert resource.status == "draft" and resource.groupIdentifier is None


class TestMedicationDispense:
    def test_a_substitution_and_a_refusal_are_valid_dispenses(self, db):
        w = rx_world(db)
        view = signed(db, w)
        after = service.dispense(db, w.a(db, w.pharmacist), view.prescription.id, [
            DispenseEntry(view.lines[0].line.id, Outcome.SUBSTITUTED, 1, substitute_cis="60000066"),
            DispenseEntry(view.lines[1].line.id, Outcome.NOT_DELIVERED, 0, reason="Rupture de stock")])
        (substitution,) = after.lines[0].dispensations
        (refusal,) = after.lines[1].dispensations
        given = MedicationDispense.model_validate(fhir.medication_dispense(
            after.prescription, after.lines[0].line, substitution, substitute_name=after.substitute_name(substitution)))
        assert given.status == "completed" and given.substitution.wasSubstituted is True
        assert given.substitution.type.coding[0].code == "G"
        assert given.medicationCodeableConcept.coding[0].code == "60000066"
        assert given.authorizingPrescription[0].reference == f"MedicationRequest/{after.lines[0].line.id}"
        declined = MedicationDispense.model_validate(fhir.medication_dispense(
            after.prescription, after.lines[1].line, refusal))
        assert declined.status == "declined" and declined.statusReasonCodeableConcept.text == "Rupture de stock"
        assert declined.whenHandedOver is None

    def test_the_performer_is_the_pharmacists_practitioner_resource(self, db):
        """Review fix: the pharmacist was a logical reference to an account, which no client can resolve; it is the
        door's Practitioner (the directory entry the account belongs to)."""
        w = rx_world(db)
        view = signed(db, w)
        after = service.dispense(db, w.a(db, w.pharmacist), view.prescription.id, [
            DispenseEntry(view.lines[0].line.id, Outcome.DELIVERED, 1)])
        (given,) = after.lines[0].dispensations
        entry = Professional(id=uuid.uuid4(), last_name="Pharma", first_name="Paul", national_id="810001234567")
        resource = fhir.medication_dispense(after.prescription, after.lines[0].line, given, pharmacist=entry)
        actor = MedicationDispense.model_validate(resource).performer[0].actor
        assert actor.reference == f"Practitioner/{entry.id}" and entry.last_name in actor.display
        anonymous = fhir.medication_dispense(after.prescription, after.lines[0].line, given)
        assert "reference" not in anonymous["performer"][0]["actor"]
        assert str(given.pharmacist_id) not in str(anonymous)
