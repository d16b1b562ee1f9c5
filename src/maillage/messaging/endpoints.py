"""JSON API of secure messaging (``/api/messaging/...``): threads, messages, corrections, attachments, participants.

A thread is visible to its participants only (a person named in it, a member of a team mailbox named in it); anyone
else gets 404, as if it did not exist. A change the rules forbid (too late to correct, already filed) answers 409.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from maillage.document import rules as document_rules
from maillage.document.schemas import DocumentRead
from maillage.document.uploads import UPLOAD_BODY, Upload, read_upload
from maillage.kit.dates import IsoDate
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.pagination import Page, PageParams, page_params
from maillage.messaging import service
from maillage.messaging.schemas import (
    AttachmentRead,
    MessageIn,
    MessageRead,
    ParticipantIn,
    ParticipantRead,
    RevisionRead,
    ThreadCreate,
    ThreadRead,
    ThreadSummary,
    UnreadRead,
)
from maillage.models.messaging import Message
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission

router = APIRouter(prefix="/api/messaging", tags=["messagerie"], route_class=UnitOfWorkRoute)
Professional = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]
Paging = Annotated[PageParams, Depends(page_params)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Non authentifié"},
    403: {"description": "Action non permise pour ce rôle, ou réservée à l'auteur"},
    404: {"description": "Introuvable, ou conversation dont vous n'êtes pas participant"},
    409: {"description": "Délai de correction dépassé, message retiré, pièce déjà classée"},
    422: {"description": "Données invalides (détail champ par champ)"},
}


def _message(m: Message, author: str = "", *, views: service.MessageView | None = None) -> MessageRead:
    return MessageRead(
        id=m.id, thread_id=m.thread_id, seq=m.seq, author_id=m.author_id, author=views.author if views else author,
        body=m.body, created_at=m.created_at, edited_at=m.edited_at, withdrawn_at=m.withdrawn_at,
        revisions=[RevisionRead.model_validate(r) for r in views.revisions] if views else [],
        attachments=[AttachmentRead.model_validate(a) for a in views.attachments] if views else [],
        read_by=views.read_by if views else [],
    )


def _thread(view: service.ThreadView) -> ThreadRead:
    t = view.thread
    return ThreadRead(
        id=t.id, kind=t.kind, subject=t.subject, patient_id=t.patient_id, created_at=t.created_at,
        last_message_at=t.last_message_at,
        participants=[ParticipantRead(
            id=p.participant.id, name=p.name, is_team=p.is_team, user_id=p.participant.user_id,
            team_kind=p.participant.team_kind, team_id=p.participant.team_id, added_at=p.participant.added_at,
            access_ends_at=p.participant.access_ends_at) for p in view.participants],
        messages=[_message(v.message, views=v) for v in view.messages],
    )


@router.get("/threads", response_model=Page[ThreadSummary], responses=ERRORS,
            summary="Mes conversations, les plus récentes d'abord, avec leurs messages non lus")
def list_threads(
    request: Request, db: DbSession, actor: Professional, page: Paging,
    participant: Annotated[str | None, Query(max_length=100, description="Partie du nom d'un participant ou d'une "
                                                                         "équipe")] = None,
    patient_id: Annotated[uuid.UUID | None, Query(description="Un patient que vous suivez")] = None,
    subject: Annotated[str | None, Query(max_length=200, description="Mots entiers de l'objet")] = None,
    since: Annotated[IsoDate | None, Query(description="Activité depuis ce jour")] = None,
    until: Annotated[IsoDate | None, Query(description="Activité jusqu'à ce jour inclus")] = None,
) -> Page[ThreadSummary]:
    search = service.Search(participant=participant, patient_id=patient_id, subject=subject, since=since, until=until)
    rows = service.inbox(db, actor, limit=page.limit + 1, offset=page.offset, search=search,
                         context=audit_context(request), settings=request.app.state.settings)
    items = [ThreadSummary(id=r.thread.id, kind=r.thread.kind, subject=r.thread.subject,
                           patient_id=r.thread.patient_id, patient=r.patient,
                           participants=r.participants, last_message_at=r.thread.last_message_at, unread=r.unread)
             for r in rows[: page.limit]]
    return Page[ThreadSummary](items=items, limit=page.limit, offset=page.offset, has_more=len(rows) > page.limit)


@router.post("/threads", status_code=201, response_model=ThreadRead, responses=ERRORS,
             summary="Écrire à des professionnels ou à une équipe (sur un patient ou non)")
def create_thread(data: ThreadCreate, request: Request, db: DbSession, actor: Professional) -> Response:
    context = audit_context(request)
    thread = service.create_thread(db, actor, service.NewThread(
        subject=data.subject, body=data.body, people=tuple(data.people),
        teams=tuple((t.kind, t.id) for t in data.teams), patient_id=data.patient_id, reason=data.reason),
        context=context, settings=request.app.state.settings)
    view = service.open_thread(db, actor, thread.id, context=context)
    return JSONResponse(_thread(view).model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/api/messaging/threads/{thread.id}"})


@router.get("/threads/{thread_id}", response_model=ThreadRead, responses=ERRORS,
            summary="Une conversation (la lire vaut accusé de lecture)")
def get_thread(thread_id: uuid.UUID, request: Request, db: DbSession, actor: Professional) -> ThreadRead:
    return _thread(service.open_thread(db, actor, thread_id, context=audit_context(request)))


@router.post("/threads/{thread_id}/messages", status_code=201, response_model=MessageRead, responses=ERRORS,
             summary="Répondre dans une conversation")
def post_message(thread_id: uuid.UUID, data: MessageIn, request: Request, db: DbSession,
                 actor: Professional) -> MessageRead:
    message = service.post_message(db, actor, thread_id, data.body, context=audit_context(request))
    return _message(message, actor.display_name)


@router.patch("/messages/{message_id}", response_model=MessageRead, responses=ERRORS,
              summary="Corriger son message (dans les 15 minutes ; l'ancien texte reste dans l'historique)")
def edit_message(message_id: uuid.UUID, data: MessageIn, request: Request, db: DbSession,
                 actor: Professional) -> MessageRead:
    message = service.edit_message(db, actor, message_id, data.body, context=audit_context(request))
    return _message(message, actor.display_name)


@router.post("/messages/{message_id}/withdraw", response_model=MessageRead, responses=ERRORS,
             summary="Retirer son message (dans les 15 minutes ; le texte reste dans l'historique)")
def withdraw_message(message_id: uuid.UUID, request: Request, db: DbSession, actor: Professional) -> MessageRead:
    message = service.withdraw_message(db, actor, message_id, context=audit_context(request))
    return _message(message, actor.display_name)


@router.post("/messages/{message_id}/attachments", status_code=201, response_model=AttachmentRead,
             responses={**ERRORS, 413: {"description": "Fichier trop volumineux"}}, openapi_extra=UPLOAD_BODY,
             summary="Joindre un fichier à son message (PDF, JPEG, PNG, WebP ; vérifié et chiffré)")
def add_attachment(message_id: uuid.UUID, request: Request, db: DbSession, actor: Professional,
                   upload: Annotated[Upload, Depends(read_upload)]) -> AttachmentRead:
    attachment = service.add_attachment(db, actor, message_id, filename=upload.filename, data=upload.data,
                                        declared_type=upload.declared_type, context=audit_context(request),
                                        settings=request.app.state.settings)
    return AttachmentRead.model_validate(attachment)


@router.get("/attachments/{attachment_id}/content", response_class=Response,
            responses={**ERRORS, 200: {"description": "Le fichier, avec son type vérifié",
                                       "content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {},
                                                   "image/webp": {}}}},
            summary="Contenu d'une pièce jointe")
def attachment_content(attachment_id: uuid.UUID, request: Request, db: DbSession, actor: Professional) -> Response:
    attachment, data = service.read_attachment(db, actor, attachment_id, context=audit_context(request))
    return Response(content=data, media_type=attachment.media_type, headers={
        "Content-Disposition": document_rules.content_disposition(attachment.display_name),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox", "Cross-Origin-Resource-Policy": "same-origin"})


@router.post("/attachments/{attachment_id}/file", status_code=201, response_model=DocumentRead, responses=ERRORS,
             summary="Classer une pièce jointe dans les documents du patient")
def file_attachment(attachment_id: uuid.UUID, request: Request, db: DbSession, actor: Professional) -> DocumentRead:
    document = service.file_attachment(db, actor, attachment_id, context=audit_context(request),
                                       settings=request.app.state.settings)
    return DocumentRead.model_validate(document)


@router.post("/threads/{thread_id}/participants", status_code=201, response_model=ParticipantRead,
             responses=ERRORS, summary="Ajouter un professionnel ou une équipe (motif obligatoire sur un patient)")
def add_participant(thread_id: uuid.UUID, data: ParticipantIn, request: Request, db: DbSession,
                    actor: Professional) -> ParticipantRead:
    p = service.add_participant(db, actor, thread_id, user_id=data.user_id,
                                team=(data.team.kind, data.team.id) if data.team else None, reason=data.reason,
                                context=audit_context(request))
    name = service.participant_name(db, p)
    return ParticipantRead(id=p.id, name=name, is_team=p.team_id is not None, user_id=p.user_id,
                           team_kind=p.team_kind, team_id=p.team_id, added_at=p.added_at,
                           access_ends_at=p.access_ends_at)


@router.delete("/threads/{thread_id}/participants/{participant_id}", status_code=204, responses=ERRORS,
               summary="Retirer un participant (son accès au patient par cette conversation prend fin)")
def remove_participant(thread_id: uuid.UUID, participant_id: uuid.UUID, request: Request, db: DbSession,
                       actor: Professional) -> Response:
    service.remove_participant(db, actor, thread_id, participant_id, context=audit_context(request))
    return Response(status_code=204)


@router.get("/unread", response_model=UnreadRead, responses=ERRORS, summary="Nombre de messages non lus")
def unread(db: DbSession, actor: Professional) -> UnreadRead:
    return UnreadRead(unread=service.unread_count(db, actor))
