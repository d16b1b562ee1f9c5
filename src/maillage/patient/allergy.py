"""Allergies and intolerances of a patient: recorded with who and when, never deleted (a wrong entry is marked
entered in error), read across the records merged into one person. The substance and the reaction are sealed.

Every read or write goes through ``authz.access_patient`` (audited in the caller's transaction); an entry of a
patient out of the caller's scope is not found, exactly like a missing one. ``active_allergies`` serves the checks
of a service that has already accessed the record (the prescription's checks before signing).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.exceptions import Conflict, NotFound, ValidationFailed
from maillage.kit.clock import now
from maillage.models.patient import Patient, PatientAllergy
from maillage.patient import repository as repo
from maillage.patient.schemas import AllergyCriticality, AllergyKind
from maillage.patient.service import active_record
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose

OBJECT = "allergy"
ACTIVE = "active"
ENTERED_IN_ERROR = "entered-in-error"
SUBSTANCE_MAX = 200
REACTION_MAX = 500
_CODE = re.compile(r"^[0-9]{1,12}$")


@dataclass(frozen=True)
class AllergyIn:
    substance: str
    kind: str = AllergyKind.ALLERGY.value
    criticality: str = AllergyCriticality.UNABLE_TO_ASSESS.value
    reaction: str | None = None
    substance_code: str | None = None


@dataclass(frozen=True)
class AllergyView:
    entry: PatientAllergy
    recorded_by_name: str | None

    @property
    def active(self) -> bool:
        return self.entry.status == ACTIVE

    @property
    def kind_label(self) -> str:
        return AllergyKind(self.entry.kind).label

    @property
    def criticality_label(self) -> str:
        return AllergyCriticality(self.entry.criticality).label

    @property
    def high(self) -> bool:
        return self.entry.criticality == AllergyCriticality.HIGH.value


def _root(session: Session, p: Patient) -> Patient:
    seen = {p.id}
    while p.merged_into_id is not None:
        parent = repo.patient(session, p.merged_into_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        p = parent
    return p


def _person_entries(session: Session, patient_id: uuid.UUID) -> list[PatientAllergy]:
    p = repo.patient(session, patient_id)
    if p is None:
        raise NotFound()
    return list(repo.allergies_of(session, repo.group_ids(session, _root(session, p).id)))


def _checked(data: AllergyIn) -> AllergyIn:
    problems = []
    substance = " ".join((data.substance or "").split())
    reaction = (data.reaction or "").strip() or None
    code = (data.substance_code or "").strip() or None
    if not substance:
        problems.append({"field": "substance", "message": "Substance : indiquez la substance (DCI) en cause."})
    elif len(substance) > SUBSTANCE_MAX:
        problems.append({"field": "substance", "message": f"Substance : {SUBSTANCE_MAX} caractères au plus."})
    if reaction is not None and len(reaction) > REACTION_MAX:
        problems.append({"field": "reaction", "message": f"Réaction : {REACTION_MAX} caractères au plus."})
    if code is not None and not _CODE.match(code):
        problems.append({"field": "substance_code",
                         "message": "Code substance : le code de la base des médicaments est fait de chiffres."})
    for field_name, value, enum_type, label in (("kind", data.kind, AllergyKind, "Type"),
                                                ("criticality", data.criticality, AllergyCriticality, "Criticité")):
        try:
            enum_type(value)
        except ValueError:
            allowed = ", ".join(e.label.lower() for e in enum_type)
            problems.append({"field": field_name, "message": f"{label} : « {value} » n'est pas permis ({allowed})."})
    if problems:
        raise ValidationFailed(problems[0]["message"], details=problems)
    return AllergyIn(substance=substance, kind=data.kind, criticality=data.criticality, reaction=reaction,
                     substance_code=code)


def record_allergy(session: Session, actor: Actor, patient_id: uuid.UUID, data: AllergyIn,
                   context: AuditContext | None = None) -> PatientAllergy:
    """Record an allergy or intolerance on the patient's (kept) record, with who and when."""
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="create", object_type=OBJECT,
                                 context=context)
    p = active_record(session, grant.patient_id)
    clean = _checked(data)
    row = PatientAllergy(patient_id=p.id, substance=clean.substance, substance_code=clean.substance_code,
                         reaction=clean.reaction, kind=clean.kind, criticality=clean.criticality, status=ACTIVE,
                         recorded_by=actor.user_id, recorded_at=now())
    session.add(row)
    session.flush()
    return row


def mark_entered_in_error(session: Session, actor: Actor, patient_id: uuid.UUID, allergy_id: uuid.UUID,
                          context: AuditContext | None = None) -> PatientAllergy:
    """Mark an entry entered in error (it stays in the record, struck out, with who and when)."""
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="update", object_type=OBJECT,
                                 object_id=str(allergy_id), context=context)
    row = repo.allergy(session, allergy_id)
    if row is None or row.id not in {e.id for e in _person_entries(session, grant.patient_id)}:
        raise NotFound("Allergie introuvable.")
    if row.status == ENTERED_IN_ERROR:
        raise Conflict("Cette allergie est déjà marquée saisie par erreur.")
    row.status = ENTERED_IN_ERROR
    row.entered_in_error_by = actor.user_id
    row.entered_in_error_at = now()
    session.flush()
    return row


def allergies(session: Session, actor: Actor, patient_id: uuid.UUID, *, purpose: Purpose = Purpose.CARE,
              context: AuditContext | None = None) -> list[AllergyView]:
    """The person's entries, active first then entered in error, newest first in each."""
    grant = authz.access_patient(session, actor, patient_id, purpose, action="read", object_type=OBJECT,
                                 context=context)
    entries = _person_entries(session, grant.patient_id)
    names = repo.user_names(session, (e.recorded_by for e in entries))
    entries.sort(key=lambda e: e.status != ACTIVE)
    return [AllergyView(e, names.get(e.recorded_by) if e.recorded_by else None) for e in entries]


@dataclass(frozen=True)
class KnownAllergy:
    substance: str
    substance_code: str | None
    reaction: str | None
    recorded_at: dt.datetime


def active_allergies(session: Session, patient_id: uuid.UUID) -> list[KnownAllergy]:
    """The person's allergies in force, for a record the caller has already accessed (the prescription's checks)."""
    return [KnownAllergy(e.substance, e.substance_code, e.reaction, e.recorded_at)
            for e in _person_entries(session, patient_id) if e.status == ACTIVE]
