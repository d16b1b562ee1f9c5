"""Pages of the MSSanté exchange, in French: "Envoyer par MSSanté" for a patient document or a tele-expertise
report, and the reception inbox where the identity officer matches a received document to a patient."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from maillage.exceptions import MaillageError, ValidationFailed
from maillage.exchange import rules, service
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.ids import as_uuid
from maillage.kit.pagination import PageParams
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Sender = Annotated[Actor, Depends(require(Permission.PATIENT_WRITE))]
Officer = Annotated[Actor, Depends(require(Permission.IDENTITY_MERGE))]
SEND = "/mssante/envoyer"
INBOX = "/mssante/reception"
SOURCES = {"document": "document", "teleexpertise": "teleexpertise_report"}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates().TemplateResponse(request, name, {"status_label": rules.status_label, **context},
                                        status_code=status_code)


def _id(value: str | None) -> uuid.UUID:
    try:
        return as_uuid(value or "")
    except (ValueError, TypeError):
        raise ValidationFailed("Lien invalide : revenez au document et cliquez sur « Envoyer par MSSanté ».") from None


def _source(request: Request, db: Session, actor: Actor, kind: str, source_id: uuid.UUID) -> dict[str, Any]:
    what = service.describe_source(db, actor, kind, source_id, context=audit_context(request))
    return {"kind": kind, "source_id": source_id, "what": what, "recipients": service.recipients(db),
            "sends": service.sends_for(db, actor, source_type=SOURCES[kind], source_id=str(source_id)),
            "enabled": service.enabled(request.app.state.settings)}


@router.get(SEND, response_class=HTMLResponse)
def send_form(request: Request, db: DbSession, actor: Sender) -> Response:
    q = request.query_params
    kind = "teleexpertise" if q.get("teleexpertise") else "document"
    context = _source(request, db, actor, kind, _id(q.get(kind)))
    context.update(sent=q.get("envoye") == "1", form={"recipient": "", "professional_id": ""}, error=None)
    return render(request, "exchange/send.html", context)


@router.post(SEND, response_class=HTMLResponse)
def send(request: Request, db: DbSession, actor: Sender, kind: Annotated[str, Form()] = "document",
         source_id: Annotated[str, Form()] = "", professional_id: Annotated[str, Form()] = "",
         recipient: Annotated[str, Form()] = "") -> Response:
    if kind not in SOURCES:
        raise ValidationFailed("Type de document inconnu.")
    sid = _id(source_id)
    settings = request.app.state.settings
    try:
        with db.begin_nested():
            if kind == "teleexpertise":
                service.send_teleexpertise_report(db, actor, request_id=sid, recipient=recipient or None,
                                                  professional_id=professional_id or None,
                                                  context=audit_context(request), settings=settings)
            else:
                service.send_document(db, actor, document_id=sid, recipient=recipient or None,
                                      professional_id=professional_id or None, context=audit_context(request),
                                      settings=settings)
    except ValidationFailed as exc:
        context = _source(request, db, actor, kind, sid)
        context.update(sent=False, form={"recipient": recipient[:254], "professional_id": professional_id[:60]},
                       error=exc.message)
        return render(request, "exchange/send.html", context, status_code=422)
    return RedirectResponse(f"{SEND}?{urlencode({kind: str(sid), 'envoye': '1'})}", status_code=303)


@router.get(INBOX, response_class=HTMLResponse)
def inbox(request: Request, db: DbSession, actor: Officer) -> Response:
    offset = request.query_params.get("offset", "0")
    page = PageParams(limit=50, offset=int(offset) if offset.isdigit() else 0)
    rows, more = service.inbox(db, actor, page, context=audit_context(request))
    return render(request, "exchange/inbox.html", {"rows": rows, "more": more, "page": page,
                                                   "done": request.query_params.get("fait", "")})


@router.get(INBOX + "/{received_id}", response_class=HTMLResponse)
def received(request: Request, received_id: uuid.UUID, db: DbSession, actor: Officer) -> Response:
    row = service.received(db, actor, received_id, context=audit_context(request))
    found = service.candidates(db, actor, row, context=audit_context(request)) if row.status == "pending" else []
    return render(request, "exchange/received.html", {"row": row, "candidates": found, "error": None})


@router.post(INBOX + "/{received_id}/rattacher", response_class=HTMLResponse)
def match(request: Request, received_id: uuid.UUID, db: DbSession, actor: Officer,
          patient_id: Annotated[str, Form()] = "") -> Response:
    try:
        with db.begin_nested():
            service.match(db, actor, received_id, _id(patient_id), context=audit_context(request),
                          settings=request.app.state.settings)
    except MaillageError as exc:
        if not isinstance(exc, ValidationFailed) and exc.status_code != 422:
            raise
        row = service.received(db, actor, received_id, context=audit_context(request))
        found = service.candidates(db, actor, row, context=audit_context(request)) if row.status == "pending" else []
        return render(request, "exchange/received.html", {"row": row, "candidates": found, "error": exc.message},
                      status_code=422)
    return RedirectResponse(f"{INBOX}?fait=rattache", status_code=303)


@router.post(INBOX + "/{received_id}/ecarter", response_class=HTMLResponse)
def dismiss(request: Request, received_id: uuid.UUID, db: DbSession, actor: Officer) -> Response:
    service.dismiss(db, actor, received_id, context=audit_context(request))
    return RedirectResponse(f"{INBOX}?fait=ecarte", status_code=303)
