"""Pages of secure messaging, in French: the inbox (unread counts, search, live), a new message (patient picker, team
picker), a thread (patient banner, receipts, history of corrections, attachments to preview or file, live), and the
forms that answer, correct, withdraw and file."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from maillage.directory import pickers
from maillage.document.uploads import Upload, read_form_with_upload
from maillage.exceptions import MaillageError, NotFound, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.ids import as_uuid
from maillage.kit.templating import templates
from maillage.messaging import live, rules, service
from maillage.messaging.rules import TeamKind, ThreadKind
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Professional = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]
BASE = "/messagerie"
STREAM_SECONDS = 300
KEEP_ALIVE_SECONDS = 20.0
NEW_FIELDS = ("subject", "body", "patient_id", "team", "people", "people_q", "reason", "chercher")


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    base = {"kind_labels": ThreadKind.labels(), "team_labels": TeamKind.labels(), "now_utc": now(),
            "window_minutes": int(rules.CORRECTION_WINDOW.total_seconds() // 60)}
    return templates().TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _message(exc: MaillageError) -> str:
    details = exc.details if isinstance(exc.details, list) else []
    extra = [d["message"] for d in details if isinstance(d, dict) and d.get("message") and d["message"] != exc.message]
    return " ".join([exc.message, *extra]) if extra and len(extra) > 1 else exc.message


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("Date invalide : utilisez le calendrier (JJ/MM/AAAA).") from None


def _uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return as_uuid(value)
    except (ValueError, TypeError):
        raise ValidationFailed("Choix invalide : choisissez dans la liste.") from None


# --- Inbox ---------------------------------------------------------------------------------------------------------


def _inbox_context(request: Request, db: Session, actor: Actor) -> dict[str, Any]:
    q = request.query_params
    form = {k: q.get(k, "")[:200] for k in ("participant", "patient_id", "subject", "since", "until")}
    error = None
    rows: list[service.InboxRow] = []
    try:
        search = service.Search(participant=form["participant"] or None, patient_id=_uuid(form["patient_id"]),
                                subject=form["subject"] or None, since=_date(form["since"]),
                                until=_date(form["until"]))
        rows = service.inbox(db, actor, search=search, context=audit_context(request),
                             settings=request.app.state.settings)
    except MaillageError as exc:
        error = exc.message
    searching = any(form.values())
    return {"rows": rows, "form": form, "error": error, "searching": searching,
            "unread": sum(r.unread for r in rows)}


@router.get(BASE, response_class=HTMLResponse)
def inbox(request: Request, db: DbSession, actor: Professional) -> Response:
    context = _inbox_context(request, db, actor)
    context["patients"] = service.my_patients(db, actor, context=audit_context(request))
    return render(request, "messaging/inbox.html", context, status_code=422 if context["error"] else 200)


@router.get(f"{BASE}/liste", response_class=HTMLResponse)
def inbox_fragment(request: Request, db: DbSession, actor: Professional) -> Response:
    """The list alone, reloaded by the inbox when the server says a thread changed."""
    return render(request, "messaging/_inbox_list.html", _inbox_context(request, db, actor))


@router.get(f"{BASE}/cloche", response_class=HTMLResponse)
def bell(request: Request, db: DbSession, actor: Professional) -> Response:
    """The header's bell: the unread count of the actor's threads (loaded by every page, after it)."""
    return render(request, "messaging/_bell.html", {"unread": service.unread_count(db, actor)})


@router.get(f"{BASE}/flux")
async def stream(request: Request, actor: Professional) -> StreamingResponse:
    """Server-sent events: ``thread`` (its id as data) each time one of the actor's threads changes, in any process."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    await run_in_threadpool(live.ensure_listener, sessions)

    def topics() -> list[str]:
        with sessions() as s:
            return service.stream_topics(s, actor)

    mine = await run_in_threadpool(topics)

    async def events() -> AsyncIterator[str]:
        queue = live.subscribe(mine)
        try:
            yield "retry: 2000\n\n"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STREAM_SECONDS
            while loop.time() < deadline:
                if await request.is_disconnected():
                    return
                try:
                    thread_id = await asyncio.wait_for(queue.get(), KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: thread\ndata: {thread_id}\n\n"
        finally:
            live.unsubscribe(mine, queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- New thread ----------------------------------------------------------------------------------------------------


def _people_picker(db: Session, actor: Actor, query: str, chosen: list[str]) -> pickers.Picker:
    """The recipients picker: what was typed (``people_q``), the professionals it finds, and those already chosen
    (kept checked while one searches for the next)."""
    picker = pickers.Picker(
        "people", "Professionnels", "Nom du professionnel", f"{BASE}/destinataires", query=query[:100],
        multiple=True, nothing_found="Aucun professionnel de ce nom : vérifiez l'orthographe.")
    picker.searched = bool(picker.query.strip())
    picker.choices = service.people_choices(db, actor, picker.query) if picker.searched else []
    picker.chosen = service.people_named(db, actor, [p for p in (_uuid(v) for v in chosen) if p])
    return picker


def _new_page(request: Request, db: Session, actor: Actor, form: dict[str, Any], error: str | None = None) -> Response:
    options = service.new_thread_options(db, actor, context=audit_context(request))
    picker = _people_picker(db, actor, form.get("people_q", ""), form["people"])
    return render(request, "messaging/new.html", {"options": options, "form": form, "error": error,
                                                  "people_picker": picker},
                  status_code=422 if error else 200)


@router.get(f"{BASE}/nouveau", response_class=HTMLResponse)
def new_page(request: Request, db: DbSession, actor: Professional) -> Response:
    q = request.query_params
    return _new_page(request, db, actor, {"patient_id": q.get("patient_id", "")[:36], "team": q.get("team", "")[:60],
                                          "people": [], "people_q": "", "subject": "", "body": "", "reason": ""})


@router.get(f"{BASE}/destinataires", response_class=HTMLResponse)
def people_fragment(request: Request, db: DbSession, actor: Professional) -> Response:
    """The recipients picker's choices as one types (htmx): ``people_q`` typed, ``people`` the ones chosen."""
    q = request.query_params
    picker = _people_picker(db, actor, q.get("people_q", ""), q.getlist("people")[:50])
    return render(request, "web/_picker_choices.html", {"picker": picker})


def _team(value: str | None) -> tuple[TeamKind, uuid.UUID] | None:
    if not value:
        return None
    kind, _, raw = value.partition(":")
    try:
        return TeamKind(kind), as_uuid(raw)
    except (ValueError, TypeError):
        raise ValidationFailed("Équipe invalide : choisissez dans la liste.") from None


FormValues = dict[str, list[str]]


async def _new_form(request: Request) -> tuple[FormValues, Upload | None]:
    return await read_form_with_upload(request, NEW_FIELDS)


async def _reply_form(request: Request) -> tuple[FormValues, Upload | None]:
    return await read_form_with_upload(request, ("body",))


def _one(values: FormValues, name: str) -> str:
    found = values.get(name) or [""]
    return found[0]


@router.post(f"{BASE}/nouveau", response_class=HTMLResponse)
def create(request: Request, db: DbSession, actor: Professional,
           sent: Annotated[tuple[FormValues, Upload | None], Depends(_new_form)]) -> Response:
    values, upload = sent
    form: dict[str, Any] = {k: _one(values, k) for k in NEW_FIELDS}
    form["people"] = values.get("people", [])[:50]
    if form.pop("chercher"):  # the recipients picker's search step, without JavaScript: the same form, the choices
        return _new_page(request, db, actor, form)
    try:
        team = _team(form["team"])
        people = tuple(p for p in (_uuid(v) for v in form["people"]) if p)
        thread = service.create_thread(db, actor, service.NewThread(
            subject=form["subject"], body=form["body"], people=people, teams=(team,) if team else (),
            patient_id=_uuid(form["patient_id"]), reason=form["reason"] or None), context=audit_context(request),
            settings=request.app.state.settings)
        if upload is not None:
            service.add_attachment(db, actor, service.first_message_id(db, thread.id), filename=upload.filename,
                                   data=upload.data, declared_type=upload.declared_type,
                                   context=audit_context(request), settings=request.app.state.settings)
    except NotFound:
        raise
    except MaillageError as exc:
        db.rollback()
        return _new_page(request, db, actor, form, _message(exc))
    return RedirectResponse(f"{BASE}/{thread.id}", status_code=303)


# --- A thread ------------------------------------------------------------------------------------------------------


def _thread_context(request: Request, db: Session, actor: Actor, thread_id: uuid.UUID) -> dict[str, Any]:
    view = service.open_thread(db, actor, thread_id, context=audit_context(request))
    return {"view": view, "thread": view.thread, "patient": view.patient, "me": actor.user_id}


@router.get(BASE + "/{thread_id}", response_class=HTMLResponse)
def thread_page(thread_id: uuid.UUID, request: Request, db: DbSession, actor: Professional) -> Response:
    context = _thread_context(request, db, actor, thread_id)
    context.update(error=request.query_params.get("erreur", "")[:300] or None,
                   notice=request.query_params.get("info", "")[:300] or None)
    return render(request, "messaging/thread.html", context)


@router.get(BASE + "/{thread_id}/messages", response_class=HTMLResponse)
def thread_fragment(thread_id: uuid.UUID, request: Request, db: DbSession, actor: Professional) -> Response:
    return render(request, "messaging/_messages.html", _thread_context(request, db, actor, thread_id))


def _back(thread_id: uuid.UUID | str, *, error: str | None = None, notice: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("erreur", error), ("info", notice)) if v})
    return RedirectResponse(f"{BASE}/{thread_id}" + (f"?{query}" if query else "") + "#fin", status_code=303)


@router.post(BASE + "/{thread_id}/repondre", response_class=HTMLResponse)
def reply(thread_id: uuid.UUID, request: Request, db: DbSession, actor: Professional,
          sent: Annotated[tuple[FormValues, Upload | None], Depends(_reply_form)]) -> Response:
    values, upload = sent
    try:
        message = service.post_message(db, actor, thread_id, _one(values, "body"), context=audit_context(request))
        if upload is not None:
            service.add_attachment(db, actor, message.id, filename=upload.filename, data=upload.data,
                                   declared_type=upload.declared_type, context=audit_context(request),
                                   settings=request.app.state.settings)
    except NotFound:
        raise
    except MaillageError as exc:
        db.rollback()
        return _back(thread_id, error=_message(exc))
    return _back(thread_id)


@router.post(BASE + "/messages/{message_id}/corriger", response_class=HTMLResponse)
def correct(message_id: uuid.UUID, request: Request, db: DbSession, actor: Professional,
            body: Annotated[str, Form(max_length=rules.MAX_BODY_CHARS)] = "") -> Response:
    message = service.message_thread_id(db, actor, message_id)
    try:
        service.edit_message(db, actor, message_id, body, context=audit_context(request))
    except NotFound:
        raise
    except MaillageError as exc:
        db.rollback()
        return _back(message, error=_message(exc))
    return _back(message, notice="Message corrigé : l'ancien texte reste dans l'historique.")


@router.post(BASE + "/messages/{message_id}/retirer", response_class=HTMLResponse)
def withdraw(message_id: uuid.UUID, request: Request, db: DbSession, actor: Professional) -> Response:
    message = service.message_thread_id(db, actor, message_id)
    try:
        service.withdraw_message(db, actor, message_id, context=audit_context(request))
    except NotFound:
        raise
    except MaillageError as exc:
        db.rollback()
        return _back(message, error=_message(exc))
    return _back(message, notice="Message retiré : son texte reste dans l'historique.")


@router.post(BASE + "/pieces/{attachment_id}/classer", response_class=HTMLResponse)
def file_attachment(attachment_id: uuid.UUID, request: Request, db: DbSession, actor: Professional) -> Response:
    thread_id = service.attachment_thread_id(db, actor, attachment_id)
    try:
        service.file_attachment(db, actor, attachment_id, context=audit_context(request),
                                settings=request.app.state.settings)
    except NotFound:
        raise
    except MaillageError as exc:
        db.rollback()
        return _back(thread_id, error=_message(exc))
    return _back(thread_id, notice="Pièce jointe classée dans les documents du patient.")
