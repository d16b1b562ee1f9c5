"""JSON API of tele-expertise (``/api/teleexpertise/...``): one route per step of the workflow.

A request is visible to its requester, its specialist and the professionals of its line; anyone else gets 404,
as if it did not exist. A step the request's status forbids answers 409; two specialists claiming at once: one
gets the request, the other 409.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from maillage.document.schemas import DocumentRead
from maillage.document.uploads import UPLOAD_BODY, Upload, read_upload
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.pagination import Page, PageParams, page_params
from maillage.models.teleexpertise import TeleexpertiseRequest
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.teleexpertise import rules, service
from maillage.teleexpertise.schemas import (
    ActRead,
    AdmissionRead,
    AdmissionUpdate,
    AssignIn,
    AttachmentRead,
    EventRead,
    MessageIn,
    MessageRead,
    OpinionIn,
    ReasonIn,
    RequestCreate,
    RequestRead,
    RequestSummary,
    SubmitIn,
    TransferIn,
)

router = APIRouter(prefix="/api/teleexpertise", tags=["téléexpertise"], route_class=UnitOfWorkRoute)
Requester = Annotated[Actor, Depends(require(Permission.TELEEXPERTISE_REQUEST))]
Expert = Annotated[Actor, Depends(require(Permission.TELEEXPERTISE_ANSWER))]
Coordinator = Annotated[Actor, Depends(require(Permission.TELEEXPERTISE_COORDINATE))]
Paging = Annotated[PageParams, Depends(page_params)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Non authentifié"},
    403: {"description": "Action non permise pour ce rôle, ou pour votre place dans la demande"},
    404: {"description": "Introuvable, ou hors de vos demandes et de vos lignes"},
    409: {"description": "Étape impossible au statut actuel, ou demande modifiée entre-temps"},
    422: {"description": "Données invalides ou incomplètes (détail champ par champ)"},
}


class LineRead(BaseModel):
    id: uuid.UUID
    title: str
    specialty_code: str


def summary(req: TeleexpertiseRequest) -> RequestSummary:
    fhir, reason = rules.fhir_status(rules.Status(req.status))
    return RequestSummary(
        id=req.id, patient_id=req.patient_id, line_id=req.line_id, status=req.status, fhir_status=fhir,
        fhir_status_reason=reason, urgency=req.urgency, requester_id=req.requester_id, assignee_id=req.assignee_id,
        named_expert_id=req.named_expert_id, submitted_at=req.submitted_at, due_at=req.due_at,
        overdue=service.is_overdue(req),
    )


def detail(d: service.RequestDetail) -> RequestRead:
    r = d.request
    return RequestRead(
        **summary(r).model_dump(), question=r.question, clinical_context=r.clinical_context, provided=r.provided,
        patient_inpatient=r.patient_inpatient, answer=r.answer, orientation=r.orientation, act=r.act,
        delay_days=r.delay_days, signed_by=r.signed_by, signed_at=r.signed_at, closing_reason=r.closing_reason,
        messages=[MessageRead.model_validate(m) for m in d.messages],
        timeline=[EventRead.model_validate(e) for e in d.events],
        attachments=[AttachmentRead.model_validate(a) for a in d.attachments],
        admission=AdmissionRead.model_validate(d.admission) if d.admission else None,
        acts=[ActRead.model_validate(a) for a in d.acts],
    )


def _page(rows: list[TeleexpertiseRequest], page: PageParams) -> Page[RequestSummary]:
    return Page[RequestSummary](items=[summary(r) for r in rows[: page.limit]], limit=page.limit,
                                offset=page.offset, has_more=len(rows) > page.limit)


@router.get("/requests", response_model=Page[RequestSummary], summary="Mes demandes (requérant)", responses=ERRORS)
def my_requests(request: Request, db: DbSession, actor: Requester, page: Paging) -> Page[RequestSummary]:
    rows = service.my_requests(db, actor, limit=page.limit + 1, offset=page.offset, context=audit_context(request))
    return _page(rows, page)


@router.post("/requests", status_code=201, response_model=RequestRead, summary="Créer un brouillon de demande",
             responses=ERRORS)
def create(body: RequestCreate, request: Request, db: DbSession, actor: Requester) -> RequestRead:
    req = service.create_request(db, actor, body, context=audit_context(request))
    return detail(service.get_request(db, actor, req.id, context=audit_context(request)))


@router.get("/lines", response_model=list[LineRead], summary="Les lignes auxquelles je réponds", responses=ERRORS)
def my_lines(db: DbSession, actor: Expert) -> list[LineRead]:
    return [LineRead(id=line.id, title=line.title, specialty_code=line.specialty_code)
            for line in service.my_lines(db, actor)]


@router.get("/lines/{line_id}/worklist", response_model=Page[RequestSummary],
            summary="File d'une ligne : par urgence puis échéance", responses=ERRORS)
def worklist(line_id: uuid.UUID, request: Request, db: DbSession, actor: Expert, page: Paging) -> Page[RequestSummary]:
    rows = service.worklist(db, actor, line_id, limit=page.limit + 1, offset=page.offset,
                            context=audit_context(request))
    return _page(rows, page)


@router.get("/requests/{request_id}", response_model=RequestRead, summary="Lire une demande", responses=ERRORS)
def read(request_id: uuid.UUID, request: Request, db: DbSession, actor: Requester) -> RequestRead:
    return detail(service.get_request(db, actor, request_id, context=audit_context(request)))


def _after(db: DbSession, actor: Actor, request_id: uuid.UUID, request: Request) -> RequestRead:
    return detail(service.get_request(db, actor, request_id, context=audit_context(request)))


@router.post("/requests/{request_id}/attachments", status_code=201, response_model=DocumentRead,
             summary="Joindre un fichier (photo, compte rendu)", openapi_extra=UPLOAD_BODY,
             responses={**ERRORS, 415: {"description": "Format de fichier refusé (le message dit ce qu'est réellement "
                                                       "le fichier)"}})
def attach(request_id: uuid.UUID, request: Request, db: DbSession, actor: Requester,
           upload: Annotated[Upload, Depends(read_upload)]) -> DocumentRead:
    doc = service.add_attachment(db, actor, request_id, filename=upload.filename, data=upload.data,
                                 declared_type=upload.declared_type, title=upload.title,
                                 context=audit_context(request))
    return DocumentRead.model_validate(doc)


@router.post("/requests/{request_id}/submit", response_model=RequestRead,
             summary="Envoyer la demande à la ligne (vérifie ce que la ligne exige et le consentement)",
             responses=ERRORS)
def submit(request_id: uuid.UUID, body: SubmitIn, request: Request, db: DbSession, actor: Requester) -> RequestRead:
    service.submit(db, actor, request_id, consent_recorded_now=body.consent_recorded_now,
                   context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/claim", response_model=RequestRead, summary="Prendre en charge",
             responses=ERRORS)
def claim(request_id: uuid.UUID, request: Request, db: DbSession, actor: Expert) -> RequestRead:
    service.claim(db, actor, request_id, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/assign", response_model=RequestRead, summary="Attribuer (coordination)",
             responses=ERRORS)
def assign(request_id: uuid.UUID, body: AssignIn, request: Request, db: DbSession,
           actor: Coordinator) -> RequestRead:
    service.assign(db, actor, request_id, body.to_professional_id, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/hand-back", response_model=RequestRead, summary="Remettre dans la file",
             responses=ERRORS)
def hand_back(request_id: uuid.UUID, body: ReasonIn, request: Request, db: DbSession, actor: Expert) -> RequestRead:
    service.hand_back(db, actor, request_id, body.reason, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/transfer", response_model=RequestRead, summary="Confier à un confrère",
             responses=ERRORS)
def transfer(request_id: uuid.UUID, body: TransferIn, request: Request, db: DbSession, actor: Expert) -> RequestRead:
    service.transfer(db, actor, request_id, body.to_professional_id, body.reason, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/questions", response_model=RequestRead,
             summary="Demander un complément (suspend l'échéance)", responses=ERRORS)
def ask(request_id: uuid.UUID, body: MessageIn, request: Request, db: DbSession, actor: Expert) -> RequestRead:
    service.ask(db, actor, request_id, body, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/replies", response_model=RequestRead, summary="Répondre au complément demandé",
             responses=ERRORS)
def reply(request_id: uuid.UUID, body: MessageIn, request: Request, db: DbSession, actor: Requester) -> RequestRead:
    service.reply(db, actor, request_id, body, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/opinion", response_model=RequestRead,
             summary="Rendre et signer l'avis (orientation ; hospitalisation ou transfert : demande d'admission)",
             responses=ERRORS)
def answer(request_id: uuid.UUID, body: OpinionIn, request: Request, db: DbSession, actor: Expert) -> RequestRead:
    service.answer(db, actor, request_id, body, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/decline", response_model=RequestRead, summary="Refuser (motif visible du "
             "requérant)", responses=ERRORS)
def decline(request_id: uuid.UUID, body: ReasonIn, request: Request, db: DbSession, actor: Expert) -> RequestRead:
    service.decline(db, actor, request_id, body.reason, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/cancel", response_model=RequestRead, summary="Annuler (requérant)",
             responses=ERRORS)
def cancel(request_id: uuid.UUID, body: ReasonIn, request: Request, db: DbSession, actor: Requester) -> RequestRead:
    service.cancel(db, actor, request_id, body.reason, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.post("/requests/{request_id}/admission", response_model=RequestRead,
             summary="Suivre la demande d'admission (acceptée avec date, refusée, patient arrivé)", responses=ERRORS)
def admission(request_id: uuid.UUID, body: AdmissionUpdate, request: Request, db: DbSession,
              actor: Expert) -> RequestRead:
    service.update_admission(db, actor, request_id, body, context=audit_context(request))
    return _after(db, actor, request_id, request)


@router.get("/requests/{request_id}/compte-rendu.pdf", response_class=Response,
            summary="Compte rendu PDF de l'avis (requérant et spécialiste)",
            responses={**ERRORS, 200: {"description": "Le compte rendu", "content": {"application/pdf": {}}}})
def compte_rendu(request_id: uuid.UUID, request: Request, db: DbSession, actor: Requester) -> Response:
    data = service.compte_rendu(db, actor, request_id, context=audit_context(request))
    return Response(content=data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="compte-rendu-teleexpertise-{request_id}.pdf"',
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
