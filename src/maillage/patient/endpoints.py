"""JSON API of patient identity (``/api/patients/...``): the same rules as the pages.

Every route that touches a patient goes through the package's use cases (``service``, ``consent``,
``vigilance``), hence ``access_patient``: a patient the caller has no care relationship with is 404, as if it did
not exist. The INS matricule is returned only for a qualified identity. Creating a patient whose strict traits or
INS match an existing record answers 409 with the same neutral body whichever matched: no id, no status
(``details.existing_patient_id`` only for a caller who may already see that record). To join it without a care
act, ``POST /api/patients/attach`` with the five strict traits and a written reason opens an exceptional,
time-limited access flagged for the administrator's review.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from maillage.kit.dates import IsoDate
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.patient import consent, service, views, vigilance
from maillage.patient.schemas import (
    AttachRequest,
    ConsentCreate,
    ConsentRead,
    ConsentState,
    DistinctPair,
    DuplicatePairRead,
    IdentityCheck,
    InsRead,
    MergeCreate,
    MergeRead,
    PatientCreate,
    PatientRead,
    PatientSummary,
    PatientUpdate,
    UnmergeRequest,
)
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

router = APIRouter(prefix="/api/patients", tags=["patients"], route_class=UnitOfWorkRoute)
Reader = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]
Writer = Annotated[Actor, Depends(require(Permission.PATIENT_WRITE))]
Officer = Annotated[Actor, Depends(require(Permission.IDENTITY_MERGE))]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Non authentifié"}, 403: {"description": "Action non permise pour ce rôle"},
    404: {"description": "Introuvable, ou hors de vos relations de soins"}, 422: {"description": "Données invalides"},
}
CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 409: {"description": "Identité déjà connue (traits stricts ou INS) ; rien n'est dit du dossier existant"},
}


class ConsentsRead(BaseModel):
    current: list[ConsentState]
    history: list[ConsentRead]


class AttributesWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: list[str] = Field(default_factory=list, max_length=5, description="DOUT, FICT, HOMD, DOUB, COLP")


def summary(view: views.PatientView) -> PatientSummary:
    return PatientSummary(
        id=view.patient.id, birth_name=view.patient.birth_name, used_name=view.patient.used_name,
        given_names=view.patient.given_names, birth_date=view.patient.birth_date, sex=view.patient.sex,
        identity_status=view.patient.identity_status, identity_status_label=view.identity_status_label,
        ins=InsRead(**view.ins) if view.ins else None,
    )


def read(view: views.PatientView) -> PatientRead:
    p = view.patient
    return PatientRead(
        **summary(view).model_dump(), birthplace=p.birthplace, used_given_name=p.used_given_name,
        identity_attributes=view.attributes, identity_document=p.identity_document, phone=p.phone, email=p.email,
        address_line=p.address_line, postcode=p.postcode, commune_insee=p.commune_insee,
        commune_name=view.commune_name, attending_professional_id=p.attending_professional_id,
        attending_name=view.attending_name, merged_into_id=p.merged_into_id, remarks=view.remarks,
    )


def pair(p: vigilance.DuplicatePair) -> DuplicatePairRead:
    return DuplicatePairRead(first=summary(p.first), second=summary(p.second), reason=p.reason,
                             reason_label=p.reason_label, differing_traits=p.differing)


# --- Identity vigilance (declared before /{patient_id}) -----------------------------------------------------


@router.get("/identity-vigilance/duplicates", response_model=list[DuplicatePairRead],
            summary="Doublons potentiels (référent identitovigilance)", responses=ERRORS)
def duplicates(request: Request, db: DbSession, actor: Officer) -> list[DuplicatePairRead]:
    return [pair(p) for p in vigilance.potential_duplicates(db, actor, context=audit_context(request))]


@router.get("/identity-vigilance/merges", response_model=list[MergeRead], summary="Fusions récentes",
            responses=ERRORS)
def merges(request: Request, db: DbSession, actor: Officer) -> list[MergeRead]:
    return [MergeRead.model_validate(m) for m in vigilance.recent_merges(db, actor, context=audit_context(request))]


@router.post("/identity-vigilance/merges", response_model=MergeRead, status_code=201,
             summary="Fusionner deux dossiers d'une même personne", responses={**ERRORS, 409: {"description":
                                                                                        "Dossier déjà fusionné"}})
def merge(body: MergeCreate, request: Request, db: DbSession, actor: Officer) -> MergeRead:
    m = vigilance.merge_patients(db, actor, kept_id=body.kept_patient_id, merged_id=body.merged_patient_id,
                                 reason=body.reason, context=audit_context(request))
    return MergeRead.model_validate(m)


@router.post("/identity-vigilance/merges/{merge_id}/undo", response_model=MergeRead, summary="Annuler une fusion",
             responses={**ERRORS, 409: {"description": "Fusion déjà annulée"}})
def unmerge(merge_id: uuid.UUID, body: UnmergeRequest, request: Request, db: DbSession, actor: Officer) -> MergeRead:
    return MergeRead.model_validate(vigilance.unmerge_patients(db, actor, merge_id, body.reason,
                                                               context=audit_context(request)))


@router.post("/identity-vigilance/distinct", status_code=204, summary="Déclarer deux dossiers distincts (homonymes)",
             responses=ERRORS)
def distinct(body: DistinctPair, request: Request, db: DbSession, actor: Officer) -> Response:
    vigilance.mark_distinct(db, actor, body.first_patient_id, body.second_patient_id, context=audit_context(request))
    return Response(status_code=204)


# --- Patients ----------------------------------------------------------------------------------------------


@router.get("", response_model=list[PatientSummary], summary="Rechercher un patient parmi ceux que vous suivez",
            responses=ERRORS)
def search(request: Request, db: DbSession, actor: Reader,
           ins: Annotated[str, Query(max_length=21, description="Matricule INS (NIR ou NIA)")] = "",
           name: Annotated[str, Query(max_length=100, description="Nom de naissance ou nom utilisé (début)")] = "",
           given_name: Annotated[str, Query(max_length=100)] = "", birth_date: IsoDate | None = None,
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[PatientSummary]:
    found = service.search_patients(db, actor, ins=ins or None, name=name or None, given_name=given_name or None,
                                    birth_date=birth_date, limit=limit, context=audit_context(request))
    return [summary(v) for v in found]


@router.get("/mine", response_model=list[PatientSummary], summary="Les patients que je suis (médecin traitant d'abord)",
            responses=ERRORS)
def mine(request: Request, db: DbSession, actor: Reader) -> list[PatientSummary]:
    return [summary(v) for v in service.my_patients(db, actor, context=audit_context(request))]


@router.post("", response_model=PatientRead, status_code=201, summary="Créer un patient (identitovigilance)",
             responses=CREATE_ERRORS)
def create(body: PatientCreate, request: Request, db: DbSession, actor: Writer) -> PatientRead:
    return read(service.create_patient(db, actor, body, context=audit_context(request)))


# `:uuid`: "/mine" is not a patient id, so PATCH /mine is a 405 (Allow: GET), not a 422 from this route.
@router.get("/{patient_id:uuid}", response_model=PatientRead, summary="Un patient", responses=ERRORS)
def read_patient(patient_id: uuid.UUID, request: Request, db: DbSession, actor: Reader,
                 purpose: Annotated[str, Query(description="care ou identity_vigilance")] = "care") -> PatientRead:
    finality = Purpose.IDENTITY_VIGILANCE if purpose == Purpose.IDENTITY_VIGILANCE else Purpose.CARE
    return read(service.get_patient(db, actor, patient_id, purpose=finality, context=audit_context(request)))


@router.patch("/{patient_id:uuid}", response_model=PatientRead, summary="Modifier contact, résidence, médecin traitant",
              responses={**ERRORS, 409: {"description": "Dossier fusionné"}})
def update(patient_id: uuid.UUID, body: PatientUpdate, request: Request, db: DbSession, actor: Writer) -> PatientRead:
    return read(service.update_patient(db, actor, patient_id, body, context=audit_context(request)))


@router.post("/attach", response_model=PatientRead,
             summary="Accès exceptionnel à une identité déjà connue (traits stricts, motif écrit, durée limitée)",
             responses=ERRORS)
def attach(body: AttachRequest, request: Request, db: DbSession, actor: Writer) -> PatientRead:
    return read(service.attach_to_patient(db, actor, body, context=audit_context(request),
                                          settings=request.app.state.settings))


@router.post("/{patient_id}/identity-checks", response_model=PatientRead,
             summary="Enregistrer une vérification INSi ou de pièce d'identité",
             responses={**ERRORS, 409: {"description": "Changement de statut non permis ou matricule déjà porté"}})
def identity_check(patient_id: uuid.UUID, body: IdentityCheck, request: Request, db: DbSession,
                   actor: Writer) -> PatientRead:
    return read(service.check_identity(db, actor, patient_id, body, context=audit_context(request)))


@router.put("/{patient_id}/identity-attributes", response_model=PatientRead,
            summary="Attributs de l'identité (référent identitovigilance)", responses=ERRORS)
def identity_attributes(patient_id: uuid.UUID, body: AttributesWrite, request: Request, db: DbSession,
                        actor: Officer) -> PatientRead:
    return read(service.set_identity_attributes(db, actor, patient_id, body.attributes,
                                                context=audit_context(request)))


@router.get("/{patient_id}/consents", response_model=ConsentsRead, summary="Consentements et oppositions",
            responses=ERRORS)
def consents(patient_id: uuid.UUID, request: Request, db: DbSession, actor: Reader) -> ConsentsRead:
    history = consent.consent_history(db, actor, patient_id, context=audit_context(request))
    return ConsentsRead(
        current=[ConsentState(purpose=s.purpose.value, purpose_label=s.purpose_label, decision=s.decision,
                              label=s.label, recorded_at=s.recorded_at) for s in consent.consent_states(history)],
        history=[ConsentRead.model_validate(c) for c in history],
    )


@router.post("/{patient_id}/consents", response_model=ConsentRead, status_code=201,
             summary="Enregistrer un consentement ou une opposition", responses=ERRORS)
def record_consent(patient_id: uuid.UUID, body: ConsentCreate, request: Request, db: DbSession,
                   actor: Writer) -> ConsentRead:
    return ConsentRead.model_validate(consent.record_consent(db, actor, patient_id, body,
                                                             context=audit_context(request)))
