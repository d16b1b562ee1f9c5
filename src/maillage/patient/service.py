"""Use cases of patient identity: create (with identity vigilance), find, read, update, verify. Consents and
objections live in ``consent``, the identity officer's duplicates and merges in ``vigilance``, the shown form of a
record in ``views``.

Every read or write of a patient goes through ``maillage.authz.service.access_patient`` (care relationship or
break-the-glass, audited in the same transaction) and every list through ``accessible_patients`` plus
``audit_list``. The identity officer reaches identities for identity vigilance only (``Purpose.IDENTITY_VIGILANCE``).
The INS matricule leaves this module in clear only for a qualified identity (``can_share_matricule``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.authz import service as authz
from maillage.authz.rules import BreakGlassGround, RelationshipKind, break_glass_reason_problems
from maillage.config import Settings, get_settings
from maillage.directory import communes
from maillage.directory import service as directory
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.logging import get_logger
from maillage.models.directory import Professional
from maillage.models.patient import Patient
from maillage.patient import repository as repo
from maillage.patient.rules import (
    IdentityAttribute,
    IdentityStatus,
    Ins,
    InsOid,
    StrictTraits,
    can_share_matricule,
    check_name,
    check_transition,
    make_ins,
    make_traits,
    normalise_name,
    status_for,
    validate_nir,
)
from maillage.patient.schemas import IdentityDocument
from maillage.patient.views import PatientView, key_text, patient_views
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose

log = get_logger("maillage.patient")


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


# --- Helpers ---------------------------------------------------------------------------------------------


def require(actor: Actor, permission: Permission) -> None:
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
    authz.record_refusal(session, actor, action="propose", object_type="patient", object_id=str(existing.id),
                         patient_id=existing.id, purpose=Purpose.CARE, context=context, details={"match": match})


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
    require(actor, Permission.PATIENT_WRITE)
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
    return patient_views(session, [p], with_remarks=True)[0]


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
    require(actor, Permission.PATIENT_WRITE)
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
        authz.record_refusal(session, actor, action="attach", object_type="patient", purpose=Purpose.CARE,
                             context=context)
        raise NotFound()
    if not authz.has_access(session, actor, p.id):
        authz.break_glass(session, actor, p.id, data.reason, context=context, settings=cfg,
                          ground=BreakGlassGround.IDENTITY_ATTACH)
    authz.access_patient(session, actor, p.id, Purpose.CARE, action="read", context=context)
    return patient_views(session, [p])[0]


# --- Reading ---------------------------------------------------------------------------------------------


def get_patient(session: Session, actor: Actor, patient_id: uuid.UUID | str, *, purpose: Purpose = Purpose.CARE,
                context: AuditContext | None = None) -> PatientView:
    grant = authz.access_patient(session, actor, patient_id, purpose, action="read", context=context)
    p = repo.patient(session, grant.patient_id)
    if p is None:
        raise NotFound()
    vigilance = purpose is Purpose.IDENTITY_VIGILANCE
    remarks = vigilance or can_share_matricule(IdentityStatus(p.identity_status))
    return patient_views(session, [p], with_remarks=remarks)[0]


def search_patients(session: Session, actor: Actor, *, ins: str | None = None, name: str | None = None,
                    given_name: str | None = None, birth_date: dt.date | None = None, limit: int = 20,
                    context: AuditContext | None = None) -> list[PatientView]:
    """Find patients among those the actor may see: by INS matricule, or by traits (name, given name, date)."""
    require(actor, Permission.PATIENT_READ)
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
    return patient_views(session, found)


def patients_page(session: Session, actor: Actor, *, ids: Sequence[uuid.UUID] | None = None,
                  matricule: str | None = None, oid: str | None = None,
                  updated: Sequence[tuple[str, dt.datetime]] = (), by_updated: bool = False, descending: bool = False,
                  after: tuple[dt.datetime | None, uuid.UUID] | None = None, limit: int = 20,
                  context: AuditContext | None = None) -> tuple[list[PatientView], bool]:
    """One keyset page of the patients the actor may see, for an exchange format (the FHIR door's ``Patient``
    search), and whether another page follows; one audit entry listing the patients returned."""
    require(actor, Permission.PATIENT_READ)
    size = max(1, min(limit, 1000))
    found = list(repo.page_for_exchange(session, authz.accessible_patients(actor), ids=ids, matricule=matricule,
                                        oid=oid, updated=updated, by_updated=by_updated, descending=descending,
                                        after=after, limit=size + 1))
    more = len(found) > size
    found = found[:size]
    authz.audit_list(session, actor, object_type="patient", count=len(found), purpose=Purpose.CARE,
                     patient_ids=[p.id for p in found], context=context)
    return patient_views(session, found), more


def professional_id_of(session: Session, actor: Actor) -> uuid.UUID | None:
    """The directory professional behind the actor's account, if any."""
    mine = directory.professional_of_user(session, actor.user_id)
    return mine.id if mine else None


def views_in_scope(session: Session, actor: Actor, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PatientView]:
    """The patients among ``patient_ids`` the actor may see now, one query, for a caller that has listed them and
    audited the list (``authz.audit_list``): an exchange format's page of resources about several patients."""
    require(actor, Permission.PATIENT_READ)
    found = repo.patients_in(session, authz.accessible_patients(actor), patient_ids)
    return {v.patient.id: v for v in patient_views(session, found)}


def my_patients(session: Session, actor: Actor, context: AuditContext | None = None) -> list[PatientView]:
    """The patients the actor follows (a current care relationship), those whose médecin traitant they are first."""
    require(actor, Permission.PATIENT_READ)
    mine = directory.professional_of_user(session, actor.user_id)
    found = repo.followed(session, authz.accessible_patients(actor), mine.id if mine else None)
    authz.audit_list(session, actor, object_type="patient", count=len(found), purpose=Purpose.CARE,
                     patient_ids=[p.id for p in found], context=context)
    return patient_views(session, found)


# --- Changing a record ---------------------------------------------------------------------------------------


def update_patient(session: Session, actor: Actor, patient_id: uuid.UUID, data: Any,
                   context: AuditContext | None = None) -> PatientView:
    """Change what is not identity: used names, contact, residence, médecin traitant."""
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="update", context=context)
    p = active_record(session, grant.patient_id)
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
    return patient_views(session, [p])[0]


def active_record(session: Session, patient_id: uuid.UUID) -> Patient:
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
    p = active_record(session, grant.patient_id)
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
    return patient_views(session, [p], with_remarks=True)[0]


def set_identity_attributes(session: Session, actor: Actor, patient_id: uuid.UUID, attributes: Sequence[str],
                            context: AuditContext | None = None) -> PatientView:
    """The identity officer flags an identity (doubtful, fictitious, homonym, duplicate, collision); a doubtful or
    fictitious identity falls back to provisional."""
    require(actor, Permission.IDENTITY_MERGE)
    grant = authz.access_patient(session, actor, patient_id, Purpose.IDENTITY_VIGILANCE, action="update",
                                 permission=Permission.IDENTITY_MERGE, context=context)
    p = active_record(session, grant.patient_id)
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
    return patient_views(session, [p], with_remarks=True)[0]

