"""FHIR R4 mapping of prescriptions: pure functions from the models to ``MedicationRequest`` (one per line, grouped
by the prescription's number) and ``MedicationDispense`` (one per dispensation) dictionaries, for the FHIR interface.

Codes: the speciality by its CIS code, system ``urn:oid:1.2.250.1.213.2.3.1`` (the OID the ANS CDA and FHIR guides
use for the CIS); a line by substance carries its DCI as text only. The prescriber by RPPS
(``https://rpps.esante.gouv.fr``, FR Core, DOMAIN.md §1.3). Posology as the FHIR ``Dosage`` the ANS ePrescription
guide builds on: dose, frequency per period, duration as the timing's bounds. The prescription's own number is the
platform's (the national base's identifiers are not public, DOMAIN.md §6). The tests validate these dictionaries
with the ``fhir.resources.R4B`` models.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from maillage.models.directory import Professional
from maillage.models.prescription import Dispensation, Prescription, PrescriptionLine
from maillage.prescription import rules
from maillage.prescription.rules import LineDraft, LineKind, NonSubstitution, Outcome, Period, Status

CIS_SYSTEM = "urn:oid:1.2.250.1.213.2.3.1"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
PRESCRIPTION_SYSTEM = "urn:maillage:prescription-number"
LINE_SYSTEM = "urn:maillage:prescription-line"
UCUM = "http://unitsofmeasure.org"
SUBSTITUTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution"
PERIOD_UNITS = {Period.DAY: "d", Period.WEEK: "wk", Period.MONTH: "mo"}
REQUEST_STATUS = {Status.DRAFT: "draft", Status.SIGNED: "active", Status.PARTIALLY_DISPENSED: "active",
                  Status.DISPENSED: "completed", Status.CANCELLED: "cancelled", Status.EXPIRED: "stopped"}


def _number(value: Any) -> int | float:
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def _medication(kind: str, cis: str | None, label: str) -> dict[str, Any]:
    if kind == LineKind.SPECIALITY.value and cis:
        return {"coding": [{"system": CIS_SYSTEM, "code": cis, "display": label}], "text": label}
    return {"text": label}


def _draft(line: PrescriptionLine) -> LineDraft:
    return LineDraft(kind=LineKind(line.kind), label=line.label, dose=Decimal(str(line.dose)),
                     dose_unit=line.dose_unit, times=line.times, period=Period(line.period), duration=line.duration,
                     duration_unit=Period(line.duration_unit), quantity=line.quantity, conditions=line.conditions,
                     renewals=line.renewals)


def medication_request(prescription: Prescription, line: PrescriptionLine, *, prescriber_name: str,
                       prescriber_rpps: str | None) -> dict[str, Any]:
    """One line of a prescription as a ``MedicationRequest``."""
    period = Period(line.period)
    requester: dict[str, Any] = {"display": prescriber_name}
    if prescriber_rpps:
        requester["identifier"] = {"system": RPPS_SYSTEM, "value": prescriber_rpps}
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": str(line.id),
        "status": REQUEST_STATUS[Status(prescription.status)],
        "intent": "order",
        "medicationCodeableConcept": _medication(line.kind, line.cis, line.label),
        "subject": {"reference": f"Patient/{prescription.patient_id}"},
        "requester": requester,
        "dosageInstruction": [{
            "sequence": 1,
            "text": rules.posology_text(_draft(line)),
            "timing": {"repeat": {
                "frequency": line.times, "period": 1, "periodUnit": PERIOD_UNITS[period],
                "boundsDuration": {"value": line.duration, "unit": Period(line.duration_unit).label, "system": UCUM,
                                   "code": PERIOD_UNITS[Period(line.duration_unit)]}}},
            "doseAndRate": [{"doseQuantity": {"value": _number(line.dose), "unit": line.dose_unit}}],
            **({"patientInstruction": line.conditions} if line.conditions else {}),
        }],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": line.renewals,
            "quantity": {"value": line.quantity, "unit": "boîte"},
        },
        "substitution": {"allowedBoolean": not line.non_substitutable},
    }
    if prescription.number:
        resource["identifier"] = [{"system": LINE_SYSTEM, "value": f"{prescription.number}-{line.position}"}]
        resource["groupIdentifier"] = {"system": PRESCRIPTION_SYSTEM, "value": prescription.number}
    if prescription.signed_at:
        resource["authoredOn"] = prescription.signed_at.isoformat()
        validity: dict[str, str] = {"start": prescription.signed_at.date().isoformat()}
        if prescription.valid_until:
            validity["end"] = prescription.valid_until.isoformat()
        resource["dispenseRequest"]["validityPeriod"] = validity
    if line.non_substitution_reason:
        reason = NonSubstitution(line.non_substitution_reason)
        resource["substitution"]["reason"] = {"text": f"{rules.non_substitution_mention(reason)} : {reason.label}"}
    if line.ald:
        resource["note"] = [{"text": "Prescription en rapport avec l'affection de longue durée (ALD)"}]
    return resource


def pharmacist_reference(pharmacist: Professional | None) -> dict[str, Any]:
    """The pharmacist who dispensed, as the door's ``Practitioner`` (the directory entry the account belongs to);
    an account with no directory entry is named only (R4 requires an actor; it is not a resource of the door)."""
    if pharmacist is None:
        return {"display": "Pharmacien"}
    name = " ".join(part for part in (pharmacist.first_name, pharmacist.last_name) if part)
    return {"reference": f"Practitioner/{pharmacist.id}", "display": name}


def medication_dispense(prescription: Prescription, line: PrescriptionLine, dispensation: Dispensation, *,
                        substitute_name: str | None = None, pharmacist: Professional | None = None) -> dict[str, Any]:
    """One pharmacist's dispensation of a line as a ``MedicationDispense``; ``pharmacist`` is the directory entry
    of the account that dispensed."""
    outcome = Outcome(dispensation.outcome)
    substituted = outcome is Outcome.SUBSTITUTED
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": str(dispensation.id),
        "status": "declined" if outcome is Outcome.NOT_DELIVERED else "completed",
        "medicationCodeableConcept": _medication(LineKind.SPECIALITY.value, dispensation.substitute_cis,
                                                 substitute_name or dispensation.substitute_cis or "")
        if substituted else _medication(line.kind, line.cis, line.label),
        "subject": {"reference": f"Patient/{prescription.patient_id}"},
        "performer": [{"actor": pharmacist_reference(pharmacist)}],
        "authorizingPrescription": [{"reference": f"MedicationRequest/{line.id}"}],
        "quantity": {"value": dispensation.quantity, "unit": "boîte"},
        "substitution": {"wasSubstituted": substituted},
    }
    if outcome is not Outcome.NOT_DELIVERED:
        resource["whenHandedOver"] = dispensation.dispensed_at.isoformat()
    if substituted:
        resource["substitution"]["type"] = {"coding": [{"system": SUBSTITUTION_SYSTEM, "code": "G",
                                                        "display": "generic composition"}]}
    if dispensation.reason:
        resource["statusReasonCodeableConcept"] = {"text": dispensation.reason}
    return resource
