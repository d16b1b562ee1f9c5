"""Prescription use cases: write a draft for a patient, check it, sign it, cancel it; a pharmacist opens it by its
number (signature and validity checked) and records what was dispensed, line by line, each line dispensed once.

Every step goes through ``authz`` and is audited in the caller's transaction. A prescriber reaches a prescription
through the patient's care relationship; a pharmacist through the prescription's number (the patient presents it,
as with the national e-prescription), which grants a ``dispenser`` relationship for that prescription.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind
from maillage.directory import service as directory
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import PARIS, now
from maillage.kit.ids import as_uuid
from maillage.models.prescription import Dispensation, Prescription, PrescriptionLine
from maillage.patient import allergy as patient_allergies
from maillage.patient import service as patients
from maillage.prescription import drugs, repository, rules, signing
from maillage.prescription.rules import LineDraft, LineKind, NonSubstitution, Outcome, Period, Status
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose

OBJECT = "prescription"
PHARMACY = "pharmacy"
NOT_FOUND = "Aucune ordonnance ne porte ce numéro."
BAD_SIGNATURE = ("La signature de cette ordonnance n'est pas valide (contenu modifié ou signature altérée) : "
                 "ne la délivrez pas et contactez le prescripteur.")


def today() -> dt.date:
    return now().astimezone(PARIS).date()


@dataclass
class LineView:
    line: PrescriptionLine
    draft: LineDraft
    dispensations: list[Dispensation] = field(default_factory=list)

    @property
    def prescribed(self) -> int:
        return self.line.quantity * (self.line.renewals + 1)

    @property
    def remaining(self) -> int:
        return self.prescribed - self.line.dispensed_quantity

    @property
    def posology(self) -> str:
        return rules.posology_text(self.draft)

    @property
    def mention(self) -> str | None:
        reason = self.line.non_substitution_reason
        return rules.non_substitution_mention(reason) if reason else None


@dataclass
class PrescriptionView:
    prescription: Prescription
    lines: list[LineView]
    patient_name: str
    prescriber_name: str
    prescriber_rpps: str | None
    warnings: list[str] = field(default_factory=list)
    drug_names: dict[str, str] = field(default_factory=dict)
    patient: Any = None  # the PatientView, for the patient banner

    def substitute_name(self, dispensation: Dispensation) -> str | None:
        """The generic dispensed instead, by its name in the drug database."""
        cis = dispensation.substitute_cis
        return self.drug_names.get(cis, cis) if cis else None

    @property
    def status(self) -> Status:
        return Status(self.prescription.status)

    @property
    def number_display(self) -> str:
        return rules.display_number(self.prescription.number) if self.prescription.number else ""

    @property
    def bizone(self) -> bool:
        return any(line.line.ald for line in self.lines)


def _draft_of(line: PrescriptionLine) -> LineDraft:
    return LineDraft(
        kind=LineKind(line.kind), label=line.label, dose=Decimal(str(line.dose)), dose_unit=line.dose_unit,
        times=line.times, period=Period(line.period), duration=line.duration, duration_unit=Period(line.duration_unit),
        quantity=line.quantity, cis=line.cis, cip13=line.cip13, conditions=line.conditions, renewals=line.renewals,
        non_substitution_reason=NonSubstitution(line.non_substitution_reason) if line.non_substitution_reason else None,
        ald=line.ald)


def _require(actor: Actor, permission: Permission) -> None:
    if not role_allows(actor.role, permission):
        raise PermissionDenied()


# Writing ------------------------------------------------------------------------------------------------------


def create_draft(session: Session, actor: Actor, patient_id: uuid.UUID | str, lines: list[LineDraft], *,
                 instructions: str | None = None, source_kind: rules.SourceKind = rules.SourceKind.PATIENT,
                 source_id: uuid.UUID | None = None, pharmacy_id: uuid.UUID | None = None,
                 context: AuditContext | None = None) -> Prescription:
    """A draft prescription for a patient the actor cares for, addressed to the patient's chosen pharmacy if any;
    speciality lines take their name from the drug database in service. Refused (nothing written) when a line
    names a drug the base does not hold."""
    _require(actor, Permission.PRESCRIPTION_WRITE)
    grant = authz.access_patient(session, actor, patient_id, Purpose.PRESCRIPTION, action="create",
                                 object_type=OBJECT, permission=Permission.PRESCRIPTION_WRITE, context=context)
    if not lines:
        raise ValidationFailed("Ajoutez au moins une ligne à l'ordonnance.")
    if pharmacy_id is not None:
        pharmacy = directory.get_establishment(session, pharmacy_id).establishment
        if pharmacy.kind != PHARMACY:
            raise ValidationFailed("Choisissez une pharmacie d'officine dans la liste.")
    release = repository.current_release(session)
    prescription = Prescription(pharmacy_id=pharmacy_id, patient_id=grant.patient_id, prescriber_id=actor.user_id,
                                source_kind=source_kind.value,
                                source_id=source_id, status=Status.DRAFT.value,
                                drug_release_id=release.id if release else None,
                                instructions=(instructions or "").strip() or None, created_at=now())
    session.add(prescription)
    session.flush()
    for position, line in enumerate(lines, start=1):
        label = line.label
        if line.kind is LineKind.SPECIALITY:
            if not line.cis:
                raise ValidationFailed(f"Ligne {position} : choisissez le médicament dans la base des médicaments.")
            hit = drugs.require_speciality(session, line.cis)
            if line.cip13 and line.cip13 not in {p.cip13 for p in hit.presentations}:
                raise ValidationFailed(f"Ligne {position} : cette présentation n'est pas celle du médicament choisi.")
            label = hit.name
        session.add(PrescriptionLine(
            prescription_id=prescription.id, position=position, kind=line.kind.value, cis=line.cis, cip13=line.cip13,
            label=label.strip(), dose=line.dose, dose_unit=line.dose_unit, times=line.times, period=line.period.value,
            duration=line.duration, duration_unit=line.duration_unit.value,
            conditions=(line.conditions or "").strip() or None, quantity=line.quantity, renewals=line.renewals,
            non_substitutable=line.non_substitution_reason is not None,
            non_substitution_reason=line.non_substitution_reason.value if line.non_substitution_reason else None,
            ald=line.ald))
    session.flush()
    record(session, action="create", object_type=OBJECT, object_id=str(prescription.id),
           patient_id=str(prescription.patient_id), purpose=Purpose.PRESCRIPTION.value, context=context,
           **actor.audit_fields)
    return prescription


def _load(session: Session, actor: Actor, prescription_id: uuid.UUID | str, *, action: str,
          context: AuditContext | None = None) -> Prescription:
    """The prescription, for someone who may see the patient's data (else 404, like a missing one)."""
    prescription = repository.prescription(session, as_uuid(prescription_id))
    if prescription is None:
        raise NotFound("Ordonnance introuvable.")
    authz.access_patient(session, actor, prescription.patient_id, Purpose.PRESCRIPTION, action=action,
                         object_type=OBJECT, object_id=str(prescription.id),
                         permission=Permission.PATIENT_READ if action == "read" else Permission.PRESCRIPTION_WRITE,
                         context=context)
    return prescription


def _view(session: Session, prescription: Prescription, *, patient_name: str | None = None) -> PrescriptionView:
    lines = repository.lines_of(session, prescription.id)
    by_line: dict[uuid.UUID, list[Dispensation]] = {}
    for dispensation in repository.dispensations_of(session, prescription.id):
        by_line.setdefault(dispensation.line_id, []).append(dispensation)
    header = _signed_header(prescription)
    professional = directory.professional_of_user(session, prescription.prescriber_id)
    substitutes = sorted({d.substitute_cis for ds in by_line.values() for d in ds if d.substitute_cis})
    names = {s.cis: s.name for s in repository.specialities_by_cis(session, substitutes)} if substitutes else {}
    return PrescriptionView(
        drug_names=names,
        prescription=prescription,
        lines=[LineView(line, _draft_of(line), by_line.get(line.id, [])) for line in lines],
        patient_name=patient_name or header.get("patient", {}).get("name", ""),
        prescriber_name=header.get("prescriber", {}).get("name")
        or (directory.display_name(professional) if professional else ""),
        prescriber_rpps=header.get("prescriber", {}).get("rpps") or (professional.rpps if professional else None))


def view(session: Session, actor: Actor, prescription_id: uuid.UUID | str,
         context: AuditContext | None = None) -> PrescriptionView:
    prescription = _load(session, actor, prescription_id, action="read", context=context)
    patient = patients.get_patient(session, actor, prescription.patient_id, purpose=Purpose.PRESCRIPTION,
                                   context=context)
    result = _view(session, prescription, patient_name=patient.display_name)
    result.patient = patient
    if prescription.status == Status.DRAFT.value:
        result.warnings = checks(session, result)
    return result


def names_substance(name: str, substance: str) -> bool:
    """Whether a drug's substance or a line's label names this substance: the substance's words, in order, as whole
    words, case and accents aside (``Amoxicilline`` names ``AMOXICILLINE TRIHYDRATÉE`` and ``amoxicilline 1 g``)."""
    wanted = drugs.bdpm.search_key(substance)
    return bool(wanted) and re.search(rf"(?<![A-Z0-9]){re.escape(wanted)}(?![A-Z0-9])",
                                      drugs.bdpm.search_key(name)) is not None


def _allergy_warnings(position: int, names: list[str], codes: list[str],
                      known: list[patient_allergies.KnownAllergy]) -> list[str]:
    found = []
    for allergy in known:
        by_code = allergy.substance_code is not None and allergy.substance_code in codes
        if by_code or any(names_substance(name, allergy.substance) for name in names):
            reaction = f" ({allergy.reaction})" if allergy.reaction else ""
            found.append(f"Ligne {position} : allergie connue du patient à {allergy.substance}{reaction}.")
    return found


def checks(session: Session, prescription: PrescriptionView) -> list[str]:
    """What the prescriber should see before signing (never a silent block): incomplete lines, the same substance
    twice, a substance the patient is known to be allergic to (a speciality by its composition, a substance line
    by its label), the drug database's important-information notices."""
    warnings = []
    known = patient_allergies.active_allergies(session, prescription.prescription.patient_id)
    seen: dict[str, int] = {}
    specialities = [line.line.cis for line in prescription.lines if line.line.cis]
    hits = {hit.cis: hit for hit in drugs.describe(session, repository.specialities_by_cis(session, specialities))}
    for line in prescription.lines:
        warnings += [f"Ligne {line.line.position} : {problem}" for problem in rules.line_problems(line.draft)]
        names = hits[line.line.cis].substances if line.line.cis in hits else [line.line.label]
        for name in names:
            key = drugs.bdpm.search_key(name)
            if key in seen:
                warnings.append(f"Lignes {seen[key]} et {line.line.position} : la même substance ({name}) est "
                                "prescrite deux fois.")
            seen.setdefault(key, line.line.position)
        codes = hits[line.line.cis].substance_codes if line.line.cis in hits else []
        warnings += _allergy_warnings(line.line.position, names, codes, known)
        if line.line.cis in hits:
            warnings += [f"{hits[line.line.cis].name} : {notice}" for notice in hits[line.line.cis].notices]
    return warnings


def _content(prescription: Prescription, lines: list[PrescriptionLine], header: dict[str, Any]) -> dict[str, Any]:
    return {
        **header,
        "number": prescription.number,
        "valid_until": prescription.valid_until,
        "instructions": prescription.instructions,
        "lines": [{
            "position": line.position, "kind": line.kind, "cis": line.cis, "cip13": line.cip13, "label": line.label,
            "dose": Decimal(str(line.dose)), "dose_unit": line.dose_unit, "times": line.times, "period": line.period,
            "duration": line.duration, "duration_unit": line.duration_unit, "conditions": line.conditions,
            "quantity": line.quantity, "renewals": line.renewals,
            "non_substitution_reason": line.non_substitution_reason, "ald": line.ald,
        } for line in lines],
    }


def _signed_header(prescription: Prescription) -> dict[str, Any]:
    if not prescription.signed_content:
        return {}
    content = json.loads(prescription.signed_content)
    return {key: content[key] for key in ("issued_at", "prescriber", "patient", "source", "drug_release")
            if key in content}


def sign(session: Session, actor: Actor, prescription_id: uuid.UUID | str,
         context: AuditContext | None = None) -> PrescriptionView:
    """Sign a complete draft: its number, validity, canonical content and Ed25519 signature."""
    _require(actor, Permission.PRESCRIPTION_WRITE)
    prescription = _load(session, actor, prescription_id, action="sign", context=context)
    if prescription.prescriber_id != actor.user_id:
        raise PermissionDenied("Seul le prescripteur peut signer son ordonnance.")
    if not rules.can_transition(Status(prescription.status), Status.SIGNED):
        raise Conflict("Cette ordonnance est déjà signée ou annulée.")
    lines = repository.lines_of(session, prescription.id)
    drafts = [_draft_of(line) for line in lines]
    problems = [f"Ligne {line.position} : {p}" for line, d in zip(lines, drafts, strict=True)
                for p in rules.line_problems(d)]
    if problems:
        raise ValidationFailed("L'ordonnance est incomplète : " + " ".join(problems), details=problems)
    professional = directory.professional_of_user(session, actor.user_id)
    patient = patients.get_patient(session, actor, prescription.patient_id, purpose=Purpose.PRESCRIPTION,
                                   context=context)
    issued = now()
    while True:
        number = rules.new_number()
        if repository.prescription_by_number(session, number) is None:
            break
    prescription.number = number
    prescription.valid_until = rules.valid_until(issued.astimezone(PARIS).date(), drafts)
    header = {
        "issued_at": issued.isoformat(),
        "prescriber": {"name": directory.display_name(professional) if professional else actor.display_name,
                       "rpps": professional.rpps if professional else None, "user": str(actor.user_id)},
        "patient": {"name": patient.display_name, "birth_date": patient.birth_date.isoformat(),
                    "id": str(prescription.patient_id)},
        "source": {"kind": prescription.source_kind,
                   "id": str(prescription.source_id) if prescription.source_id else None},
        "drug_release": str(prescription.drug_release_id) if prescription.drug_release_id else None,
    }
    content = rules.canonical(_content(prescription, lines, header))
    signature = signing.sign(content)
    prescription.signed_content = content.decode("utf-8")
    prescription.signature = signature.value
    prescription.signing_key_id = signature.key_id
    prescription.verification_code = signature.verification_code
    prescription.signed_at = issued
    prescription.status = Status.SIGNED.value
    session.flush()
    record(session, action="sign", object_type=OBJECT, object_id=str(prescription.id),
           patient_id=str(prescription.patient_id), purpose=Purpose.PRESCRIPTION.value, context=context,
           **actor.audit_fields)
    return _view(session, prescription, patient_name=patient.display_name)


def cancel(session: Session, actor: Actor, prescription_id: uuid.UUID | str, reason: str,
           context: AuditContext | None = None) -> None:
    """The prescriber cancels a prescription nothing has been dispensed of yet."""
    _require(actor, Permission.PRESCRIPTION_WRITE)
    prescription = _load(session, actor, prescription_id, action="cancel", context=context)
    if prescription.prescriber_id != actor.user_id:
        raise PermissionDenied("Seul le prescripteur peut annuler son ordonnance.")
    if not reason.strip():
        raise ValidationFailed("Indiquez la raison de l'annulation.")
    if not rules.can_transition(Status(prescription.status), Status.CANCELLED):
        raise Conflict("Une ordonnance déjà délivrée, même en partie, ne peut plus être annulée.")
    prescription.status = Status.CANCELLED.value
    prescription.cancelled_at = now()
    prescription.cancelled_by = actor.user_id
    prescription.cancel_reason = reason.strip()
    session.flush()
    record(session, action="cancel", object_type=OBJECT, object_id=str(prescription.id),
           patient_id=str(prescription.patient_id), purpose=Purpose.PRESCRIPTION.value, context=context,
           **actor.audit_fields)


def signature_valid(session: Session, prescription: Prescription) -> bool:
    """The stored content is signed by a platform key, and the prescription's rows are still that content."""
    if not (prescription.signed_content and prescription.signature and prescription.signing_key_id):
        return False
    stored = prescription.signed_content.encode("utf-8")
    if not signing.verify(stored, prescription.signature, prescription.signing_key_id):
        return False
    current = rules.canonical(_content(prescription, repository.lines_of(session, prescription.id),
                                       _signed_header(prescription)))
    return current == stored


# Dispensing ---------------------------------------------------------------------------------------------------


def _for_pharmacist(session: Session, actor: Actor, prescription: Prescription, *, action: str,
                    context: AuditContext | None) -> None:
    """Check the signature and validity, grant the pharmacist a dispenser relationship, audit."""
    if not signature_valid(session, prescription):
        record(session, action=action, object_type=OBJECT, object_id=str(prescription.id),
               patient_id=str(prescription.patient_id), purpose=Purpose.PRESCRIPTION.value, outcome="denied",
               context=context, details={"reason": "signature"}, **actor.audit_fields)
        raise Conflict(BAD_SIGNATURE)
    reason = rules.refusal_reason(Status(prescription.status), prescription.valid_until, today())
    if reason is not None:
        raise Conflict(reason)
    authz.grant_relationship(session, user_id=actor.user_id, patient_id=prescription.patient_id,
                             kind=RelationshipKind.DISPENSER, source_type=OBJECT, source_id=str(prescription.id),
                             ends_at=dt.datetime.combine(prescription.valid_until + dt.timedelta(days=1),
                                                         dt.time(), PARIS) if prescription.valid_until else None)
    record(session, action=action, object_type=OBJECT, object_id=str(prescription.id),
           patient_id=str(prescription.patient_id), purpose=Purpose.PRESCRIPTION.value, context=context,
           **actor.audit_fields)


def open_by_number(session: Session, actor: Actor, typed: str,
                   context: AuditContext | None = None) -> PrescriptionView:
    """A pharmacist opens a prescription by its number (typed or read from the QR code)."""
    _require(actor, Permission.PRESCRIPTION_DISPENSE)
    number = rules.normalise_number(typed)
    if number is None:
        raise ValidationFailed("Ce numéro d'ordonnance n'est pas valide : 16 chiffres, vérifiez la saisie.")
    prescription = repository.prescription_by_number(session, number)
    if prescription is None or prescription.status == Status.DRAFT.value:
        raise NotFound(NOT_FOUND)
    _for_pharmacist(session, actor, prescription, action="read", context=context)
    result = _view(session, prescription)
    result.patient = patients.get_patient(session, actor, prescription.patient_id, purpose=Purpose.PRESCRIPTION,
                                          context=context)
    return result


@dataclass(frozen=True)
class DispenseEntry:
    line_id: uuid.UUID
    outcome: Outcome
    quantity: int
    substitute_cis: str | None = None
    reason: str | None = None


def dispense(session: Session, actor: Actor, prescription_id: uuid.UUID | str, entries: list[DispenseEntry],
             context: AuditContext | None = None) -> PrescriptionView:
    """Record what the pharmacist delivered, line by line: each line's prescribed quantity is delivered once in
    all, whoever the pharmacists are (a second delivery of a delivered line is refused, even a concurrent one)."""
    _require(actor, Permission.PRESCRIPTION_DISPENSE)
    prescription = repository.prescription(session, as_uuid(prescription_id))
    if prescription is None or prescription.status == Status.DRAFT.value:
        raise NotFound(NOT_FOUND)
    if not entries:
        raise ValidationFailed("Indiquez au moins une ligne délivrée ou non délivrée.")
    _for_pharmacist(session, actor, prescription, action="dispense", context=context)
    lines = {line.id: line for line in repository.lines_of(session, prescription.id)}
    for entry in entries:
        line = lines.get(entry.line_id)
        if line is None:
            raise NotFound("Cette ligne n'appartient pas à l'ordonnance.")
        in_group: bool | None = None
        if entry.outcome is Outcome.SUBSTITUTED:
            options = {hit.cis for hit in drugs.substitutes(session, line.cis)} if line.cis else set()
            in_group = entry.substitute_cis in options
        remaining = line.quantity * (line.renewals + 1) - line.dispensed_quantity
        problem = rules.dispensation_problem(outcome=entry.outcome, quantity=entry.quantity, remaining=remaining,
                                             non_substitutable=line.non_substitutable, substitute_in_group=in_group,
                                             reason=entry.reason)
        if problem is not None:
            raise Conflict(f"Ligne {line.position} : {problem}")
        if entry.quantity and not repository.add_dispensed(session, line.id, entry.quantity):
            raise Conflict(f"Ligne {line.position} : cette ligne vient d'être délivrée par une autre pharmacie.")
        session.add(Dispensation(
            prescription_id=prescription.id, line_id=line.id, pharmacist_id=actor.user_id,
            establishment_id=actor.current_establishment_id, outcome=entry.outcome.value, quantity=entry.quantity,
            substitute_cis=entry.substitute_cis if entry.outcome is Outcome.SUBSTITUTED else None,
            reason=(entry.reason or "").strip() or None, dispensed_at=now()))
    session.flush()
    for line in lines.values():
        session.refresh(line)
    status = rules.status_after_dispensation(
        [(line.dispensed_quantity, line.quantity * (line.renewals + 1)) for line in lines.values()])
    prescription.status = status.value
    session.flush()
    record(session, action="dispensed", object_type=OBJECT, object_id=str(prescription.id),
           patient_id=str(prescription.patient_id), purpose=Purpose.PRESCRIPTION.value, context=context,
           details={"lines": len(entries)}, **actor.audit_fields)
    return _view(session, prescription)


@dataclass(frozen=True)
class WaitingRow:
    prescription: Prescription
    patient_name: str
    prescriber_name: str


def waiting_at_my_pharmacy(session: Session, actor: Actor, context: AuditContext | None = None) -> list[WaitingRow]:
    """Prescriptions the patients addressed to the pharmacist's pharmacies, still to dispense (a list read,
    audited with the patients it shows). Opening one goes through the number, like any other."""
    _require(actor, Permission.PRESCRIPTION_DISPENSE)
    if not actor.establishment_ids:
        return []
    found = repository.waiting_at(session, list(actor.establishment_ids), today())
    rows = []
    for prescription in found:
        header = _signed_header(prescription)
        rows.append(WaitingRow(prescription, header.get("patient", {}).get("name", ""),
                               header.get("prescriber", {}).get("name", "")))
    if rows:
        authz.audit_list(session, actor, object_type=OBJECT, count=len(rows), purpose=Purpose.PRESCRIPTION,
                         patient_ids=[row.prescription.patient_id for row in rows], context=context)
    return rows


def pharmacies(session: Session) -> list[tuple[uuid.UUID, str]]:
    """The pharmacies a prescription may be addressed to (the directory's officines), by name."""
    found = directory.search_establishments(session, kind=PHARMACY, limit=200)
    return sorted(((e.id, f"{e.name} ({e.commune_name})" if e.commune_name else e.name) for e in found),
                  key=lambda pair: pair[1])


def verification_keys() -> list[dict[str, str]]:
    return signing.verification_keys()


def of_patient(session: Session, actor: Actor, patient_id: uuid.UUID | str,
               context: AuditContext | None = None) -> list[Prescription]:
    grant = authz.access_patient(session, actor, patient_id, Purpose.PRESCRIPTION, action="read",
                                 object_type=OBJECT, context=context)
    return repository.prescriptions_of_patient(session, grant.patient_id)
