"""JSON API of patient documents: upload (multipart), list, metadata, content, delete.

Thin: parse, resolve the actor, call one service function, shape the answer. The upload itself is read by
``maillage.document.uploads`` (in memory, one file), shared with the other routes that take a file.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from maillage.document import rules, service
from maillage.document.schemas import DocumentRead
from maillage.document.uploads import UPLOAD_BODY, Upload, read_upload
from maillage.idempotency import service as idem
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.pagination import Page, PageParams, page_params
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

router = APIRouter(tags=["documents"], route_class=UnitOfWorkRoute)

UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DocumentRead, "description": "Réponse déjà donnée à cette Idempotency-Key (rien n'est créé)"},
    415: {"description": "Format de fichier refusé (le message dit ce qu'est réellement le fichier)"},
}


@router.post("/api/patients/{patient_id}/documents", status_code=201, response_model=DocumentRead,
             summary="Déposer un document pour un patient", openapi_extra=UPLOAD_BODY, responses=UPLOAD_RESPONSES)
def upload_document(
    patient_id: uuid.UUID,
    request: Request,
    db: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.PATIENT_WRITE))],
    upload: Annotated[Upload, Depends(read_upload)],
    idempotency_key: Annotated[str | None, Header(description="Rejouer sans risque de doublon")] = None,
) -> Response:
    claim = None
    if idempotency_key:
        outcome = idem.begin(db, scope=f"document.upload:{actor.user_id}", key=idempotency_key, method="POST",
                             path=request.url.path, body=upload.fingerprint())
        if isinstance(outcome, idem.Replay):
            return JSONResponse(outcome.body, status_code=outcome.status_code)
        claim = outcome
    document = service.store_upload(
        db, actor, patient_id=patient_id, filename=upload.filename, data=upload.data,
        declared_type=upload.declared_type, purpose=Purpose.CARE, owner_type=service.PATIENT_OWNER,
        owner_id=str(patient_id), context=audit_context(request), title=upload.title,
        settings=request.app.state.settings,
    )
    answer = DocumentRead.model_validate(document).model_dump(mode="json")
    if claim is not None:
        idem.complete(db, claim, 201, answer)
    return JSONResponse(answer, status_code=201, headers={"Location": f"/api/documents/{document.id}"})


@router.get("/api/patients/{patient_id}/documents", response_model=Page[DocumentRead],
            summary="Documents d'un patient (les plus récents d'abord)")
def list_patient_documents(
    patient_id: uuid.UUID,
    request: Request,
    db: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.PATIENT_READ))],
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[DocumentRead]:
    rows, has_more = service.list_documents(db, actor, patient_id, purpose=Purpose.CARE, page=page,
                                            context=audit_context(request))
    return Page[DocumentRead](items=[DocumentRead.model_validate(r) for r in rows], limit=page.limit,
                              offset=page.offset, has_more=has_more)


@router.get("/api/documents/{document_id}", response_model=DocumentRead, summary="Description d'un document")
def get_document(
    document_id: uuid.UUID,
    request: Request,
    db: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.PATIENT_READ))],
) -> DocumentRead:
    document = service.get(db, actor, document_id, Purpose.CARE, context=audit_context(request))
    return DocumentRead.model_validate(document)


@router.get("/api/documents/{document_id}/content", summary="Contenu d'un document (téléchargement)",
            response_class=Response,
            responses={200: {"description": "Le fichier, avec son type vérifié",
                             "content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {},
                                         "image/webp": {}}}})
def get_document_content(
    document_id: uuid.UUID,
    request: Request,
    db: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.PATIENT_READ))],
) -> Response:
    document, data = service.read(db, actor, document_id, Purpose.CARE, context=audit_context(request))
    headers = {
        "Content-Disposition": rules.content_disposition(document.display_name),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    return Response(content=data, media_type=document.media_type, headers=headers)


@router.delete("/api/documents/{document_id}", status_code=204, summary="Supprimer un document que vous avez déposé")
def delete_document(
    document_id: uuid.UUID,
    request: Request,
    db: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.PATIENT_WRITE))],
) -> Response:
    service.delete(db, actor, document_id, Purpose.CARE, context=audit_context(request))
    return Response(status_code=204)
