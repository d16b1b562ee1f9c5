"""Pages of the patient's documents, in French: the list (filters by type, date and status; upload), one document
(viewer, versions and their history, a new version, entered in error, legal hold, exports), and the content itself:
a PDF or an image shown inline from a sandboxed response, anything else downloaded. Every read goes through the
service (``authz``, audited); out of scope is 404, like missing."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from maillage.document import cda, fhir, rules, service
from maillage.document.repository import Filters
from maillage.document.uploads import Upload, read_form_with_upload
from maillage.exceptions import Conflict, MaillageError, NotFound, ValidationFailed
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.pagination import PageParams
from maillage.kit.templating import templates
from maillage.patient import service as patients
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Reader = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]
Writer = Annotated[Actor, Depends(require(Permission.PATIENT_WRITE))]
PAGE_SIZE = 25
UPLOAD_FIELDS = ("title", "type_code", "act_date", "confidentiality")
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/webp"})


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    base = {"types": list(rules.DOCUMENT_TYPES.values()), "statuses": list(rules.Status),
            "confidentialities": list(rules.Confidentiality)}
    return templates().TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("Date invalide : utilisez le calendrier (JJ/MM/AAAA).",
                               details=[{"field": field, "message": "Date invalide."}]) from None


def _one(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name) or [""]
    return found[0].strip()


# --- The list ------------------------------------------------------------------------------------------------------


def _list_page(request: Request, db: Session, actor: Actor, patient_id: uuid.UUID, *,
               error: str | None = None, form: dict[str, str] | None = None, status_code: int = 200) -> Response:
    q = request.query_params
    filters_form = {k: q.get(k, "")[:40] for k in ("type", "status", "since", "until")}
    try:
        offset = max(0, int(q.get("depuis", "0") or 0))
    except ValueError:
        offset = 0
    view = patients.get_patient(db, actor, patient_id, purpose=Purpose.CARE, context=audit_context(request))
    rows: list[service.DocumentView] = []
    has_more = False
    problem = error
    try:
        if filters_form["type"]:
            rules.document_type(filters_form["type"])
        statuses = (filters_form["status"],) if filters_form["status"] in {s.value for s in rules.Status} else None
        if filters_form["status"] == "all":
            statuses = None
        elif statuses is None:
            statuses = (rules.Status.CURRENT.value,)
        filters = Filters(type_codes=(filters_form["type"],) if filters_form["type"] else None, statuses=statuses,
                          act_from=_date(filters_form["since"], "since"), act_to=_date(filters_form["until"], "until"))
        docs, has_more = service.list_documents(db, actor, patient_id, purpose=Purpose.CARE,
                                                page=PageParams(limit=PAGE_SIZE, offset=offset), filters=filters,
                                                context=audit_context(request))
        rows = service.views_of(db, docs)
    except NotFound:
        raise
    except MaillageError as exc:
        problem = problem or exc.message
        status_code = 422
    filtering = any(v for k, v in filters_form.items())
    more = urlencode({**{k: v for k, v in filters_form.items() if v}, "depuis": offset + PAGE_SIZE})
    return render(request, "document/list.html", {
        "view": view, "rows": rows, "filters": filters_form, "filtering": filtering, "error": problem,
        "has_more": has_more, "more_query": more, "offset": offset,
        "can_write": role_allows(actor.role, Permission.PATIENT_WRITE),
        "form": form or {"title": "", "type_code": "", "act_date": "", "confidentiality": "normal"},
    }, status_code=status_code)


@router.get("/patients/{patient_id}/documents", response_class=HTMLResponse)
def patient_documents(patient_id: uuid.UUID, request: Request, db: DbSession, actor: Reader) -> Response:
    return _list_page(request, db, actor, patient_id)


async def _upload_form(request: Request) -> tuple[dict[str, list[str]], Upload | None]:
    return await read_form_with_upload(request, UPLOAD_FIELDS)


@router.post("/patients/{patient_id}/documents", response_class=HTMLResponse)
def upload(patient_id: uuid.UUID, request: Request, db: DbSession, actor: Writer,
           sent: Annotated[tuple[dict[str, list[str]], Upload | None], Depends(_upload_form)]) -> Response:
    values, file = sent
    form = {k: _one(values, k) for k in UPLOAD_FIELDS}
    try:
        if file is None:
            raise ValidationFailed("Choisissez le fichier à déposer (PDF, JPEG, PNG ou WebP).")
        document = service.store_upload(
            db, actor, patient_id=patient_id, filename=file.filename, data=file.data,
            declared_type=file.declared_type, purpose=Purpose.CARE, owner_type=service.PATIENT_OWNER,
            owner_id=str(patient_id), context=audit_context(request), title=form["title"] or None,
            settings=request.app.state.settings, type_code=form["type_code"] or None,
            act_date=_date(form["act_date"], "act_date"), confidentiality=form["confidentiality"] or "normal")
    except NotFound:
        raise
    except MaillageError as exc:
        db.rollback()
        return _list_page(request, db, actor, patient_id, error=exc.message, form=form, status_code=422)
    return RedirectResponse(f"/documents/{document.id}?info=depose", status_code=303)


# --- One document --------------------------------------------------------------------------------------------------

NOTICES = {"depose": "Document déposé.", "version": "Nouvelle version déposée : la précédente reste consultable.",
           "erreur": "Document déclaré saisi par erreur.", "conservation": "Conservation légale mise à jour."}


def _document_page(request: Request, db: Session, actor: Actor, document_id: uuid.UUID, *,
                   error: str | None = None, status_code: int = 200) -> Response:
    document = service.get(db, actor, document_id, Purpose.CARE, context=audit_context(request))
    view = patients.get_patient(db, actor, document.patient_id, purpose=Purpose.CARE, context=audit_context(request))
    versions = service.views_of(db, service.versions(db, actor, document))
    this = next(v for v in service.views_of(db, [document]))
    notice = NOTICES.get(request.query_params.get("info", ""))
    return render(request, "document/document.html", {
        "view": view, "doc": this, "versions": versions, "error": error, "notice": notice,
        "can_write": role_allows(actor.role, Permission.PATIENT_WRITE), "can_cda": cda.can_wrap(document.media_type),
    }, status_code=status_code)


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def document_page(document_id: uuid.UUID, request: Request, db: DbSession, actor: Reader) -> Response:
    return _document_page(request, db, actor, document_id)


def _content_headers(document_name: str, *, inline: bool) -> dict[str, str]:
    disposition = rules.content_disposition(document_name)
    if inline:
        disposition = "inline" + disposition.removeprefix("attachment")
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        # A sandboxed response with no scripts, framed by our own page only.
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


@router.get("/documents/{document_id}/contenu")
def content(document_id: uuid.UUID, request: Request, db: DbSession, actor: Reader) -> Response:
    """The content: inline for a PDF or an image (``?telecharger=1`` downloads it), attached for anything else."""
    document, data = service.read(db, actor, document_id, Purpose.CARE, context=audit_context(request))
    inline = document.media_type in INLINE_TYPES and request.query_params.get("telecharger") != "1"
    return Response(content=data, media_type=document.media_type,
                    headers=_content_headers(document.display_name, inline=inline))


@router.get("/documents/{document_id}/fhir")
def export_fhir(document_id: uuid.UUID, request: Request, db: DbSession, actor: Reader) -> Response:
    facts = service.export_facts(db, actor, document_id, context=audit_context(request))
    body = json.dumps(fhir.bundle(facts), ensure_ascii=False, indent=2).encode("utf-8")
    return Response(content=body, media_type="application/fhir+json", headers={
        "Content-Disposition": f'attachment; filename="document-{facts.document.act_date}.fhir.json"'})


@router.get("/documents/{document_id}/cda")
def export_cda(document_id: uuid.UUID, request: Request, db: DbSession, actor: Reader) -> Response:
    facts = service.export_facts(db, actor, document_id, context=audit_context(request))
    if not cda.can_wrap(facts.document.media_type):
        raise Conflict("L'export CDA enveloppe un PDF : ce document est une image, exportez-le en FHIR.")
    return Response(content=cda.clinical_document(facts), media_type="application/xml", headers={
        "Content-Disposition": f'attachment; filename="document-{facts.document.act_date}.cda.xml"'})


async def _version_form(request: Request) -> tuple[dict[str, list[str]], Upload | None]:
    return await read_form_with_upload(request, ("title", "act_date"))


@router.post("/documents/{document_id}/version", response_class=HTMLResponse)
def new_version(document_id: uuid.UUID, request: Request, db: DbSession, actor: Writer,
                sent: Annotated[tuple[dict[str, list[str]], Upload | None], Depends(_version_form)]) -> Response:
    values, file = sent
    try:
        if file is None:
            raise ValidationFailed("Choisissez le fichier de la nouvelle version.")
        document = service.new_version(db, actor, document_id, filename=file.filename, data=file.data,
                                       declared_type=file.declared_type, title=_one(values, "title") or None,
                                       act_date=_date(_one(values, "act_date"), "act_date"),
                                       context=audit_context(request), settings=request.app.state.settings)
    except NotFound:
        raise
    except MaillageError as exc:
        db.rollback()
        return _document_page(request, db, actor, document_id, error=exc.message, status_code=422)
    return RedirectResponse(f"/documents/{document.id}?info=version", status_code=303)


@router.post("/documents/{document_id}/erreur", response_class=HTMLResponse)
def entered_in_error(document_id: uuid.UUID, request: Request, db: DbSession, actor: Writer,
                     reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        service.mark_entered_in_error(db, actor, document_id, reason, context=audit_context(request))
    except NotFound:
        raise
    except MaillageError as exc:
        db.rollback()
        return _document_page(request, db, actor, document_id, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/documents/{document_id}?info=erreur", status_code=303)


@router.post("/documents/{document_id}/conservation", response_class=HTMLResponse)
def legal_hold(document_id: uuid.UUID, request: Request, db: DbSession, actor: Writer,
               held: Annotated[str, Form(max_length=1)] = "") -> Response:
    service.set_legal_hold(db, actor, document_id, held == "1", context=audit_context(request))
    return RedirectResponse(f"/documents/{document_id}?info=conservation", status_code=303)
