"""Use cases of patient identity: create (with identity vigilance), find, read, update, verify; consents and
objections; the identity officer's duplicates, merges and their undoing.

Every read or write of a patient goes through ``maillage.authz.service.access_patient`` (care relationship or
break-the-glass, audited in the same transaction) and every list through ``accessible_patients`` plus
``audit_list``. The identity officer reaches identities for identity vigilance only (``Purpose.IDENTITY_VIGILANCE``).
The INS matricule leaves this module in clear only for a qualified identity (``can_share_matricule``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.authz import service as authz
from maillage.authz.rules import BreakGlassGround, Purpose, RelationshipKind, break_glass_reason_problems
from maillage.config import Settings, get_settings
from maillage.directory import communes
from maillage.directory import service as directory
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.http import after_rollback
from maillage.kit.logging import get_logger
from maillage.models.directory import Professional
from maillage.models.patient import IdentityMerge, IdentityPairReview, Patient, PatientConsent
from maillage.patient import repository as repo
from maillage.patient.rules import (
    TRAIT_LABELS,
    IdentityAttribute,
    IdentityStatus,
    Ins,
    InsOid,
    Sex,
    StrictTraits,
    can_share_matricule,
    check_name,
    check_transition,
    differing_traits,
    duplicate_key,
    make_ins,
    make_traits,
    matricule_trait_mismatches,
    normalise_name,
    status_for,
    validate_nir,
)
from maillage.patient.schemas import ConsentDecision, ConsentPurpose, ConsentSource, IdentityDocument
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows

log = get_logger("maillage.patient")
MASKED_MATRICULE = "• •• •• ••••• ••• ••"


class IdentityExists(Conflict):
    """Creating this patient would duplicate an identity already in the GHT.

    The answer is the same whether the strict traits or the INS matched, and says nothing the caller did not
    send: no record id, no identity status (the existence of a record is no reason to open it). Only a caller who
    may already see the record gets its id (``details.existing_patient_id``), to open it instead.
    """

    code = "identity_exists"
    default_message = (
        "Cette identité est déjà enregistrée dans le GHT (mêmes traits stricts ou même matricule INS) : aucun second "
        "dossier n'est créé. Le dossier s'ouvre par un acte de soins (demande, rendez-vous, inclusion, admission) "
        "ou, à défaut, par un accès exceptionnel motivé, limité dans le temps et revu par l'administrateur."
    )


# --- Views ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientView:
    """A patient as pages and the API may show it: the matricule only when the identity is qualified."""

    patient: Patient
    attending: Professional | None = None
    remarks: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "patient":
            raise AttributeError(name)
        return getattr(self.patient, name)

    @property
    def status(self) -> IdentityStatus:
        return IdentityStatus(self.patient.identity_status)

    @property
    def identity_status_label(self) -> str:
        return self.status.label

    @property
    def matricule_shared(self) -> bool:
        return self.patient.ins_matricule is not None and can_share_matricule(self.status)

    @property
    def matricule(self) -> str | None:
        return self.patient.ins_matricule if self.matricule_shared else None

    @property
    def matricule_display(self) -> str | None:
        """``2 95 10 99 126 111 93`` when shareable, the masked form otherwise, None without an INS."""
        if self.patient.ins_matricule is None:
            return None
        if not self.matricule_shared:
            return MASKED_MATRICULE
        m = self.patient.ins_matricule
        return f"{m[0]} {m[1:3]} {m[3:5]} {m[5:7]} {m[7:10]} {m[10:13]} {m[13:]}"

    @property
    def ins_oid_label(self) -> str | None:
        if self.patient.ins_oid is None:
            return None
        try:
            return InsOid(self.patient.ins_oid).label
        except ValueError:
            return self.patient.ins_oid

    @property
    def ins(self) -> dict[str, Any] | None:
        if self.patient.ins_oid is None:
            return None
        return {"oid": self.patient.ins_oid, "oid_label": self.ins_oid_label,
                "system": f"urn:oid:{self.patient.ins_oid}", "matricule": self.matricule,
                "matricule_shared": self.matricule_shared,
                "matricule_masked": None if self.matricule_shared else MASKED_MATRICULE}

    @property
    def display_name(self) -> str:
        used = self.patient.used_name
        name = self.patient.birth_name.upper()
        if used and normalise_name(used) != self.patient.birth_name_norm:
            name = f"{used.upper()} (né·e {self.patient.birth_name.upper()})"
        first = self.patient.used_given_name or self.patient.given_names.split(" ")[0]
        return f"{name} {first}"

    @property
    def sex_label(self) -> str:
        return "Féminin" if self.patient.sex == "F" else "Masculin"

    @property
    def commune_name(self) -> str | None:
        return _commune_name(self.patient.commune_insee)

    @property
    def birthplace_label(self) -> str:
        return _birthplace_label(self.patient.birthplace)

    @property
    def attending_name(self) -> str | None:
        return directory.display_name(self.attending) if self.attending else None

    @property
    def attributes(self) -> list[str]:
        return list(self.patient.identity_attributes or [])

    @property
    def identity_document_label(self) -> str | None:
        if not self.patient.identity_document:
            return None
        try:
            return IdentityDocument(self.patient.identity_document).label
        except ValueError:
            return self.patient.identity_document


def _commune_name(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return communes.get_commune(code).name
    except ValidationFailed:
        return None


def _birthplace_label(code: str) -> str:
    if code.startswith("99"):
        return f"Né·e à l'étranger (code pays {code})"
    name = _commune_name(code)
    return f"{name} ({code})" if name else code


def _views(session: Session, patients: Sequence[Patient], *, with_remarks: bool = False) -> list[PatientView]:
    attendings = directory.professionals_by_ids(
        session, (p.attending_professional_id for p in patients if p.attending_professional_id))
    return [PatientView(p, attendings.get(p.attending_professional_id) if p.attending_professional_id else None,
                        _remarks(p) if with_remarks else []) for p in patients]


def _remarks(p: Patient) -> list[str]:
    if p.ins_matricule is None:
        return []
    return matricule_trait_mismatches(validate_nir(p.ins_matricule), traits_of(p))


def traits_of(p: Patient) -> StrictTraits:
    return StrictTraits(p.birth_name, tuple(p.given_names.split(" ")), p.birth_date, Sex(p.sex), p.birthplace)


def key_text(traits: StrictTraits) -> str:
    return "|".join(duplicate_key(traits))


# --- Helpers ---------------------------------------------------------------------------------------------


def _need(actor: Actor, permission: Permission) -> None:
    if not role_allows(actor.role, permission):
        raise PermissionDenied()


def _traits(data: Any) -> StrictTraits:
    return make_traits(birth_name=data.birth_name, given_names=data.given_names, birth_date=data.birth_date,
                       sex=data.sex, birthplace=data.birthplace, today=today_paris())


def _ins(matricule: str | None, oid: str | None) -> Ins | None:
    if not matricule and not oid:
        return None
    if not matricule or not oid:
        message = "INS : le matricule et l'OID de l'autorité d'affectation vont ensemble."
        raise ValidationFailed(message, details=[{"field": "ins_matricule" if not matricule else "ins_oid",
                                                  "message": message}])
    ins = make_ins(matricule, oid, field="ins")
    if ins.oid in (InsOid.TEST, InsOid.DEMO) and get_settings().environment == "production":
        message = "INS : les OID de test et de démonstration sont refusés en production."
        raise ValidationFailed(message, details=[{"field": "ins_oid", "message": message}])
    return ins


def _document(value: str | None) -> IdentityDocument | None:
    if not value:
        return None
    try:
        return IdentityDocument(value)
    except ValueError:
        message = f"Pièce d'identité : « {value} » n'est pas une pièce à haut niveau de confiance connue."
        raise ValidationFailed(message, details=[{"field": "identity_document", "message": message}]) from None


def _attending(session: Session, professional_id: uuid.UUID | None, rpps: str | None) -> Professional | None:
    if professional_id is None and not rpps:
        return None
    if professional_id is not None:
        found = directory.professionals_by_ids(session, [professional_id]).get(professional_id)
        if found is None:
            raise ValidationFailed("Médecin traitant introuvable dans l'annuaire.",
                                   details=[{"field": "attending_professional_id", "message": "Introuvable."}])
    else:
        assert rpps is not None
        try:
            found = directory.find_professional_by_rpps(session, rpps)
        except NotFound as exc:
            raise ValidationFailed(exc.message, details=[{"field": "attending_rpps", "message": exc.message}]) from None
    if found.profession_code != "10":
        message = "Médecin traitant : ce professionnel n'est pas médecin."
        raise ValidationFailed(message, details=[{"field": "attending_professional_id", "message": message}])
    return found


def _used_names(data: Any, fields: set[str]) -> tuple[str | None, str | None]:
    """The used name and used given name given (checked like the INS names: ``rules.name_problem``)."""
    used = data.used_name if "used_name" in fields else None
    used_given = data.used_given_name if "used_given_name" in fields else None
    return (check_name(used, "used_name", "Nom utilisé") if used else None,
            check_name(used_given, "used_given_name", "Prénom utilisé") if used_given else None)


def _residence(code: str | None) -> str | None:
    if not code:
        return None
    return communes.get_commune(code).insee


def _audit_match(session: Session, actor: Actor, existing: Patient, match: str,
                 context: AuditContext | None) -> None:
    """Audit, after the rollback of the refused request, that the caller's identity data matched this record."""
    fields: dict[str, Any] = dict(action="propose", object_type="patient", object_id=str(existing.id),
                                  patient_id=str(existing.id), purpose=Purpose.CARE.value, outcome="denied",
                                  context=context, details={"match": match}, **actor.audit_fields)

    def audit(s: Session) -> None:
        record(s, **fields)

    after_rollback(session, audit)


def _refuse_duplicate(session: Session, actor: Actor, existing: Patient, match: str,
                      context: AuditContext | None) -> None:
    """Refuse a duplicate. The refusal is audited (after the rollback) with the record and the kind of match, for
    identity vigilance and for spotting probes; the caller learns the record's id only if they may already see it.
    """
    _audit_match(session, actor, existing, match, context)
    if authz.has_access(session, actor, existing.id):
        raise IdentityExists(details={"existing_patient_id": str(existing.id)})
    raise IdentityExists()


# --- Creating and joining ------------------------------------------------------------------------------------


def create_patient(session: Session, actor: Actor, data: Any, context: AuditContext | None = None) -> PatientView:
    """Create a patient, or refuse a duplicate when the strict traits or the INS match a record (409, the same
    neutral answer for both: see ``IdentityExists``; joining that record is ``attach_to_patient``).

    The creator gets a care relationship: ``attending`` when they are the médecin traitant given, ``care_unit``
    otherwise. The status follows from the checks done (INSi, high-trust document): ``status_for``.
    """
    _need(actor, Permission.PATIENT_WRITE)
    traits = _traits(data)
    used_name, used_given_name = _used_names(data, {"used_name", "used_given_name"})
    ins = _ins(data.ins_matricule, data.ins_oid)
    document = _document(data.identity_document)
    if data.insi_checked and ins is None:
        message = "INS : une identité vérifiée par INSi porte le matricule et l'OID renvoyés par le téléservice."
        raise ValidationFailed(message, details=[{"field": "ins_matricule", "message": message}])
    attending = _attending(session, data.attending_professional_id, data.attending_rpps)
    residence = _residence(data.commune_insee)
    if ins is not None:
        same_ins = repo.active_with_matricule(session, ins.matricule.value)
        if same_ins is not None:
            _refuse_duplicate(session, actor, same_ins, "same_ins", context)
    key = key_text(traits)
    same = repo.active_with_duplicate_key(session, key)
    if same is not None:
        _refuse_duplicate(session, actor, same, "same_traits", context)
    at = now()
    status = status_for(insi_checked=bool(data.insi_checked), document_checked=document is not None)
    p = Patient(
        birth_name=traits.birth_name, given_names=" ".join(traits.given_names), birth_date=traits.birth_date,
        sex=traits.sex.value, birthplace=traits.birthplace,
        used_name=used_name, used_given_name=used_given_name,
        birth_name_norm=normalise_name(traits.birth_name),
        first_given_name_norm=normalise_name(traits.first_given_name),
        used_name_norm=normalise_name(data.used_name) if data.used_name else None, duplicate_key=key,
        identity_status=status.value, identity_attributes=[],
        ins_matricule=ins.matricule.value if ins else None, ins_oid=ins.oid.value if ins else None,
        insi_checked_at=at if data.insi_checked else None, document_checked_at=at if document else None,
        identity_document=document.value if document else None, phone=data.phone, email=data.email,
        address_line=data.address_line, postcode=data.postcode, commune_insee=residence,
        attending_professional_id=attending.id if attending else None, created_by=actor.user_id,
    )
    session.add(p)
    session.flush()
    mine = directory.professional_of_user(session, actor.user_id)
    kind = RelationshipKind.ATTENDING if attending is not None and mine is not None and mine.id == attending.id \
        else RelationshipKind.CARE_UNIT
    authz.grant_relationship(session, user_id=actor.user_id, patient_id=p.id, kind=kind, source_type="patient",
                             source_id=str(p.id))
    authz.access_patient(session, actor, p.id, Purpose.CARE, action="create", context=context)
    log.info("patient.created", patient_id=str(p.id), status=status.value)
    return _views(session, [p], with_remarks=True)[0]


def attach_to_patient(session: Session, actor: Actor, data: Any, context: AuditContext | None = None,
                      settings: Settings | None = None) -> PatientView:
    """Join the record whose strict traits are those given, when a creation was refused as a duplicate.

    Knowing a person's traits (or INS) proves no care: joining opens no care relationship. It opens an
    exceptional access (``authz.break_glass``, ground ``identity_attach``): a written reason, limited to the
    break-the-glass duration, flagged in the audit trail (action ``attach``) and listed for the administrator's
    review. A lasting relationship then comes only from a care act started within that time (a tele-expertise
    request, an enrolment, ...). The record is found by its five strict traits only, never by the INS alone;
    traits that match no active record are the same ``NotFound`` as anything else out of reach. A caller who
    already sees the record just gets it.
    """
    _need(actor, Permission.PATIENT_WRITE)
    if not role_allows(actor.role, Permission.BREAK_GLASS):
        raise PermissionDenied(
            "Votre rôle ne permet pas d'accès exceptionnel : le dossier s'ouvre par un acte de soins (demande, "
            "rendez-vous, inclusion, admission) créé par un professionnel qui suit ce patient.")
    cfg = settings or get_settings()
    problems = break_glass_reason_problems(data.reason, cfg.break_glass_min_reason_chars)
    if problems:
        raise ValidationFailed("Motif insuffisant.", details=[{"field": "reason", "message": m} for m in problems])
    traits = _traits(data)
    p = repo.active_with_duplicate_key(session, key_text(traits))
    if p is None:
        fields: dict[str, Any] = dict(action="attach", object_type="patient", purpose=Purpose.CARE.value,
                                      outcome="denied", context=context, **actor.audit_fields)

        def audit(s: Session) -> None:
            record(s, **fields)

        after_rollback(session, audit)
        raise NotFound()
    if not authz.has_access(session, actor, p.id):
        authz.break_glass(session, actor, p.id, data.reason, context=context, settings=cfg,
                          ground=BreakGlassGround.IDENTITY_ATTACH)
    authz.access_patient(session, actor, p.id, Purpose.CARE, action="read", context=context)
    return _views(session, [p])[0]


# --- Reading ---------------------------------------------------------------------------------------------


def get_patient(session: Session, actor: Actor, patient_id: uuid.UUID | str, *, purpose: Purpose = Purpose.CARE,
                context: AuditContext | None = None) -> PatientView:
    grant = authz.access_patient(session, actor, patient_id, purpose, action="read", context=context)
    p = repo.patient(session, grant.patient_id)
    if p is None:
        raise NotFound()
    vigilance = purpose is Purpose.IDENTITY_VIGILANCE
    return _views(session, [p], with_remarks=vigilance or can_share_matricule(IdentityStatus(p.identity_status)))[0]


def search_patients(session: Session, actor: Actor, *, ins: str | None = None, name: str | None = None,
                    given_name: str | None = None, birth_date: dt.date | None = None, limit: int = 20,
                    context: AuditContext | None = None) -> list[PatientView]:
    """Find patients among those the actor may see: by INS matricule, or by traits (name, given name, date)."""
    _need(actor, Permission.PATIENT_READ)
    matricule = validate_nir(ins, field="ins").value if ins and ins.strip() else None
    name_norm = normalise_name(name) if name else ""
    given_norm = normalise_name(given_name) if given_name else ""
    if not (matricule or name_norm or given_norm or birth_date):
        message = "Recherche : indiquez un matricule INS, ou un nom, un prénom ou une date de naissance."
        raise ValidationFailed(message, details=[{"field": "ins", "message": message}])
    if name_norm and len(name_norm) < 2 and not birth_date:
        message = "Recherche : au moins deux lettres du nom, ou la date de naissance."
        raise ValidationFailed(message, details=[{"field": "name", "message": message}])
    found = repo.search(session, authz.accessible_patients(actor), matricule=matricule, name=name_norm or None,
                        given_name=given_norm or None, birth_date=birth_date, limit=limit)
    authz.audit_list(session, actor, object_type="patient", count=len(found), purpose=Purpose.CARE,
                     patient_ids=[p.id for p in found], context=context)
    return _views(session, found)


def professional_id_of(session: Session, actor: Actor) -> uuid.UUID | None:
    """The directory professional behind the actor's account, if any."""
    mine = directory.professional_of_user(session, actor.user_id)
    return mine.id if mine else None


def my_patients(session: Session, actor: Actor, context: AuditContext | None = None) -> list[PatientView]:
    """The patients the actor follows (a current care relationship), those whose médecin traitant they are first."""
    _need(actor, Permission.PATIENT_READ)
    mine = directory.professional_of_user(session, actor.user_id)
    found = repo.followed(session, authz.accessible_patients(actor), mine.id if mine else None)
    authz.audit_list(session, actor, object_type="patient", count=len(found), purpose=Purpose.CARE,
                     patient_ids=[p.id for p in found], context=context)
    return _views(session, found)


# --- Changing a record ---------------------------------------------------------------------------------------


def update_patient(session: Session, actor: Actor, patient_id: uuid.UUID, data: Any,
                   context: AuditContext | None = None) -> PatientView:
    """Change what is not identity: used names, contact, residence, médecin traitant."""
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="update", context=context)
    p = _active(session, grant.patient_id)
    fields = data.model_fields_set
    used_name, used_given_name = _used_names(data, fields)
    if "attending_professional_id" in fields or "attending_rpps" in fields:
        attending = _attending(session, data.attending_professional_id, data.attending_rpps)
        p.attending_professional_id = attending.id if attending else None
    if "commune_insee" in fields:
        p.commune_insee = _residence(data.commune_insee)
    if "used_name" in fields:
        p.used_name = used_name
        p.used_name_norm = normalise_name(used_name) if used_name else None
    if "used_given_name" in fields:
        p.used_given_name = used_given_name
    for name in ("phone", "email", "address_line", "postcode"):
        if name in fields:
            setattr(p, name, getattr(data, name))
    p.updated_at = now()
    session.flush()
    return _views(session, [p])[0]


def _active(session: Session, patient_id: uuid.UUID) -> Patient:
    p = repo.patient(session, patient_id)
    if p is None:
        raise NotFound()
    if p.merged_into_id is not None:
        raise Conflict("Ce dossier a été fusionné dans un autre : travaillez sur le dossier conservé.",
                       details={"merged_into_id": str(p.merged_into_id)})
    return p


def check_identity(session: Session, actor: Actor, patient_id: uuid.UUID, data: Any,
                   context: AuditContext | None = None) -> PatientView:
    """Record an INSi retrieval or verification and/or a high-trust document check; the status follows.

    Each check adds one fact: PROV → RECUP (INSi) or VALI (document) → QUAL (both), one step after the other
    (``check_transition``); a doubtful or fictitious identity stays provisional.
    """
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="update", context=context)
    p = _active(session, grant.patient_id)
    current = IdentityStatus(p.identity_status)
    ins = _ins(data.ins_matricule, data.ins_oid)
    document = _document(data.identity_document)
    if not data.insi_checked and document is None:
        message = "Vérification : indiquez l'appel au téléservice INSi ou la pièce d'identité contrôlée."
        raise ValidationFailed(message, details=[{"field": "insi_checked", "message": message}])
    if data.insi_checked:
        if ins is None and p.ins_matricule is None:
            message = "INS : indiquez le matricule et l'OID renvoyés par le téléservice INSi."
            raise ValidationFailed(message, details=[{"field": "ins_matricule", "message": message}])
        if ins is not None:
            other = repo.active_with_matricule(session, ins.matricule.value)
            if other is not None and other.id != p.id:
                # Tells that this INS is carried in the GHT, as a refused creation does: audited the same way.
                _audit_match(session, actor, other, "same_ins", context)
                raise Conflict("Ce matricule INS est déjà porté par un autre dossier : signalez un doublon potentiel "
                               "à la cellule d'identitovigilance.")
    attributes = [IdentityAttribute(a) for a in p.identity_attributes or []]
    insi = current.insi_checked or bool(data.insi_checked)
    doc = current.document_checked or document is not None
    target = status_for(insi_checked=insi, document_checked=doc)
    step = current
    if target is not current:
        if step is IdentityStatus.PROV and target is IdentityStatus.QUAL:
            step = check_transition(step, IdentityStatus.RECUP, attributes)
        check_transition(step, target, attributes)
    at = now()
    if data.insi_checked:
        if ins is not None:
            p.ins_matricule, p.ins_oid = ins.matricule.value, ins.oid.value
        p.insi_checked_at = at
    if document is not None:
        p.identity_document = document.value
        p.document_checked_at = at
    p.identity_status = target.value
    p.updated_at = at
    session.flush()
    record(session, action="update", object_type="patient_identity", object_id=str(p.id), patient_id=str(p.id),
           purpose=Purpose.CARE.value, context=context,
           details={"from_status": current.value, "to_status": target.value}, **actor.audit_fields)
    return _views(session, [p], with_remarks=True)[0]


def set_identity_attributes(session: Session, actor: Actor, patient_id: uuid.UUID, attributes: Sequence[str],
                            context: AuditContext | None = None) -> PatientView:
    """The identity officer flags an identity (doubtful, fictitious, homonym, duplicate, collision); a doubtful or
    fictitious identity falls back to provisional."""
    _need(actor, Permission.IDENTITY_MERGE)
    grant = authz.access_patient(session, actor, patient_id, Purpose.IDENTITY_VIGILANCE, action="update",
                                 permission=Permission.IDENTITY_MERGE, context=context)
    p = _active(session, grant.patient_id)
    try:
        flags = sorted({IdentityAttribute(a) for a in attributes})
    except ValueError:
        message = "Attributs : DOUT, FICT, HOMD, DOUB ou COLP."
        raise ValidationFailed(message, details=[{"field": "attributes", "message": message}]) from None
    current = IdentityStatus(p.identity_status)
    if {IdentityAttribute.DOUT, IdentityAttribute.FICT} & set(flags) and current is not IdentityStatus.PROV:
        check_transition(current, IdentityStatus.PROV)
        p.identity_status = IdentityStatus.PROV.value
    p.identity_attributes = [f.value for f in flags]
    p.updated_at = now()
    session.flush()
    return _views(session, [p], with_remarks=True)[0]


# --- Consents and objections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentStateView:
    purpose: ConsentPurpose
    decision: str | None
    recorded_at: dt.datetime | None

    @property
    def purpose_label(self) -> str:
        return self.purpose.label

    @property
    def label(self) -> str:
        if self.decision == ConsentDecision.OBJECTION:
            return "Opposition enregistrée"
        if self.decision == ConsentDecision.CONSENT:
            return "Consentement recueilli"
        return "Pas d'opposition" if self.purpose.opt_out else "Non recueilli"


def _root(session: Session, p: Patient) -> Patient:
    seen = {p.id}
    while p.merged_into_id is not None:
        parent = repo.patient(session, p.merged_into_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        p = parent
    return p


def record_consent(session: Session, actor: Actor, patient_id: uuid.UUID, data: Any,
                   context: AuditContext | None = None) -> PatientConsent:
    """Record a consent or an objection, with who and when; earlier choices stay in the history."""
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="update", object_type="consent",
                                 context=context)
    p = _active(session, grant.patient_id)
    problems = []
    for field_name, value, enum_type in (("purpose", data.purpose, ConsentPurpose),
                                         ("decision", data.decision, ConsentDecision),
                                         ("source", data.source, ConsentSource)):
        try:
            enum_type(value)
        except ValueError:
            allowed = ", ".join(e.value for e in enum_type)
            problems.append({"field": field_name, "message": f"« {value} » n'est pas permis ({allowed})."})
    if problems:
        raise ValidationFailed(problems[0]["message"], details=problems)
    row = PatientConsent(patient_id=p.id, purpose=data.purpose, decision=data.decision, source=data.source,
                         recorded_by=actor.user_id, recorded_at=now())
    session.add(row)
    session.flush()
    return row


def consent_history(session: Session, actor: Actor, patient_id: uuid.UUID,
                    context: AuditContext | None = None) -> list[PatientConsent]:
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="read", object_type="consent",
                                 context=context)
    p = repo.patient(session, grant.patient_id)
    if p is None:
        raise NotFound()
    return list(repo.consents_of(session, repo.group_ids(session, _root(session, p).id)))


def recorder_names(session: Session, history: Sequence[PatientConsent]) -> dict[uuid.UUID, str]:
    """Who recorded each choice of a history the caller has already been given (names of professionals)."""
    return repo.user_names(session, (row.recorded_by for row in history))


def consent_states(history: Sequence[PatientConsent]) -> list[ConsentStateView]:
    """The current choice per purpose from a history (newest first), for a record already accessed."""
    latest: dict[str, PatientConsent] = {}
    for row in history:
        latest.setdefault(row.purpose, row)
    return [ConsentStateView(purpose, latest[purpose.value].decision if purpose.value in latest else None,
                             latest[purpose.value].recorded_at if purpose.value in latest else None)
            for purpose in ConsentPurpose]


def objects_to_data_reuse(session: Session) -> set[uuid.UUID]:
    """Every patient record whose person objects to the reuse of their data for steering and research.

    A person is all the records merged together; their latest data-reuse choice, on whichever record, decides.
    Analytics extracts exclude these ids. This returns ids only (no patient data), so it needs no actor.
    """
    links = dict(repo.merge_links(session))

    def root(pid: uuid.UUID) -> uuid.UUID:
        seen = {pid}
        while pid in links and links[pid] not in seen:
            pid = links[pid]
            seen.add(pid)
        return pid

    objecting_records: set[uuid.UUID] = set(session.scalars(repo.latest_data_reuse_objections(session)))
    if not objecting_records:
        return set()
    latest_by_root: dict[uuid.UUID, tuple[dt.datetime, str]] = {}
    for row in repo.consents_of(session, list(objecting_records | set(links) | set(links.values()))):
        if row.purpose != ConsentPurpose.DATA_REUSE:
            continue
        r = root(row.patient_id)
        if r not in latest_by_root or row.recorded_at > latest_by_root[r][0]:
            latest_by_root[r] = (row.recorded_at, row.decision)
    objecting_roots = {r for r, (_, decision) in latest_by_root.items() if decision == ConsentDecision.OBJECTION}
    result = {pid for pid in objecting_records if root(pid) in objecting_roots}
    result |= objecting_roots
    result |= {pid for pid in links if root(pid) in objecting_roots}
    return result


def has_consent(session: Session, patient_id: uuid.UUID, purpose: ConsentPurpose) -> bool:
    """Whether the person's latest choice for this purpose is a consent (for a record already accessed by the
    caller: this returns a yes/no, never the history)."""
    p = repo.patient(session, patient_id)
    if p is None:
        return False
    history = repo.consents_of(session, repo.group_ids(session, _root(session, p).id))
    latest = next((row for row in history if row.purpose == purpose.value), None)
    return latest is not None and latest.decision == ConsentDecision.CONSENT


# --- Identity vigilance --------------------------------------------------------------------------------------

DUPLICATE_REASONS = {
    "same_ins": "Même matricule INS",
    "same_traits": "Traits stricts identiques",
    "close_traits": "Traits stricts proches",
}


@dataclass(frozen=True)
class DuplicatePair:
    first: PatientView
    second: PatientView
    reason: str
    differing: list[str]

    @property
    def reason_label(self) -> str:
        label = DUPLICATE_REASONS[self.reason]
        if self.differing:
            label += " (" + ", ".join(TRAIT_LABELS[t].lower() for t in self.differing) + " diffère)"
        return label

    @property
    def differing_traits(self) -> list[str]:
        return self.differing

    @property
    def suggested_kept(self) -> PatientView:
        """The record to keep: the more reliable identity, then the one with an INS, then the older one."""
        def score(v: PatientView) -> tuple[int, int, float]:
            p = v.patient
            return (_rank(p.identity_status), int(p.ins_matricule is not None), -p.created_at.timestamp())

        return self.first if score(self.first) >= score(self.second) else self.second


def _close_names(a: str, b: str) -> bool:
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


def classify_pair(a: Patient, b: Patient) -> tuple[str, list[str]] | None:
    """Why two active records may be one person, or None: same INS matricule, identical strict traits (after
    normalisation), or strict traits that differ by one trait only (names close when it is a name)."""
    diff = sorted(differing_traits(traits_of(a), traits_of(b)))
    if a.ins_matricule and a.ins_matricule == b.ins_matricule:
        return "same_ins", diff
    if a.duplicate_key == b.duplicate_key:
        return "same_traits", diff
    if len(diff) != 1:
        return None
    if diff == ["birth_name"] and not _close_names(a.birth_name_norm, b.birth_name_norm):
        return None
    if diff == ["given_names"] and a.first_given_name_norm != b.first_given_name_norm \
            and not _close_names(a.first_given_name_norm, b.first_given_name_norm):
        return None
    return "close_traits", diff


def potential_duplicates(session: Session, actor: Actor, context: AuditContext | None = None) -> list[DuplicatePair]:
    """The identity officer's worklist: pairs of active records that may be one person, not yet reviewed."""
    _need(actor, Permission.IDENTITY_MERGE)
    candidates = list(repo.duplicate_candidates(session))
    reviewed = repo.reviewed_pairs(session)
    buckets: dict[tuple[str, ...], list[Patient]] = {}
    for p in candidates:
        buckets.setdefault(("date", p.birth_date.isoformat()), []).append(p)
        buckets.setdefault(("names", p.birth_name_norm, p.first_given_name_norm), []).append(p)
        if p.ins_matricule:
            buckets.setdefault(("ins", p.ins_matricule), []).append(p)
    pairs: dict[tuple[uuid.UUID, uuid.UUID], tuple[Patient, Patient, str, list[str]]] = {}
    for members in buckets.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                first, second = (a, b) if str(a.id) < str(b.id) else (b, a)
                key = (first.id, second.id)
                if key in pairs or key in reviewed:
                    continue
                found = classify_pair(first, second)
                if found is not None:
                    pairs[key] = (first, second, *found)
    order = {"same_ins": 0, "same_traits": 1, "close_traits": 2}
    ranked = sorted(pairs.values(), key=lambda t: (order[t[2]], t[0].birth_name_norm, t[0].birth_date))
    views = {v.patient.id: v for v in _views(session, [p for t in ranked for p in t[:2]])}
    authz.audit_list(session, actor, object_type="patient", count=2 * len(ranked),
                     purpose=Purpose.IDENTITY_VIGILANCE, patient_ids=list(views), context=context)
    return [DuplicatePair(views[a.id], views[b.id], reason, diff) for a, b, reason, diff in ranked]


def _rank(status: str) -> int:
    return {"PROV": 0, "RECUP": 1, "VALI": 1, "QUAL": 2}[status]


def merge_patients(session: Session, actor: Actor, *, kept_id: uuid.UUID, merged_id: uuid.UUID, reason: str,
                   context: AuditContext | None = None) -> IdentityMerge:
    """Merge two records of one person: the merged record points at the kept one and its care relationships are
    extended to it. Reversible (``unmerge_patients``). The kept record must be at least as reliable."""
    _need(actor, Permission.IDENTITY_MERGE)
    text = " ".join(reason.split())
    if len(text) < 5:
        raise ValidationFailed("Motif : expliquez la fusion.", details=[{"field": "reason",
                                                                        "message": "Motif trop court."}])
    if kept_id == merged_id:
        raise ValidationFailed("Fusion : choisissez deux dossiers différents.",
                               details=[{"field": "merged_patient_id", "message": "Même dossier."}])
    for pid in (kept_id, merged_id):
        authz.access_patient(session, actor, pid, Purpose.IDENTITY_VIGILANCE, action="merge",
                             permission=Permission.IDENTITY_MERGE, context=context)
    kept, merged = _active(session, kept_id), _active(session, merged_id)
    if _rank(merged.identity_status) > _rank(kept.identity_status):
        raise ValidationFailed(
            "Fusion : conservez l'identité la plus fiable "
            f"({IdentityStatus(merged.identity_status).label} contre {IdentityStatus(kept.identity_status).label}).",
            details=[{"field": "kept_patient_id", "message": "Le dossier conservé est moins fiable."}])
    if kept.ins_matricule and merged.ins_matricule and kept.ins_matricule != merged.ins_matricule:
        raise ValidationFailed("Fusion : les deux dossiers portent des matricules INS différents ; ce sont deux "
                               "personnes ou l'un des matricules est erroné (vérifiez par INSi).",
                               details=[{"field": "merged_patient_id", "message": "Matricules INS différents."}])
    at = now()
    m = IdentityMerge(kept_patient_id=kept.id, merged_patient_id=merged.id, reason=text, merged_by=actor.user_id,
                      merged_at=at)
    session.add(m)
    session.flush()
    copied = 0
    for rel in repo.current_relationships(session, merged.id, at):
        authz.grant_relationship(session, user_id=rel.user_id, patient_id=kept.id, kind=rel.kind,
                                 source_type="identity_merge", source_id=str(m.id), ends_at=rel.ends_at)
        copied += 1
    m.relationships_copied = copied
    merged.merged_into_id = kept.id
    merged.updated_at = at
    session.flush()
    record(session, action="merge", object_type="identity_merge", object_id=str(m.id), patient_id=str(kept.id),
           purpose=Purpose.IDENTITY_VIGILANCE.value, context=context,
           details={"merged_patient_id": str(merged.id), "relationships_copied": copied}, **actor.audit_fields)
    return m


def unmerge_patients(session: Session, actor: Actor, merge_id: uuid.UUID, reason: str,
                     context: AuditContext | None = None) -> IdentityMerge:
    """Undo a merge: the merged record is active again and the relationships the merge extended end."""
    _need(actor, Permission.IDENTITY_MERGE)
    m = repo.merge(session, merge_id)
    if m is None:
        raise NotFound("Fusion introuvable.")
    if m.unmerged_at is not None:
        raise Conflict("Cette fusion a déjà été annulée.")
    text = " ".join(reason.split())
    if len(text) < 5:
        raise ValidationFailed("Motif : expliquez l'annulation.", details=[{"field": "reason",
                                                                           "message": "Motif trop court."}])
    for pid in (m.kept_patient_id, m.merged_patient_id):
        authz.access_patient(session, actor, pid, Purpose.IDENTITY_VIGILANCE, action="unmerge",
                             permission=Permission.IDENTITY_MERGE, context=context)
    merged = repo.patient(session, m.merged_patient_id)
    if merged is None or merged.merged_into_id != m.kept_patient_id:
        raise Conflict("Le dossier fusionné a changé depuis : la fusion ne peut plus être annulée telle quelle.")
    at = now()
    merged.merged_into_id = None
    merged.updated_at = at
    authz.end_relationships(session, source_type="identity_merge", source_id=str(m.id))
    m.unmerged_at, m.unmerged_by, m.unmerge_reason = at, actor.user_id, text
    session.flush()
    record(session, action="unmerge", object_type="identity_merge", object_id=str(m.id),
           patient_id=str(m.kept_patient_id), purpose=Purpose.IDENTITY_VIGILANCE.value, context=context,
           details={"merged_patient_id": str(m.merged_patient_id)}, **actor.audit_fields)
    return m


def mark_distinct(session: Session, actor: Actor, first_id: uuid.UUID, second_id: uuid.UUID,
                  context: AuditContext | None = None) -> IdentityPairReview:
    """Two records are two people (homonyms): they leave the worklist and both carry the HOMD attribute."""
    _need(actor, Permission.IDENTITY_MERGE)
    if first_id == second_id:
        raise ValidationFailed("Choisissez deux dossiers différents.",
                               details=[{"field": "second_patient_id", "message": "Même dossier."}])
    a, b = sorted([first_id, second_id], key=str)
    for pid in (a, b):
        authz.access_patient(session, actor, pid, Purpose.IDENTITY_VIGILANCE, action="update",
                             permission=Permission.IDENTITY_MERGE, context=context)
    existing = repo.pair_review(session, a, b)
    if existing is not None:
        return existing
    for pid in (a, b):
        p = _active(session, pid)
        if IdentityAttribute.HOMD.value not in (p.identity_attributes or []):
            p.identity_attributes = sorted([*(p.identity_attributes or []), IdentityAttribute.HOMD.value])
    review = IdentityPairReview(first_patient_id=a, second_patient_id=b, reviewed_by=actor.user_id)
    session.add(review)
    session.flush()
    return review


def recent_merges(session: Session, actor: Actor, context: AuditContext | None = None) -> list[IdentityMerge]:
    """The latest merges, for the identity officer to review or undo (listed records audited as a search)."""
    _need(actor, Permission.IDENTITY_MERGE)
    merges = list(repo.recent_merges(session))
    authz.audit_list(session, actor, object_type="identity_merge", count=len(merges),
                     purpose=Purpose.IDENTITY_VIGILANCE,
                     patient_ids=[i for m in merges for i in (m.kept_patient_id, m.merged_patient_id)],
                     context=context)
    return merges


def merge_parties(session: Session, merges: Sequence[IdentityMerge]) -> dict[uuid.UUID, PatientView]:
    """The records of the merges listed to the identity officer (their list access is audited by the caller)."""
    ids = [i for m in merges for i in (m.kept_patient_id, m.merged_patient_id)]
    return {v.patient.id: v for v in _views(session, list(repo.patients_by_ids(session, ids).values()))}
