"""Pages of tele-expertise, in French: "mes demandes" (phone-friendly), a new request, the request page (question,
attachments with preview, thread, opinion form, timeline), a line's worklist and the coordinator's board."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from maillage.directory.specialties import Requirement, Urgency
from maillage.document.uploads import Upload, read_upload
from maillage.exceptions import MaillageError, NotFound, ValidationFailed
from maillage.kit.clock import PARIS, now
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.ids import as_uuid
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission, role_allows
from maillage.teleexpertise import notify, rules, service
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise.schemas import AdmissionUpdate, MessageIn, OpinionIn, RequestCreate

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Requester = Annotated[Actor, Depends(require(Permission.TELEEXPERTISE_REQUEST))]
Expert = Annotated[Actor, Depends(require(Permission.TELEEXPERTISE_ANSWER))]
Coordinator = Annotated[Actor, Depends(require(Permission.TELEEXPERTISE_COORDINATE))]
BASE = "/teleexpertise"

EVENT_LABELS = {
    "create": "Brouillon créé", "attach": "Pièce jointe ajoutée", "submit": "Demande envoyée",
    "claim": "Prise en charge", "assign": "Attribuée", "hand_back": "Remise dans la file",
    "transfer": "Confiée à un confrère", "ask": "Complément demandé", "reply": "Complément apporté",
    "answer": "Avis rendu et signé", "decline": "Refusée", "cancel": "Annulée",
    "admission_requested": "Demande d'admission ouverte", "admission_accepted": "Admission acceptée",
    "admission_refused": "Admission refusée", "admission_arrived": "Patient arrivé",
    "admission_cancelled": "Admission annulée", "reminder": "Rappel d'échéance envoyé",
    "escalation": "Échéance dépassée : coordination et astreinte prévenues",
}


# The states of a teleconsultation booked from an opinion, as the request page names them (the teleconsultation
# package is a sibling this one does not import).
TELECONSULTATION_STATES = {"booked": "réservée", "waiting": "patient en salle d'attente", "in_consultation": "en cours",
                           "done": "réalisée", "cancelled": "annulée", "rescheduled": "reportée",
                           "no_show": "patient absent"}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    base = {"status_labels": rules.Status.labels(), "urgency_labels": Urgency.labels(), "event_labels": EVENT_LABELS,
            "orientation_labels": rules.Orientation.labels(), "now": now(),
            "admission_labels": {a.value: a.label for a in rules.AdmissionStatus}}
    return templates().TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _message(exc: MaillageError) -> str:
    details = exc.details if isinstance(exc.details, list) else []
    extra = [d["message"] for d in details if isinstance(d, dict) and d.get("message") and d["message"] != exc.message]
    return " ".join([exc.message, *extra])


@router.get(BASE, response_class=HTMLResponse)
def home(request: Request, db: DbSession, actor: Requester) -> Response:
    """Mes demandes: the requester's requests, with the lines the actor answers when they are a specialist."""
    rows = service.my_requests(db, actor, limit=100, offset=0, context=audit_context(request))
    lines = service.my_lines(db, actor) if role_allows(actor.role, Permission.TELEEXPERTISE_ANSWER) else []
    return render(request, "teleexpertise/home.html", {
        "requests": rows, "facts": service.list_facts(db, actor, rows), "lines": lines,
        "unread": notify.unread_count(db, actor),
        "notifications": notify.recent(db, actor, limit=20), "notification_labels": notify.KIND_LABELS,
        "can_coordinate": bool(lines) and role_allows(actor.role, Permission.TELEEXPERTISE_COORDINATE)})


def _new(request: Request, db: DbSession, actor: Actor, form: dict[str, Any], error: str | None = None) -> Response:
    options = service.new_request_options(db, actor, context=audit_context(request))
    return render(request, "teleexpertise/new.html", {
        "options": options, "form": form, "error": error, "requirement_labels": Requirement.labels()},
        status_code=422 if error else 200)


@router.get(f"{BASE}/nouvelle", response_class=HTMLResponse)
def new_page(request: Request, db: DbSession, actor: Requester, patient_id: str = "", line_id: str = "") -> Response:
    return _new(request, db, actor, {"patient_id": patient_id[:36], "line_id": line_id[:36], "urgency": "routine"})


@router.post(f"{BASE}/nouvelle", response_class=HTMLResponse)
def new_submit(
    request: Request, db: DbSession, actor: Requester,
    patient_id: Annotated[str, Form(max_length=36)] = "", line_id: Annotated[str, Form(max_length=36)] = "",
    urgency: Annotated[str, Form(max_length=16)] = "routine", question: Annotated[str, Form(max_length=8000)] = "",
    clinical_context: Annotated[str, Form(max_length=20000)] = "",
    provided: Annotated[list[str] | None, Form()] = None, inpatient: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    form = {"patient_id": patient_id, "line_id": line_id, "urgency": urgency, "question": question,
            "clinical_context": clinical_context, "provided": provided or [], "inpatient": inpatient}
    try:
        data = RequestCreate(patient_id=patient_id, line_id=line_id, urgency=urgency, question=question,
                             clinical_context=clinical_context, provided=(provided or [])[:10],
                             patient_inpatient=inpatient in ("1", "on", "true"))
    except ValidationError:
        return _new(request, db, actor, form, "Choisissez un patient et une ligne de spécialité.")
    try:
        req = service.create_request(db, actor, data, context=audit_context(request))
    except MaillageError as exc:
        return _new(request, db, actor, form, _message(exc))
    return RedirectResponse(f"{BASE}/demandes/{req.id}", status_code=303)


def _detail(request: Request, db: DbSession, actor: Actor, request_id: uuid.UUID, error: str | None = None,
            status_code: int = 200, form: dict[str, str] | None = None) -> Response:
    """The request page: the patient banner for the parties, what the other forms need, a refused form's values."""
    d = service.get_request(db, actor, request_id, context=audit_context(request))
    req = d.request
    staff = actor.user_id != req.requester_id and role_allows(actor.role, Permission.TELEEXPERTISE_ANSWER)
    return render(request, "teleexpertise/request.html", {
        "d": d, "req": req, "error": error, "form": form or {},
        "patient": service.patient_view(db, actor, req, audit_context(request)),
        "facts": service.list_facts(db, actor, [req])[req.id],
        "is_requester": actor.user_id == req.requester_id, "is_assignee": actor.user_id == req.assignee_id,
        "is_staff": staff, "overdue": service.is_overdue(req), "orientations": list(rules.Orientation),
        "teleconsultations": repo.teleconsultations_of(db, req.id)
        if req.orientation == rules.Orientation.TELECONSULTATION else [],
        "teleconsultation_states": TELECONSULTATION_STATES,
    }, status_code=status_code)


@router.get(f"{BASE}/demandes/{{request_id}}", response_class=HTMLResponse)
def request_page(request_id: uuid.UUID, request: Request, db: DbSession, actor: Requester) -> Response:
    return _detail(request, db, actor, request_id)


def _after(request: Request, db: DbSession, actor: Actor, request_id: uuid.UUID, exc: MaillageError | None,
           form: dict[str, str] | None = None) -> Response:
    if exc is None:
        return RedirectResponse(f"{BASE}/demandes/{request_id}", status_code=303)
    db.rollback()
    return _detail(request, db, actor, request_id, error=_message(exc), status_code=exc.status_code, form=form)


@router.post(f"{BASE}/demandes/{{request_id}}/piece-jointe", response_class=HTMLResponse)
def attach(request_id: uuid.UUID, request: Request, db: DbSession, actor: Requester,
           upload: Annotated[Upload, Depends(read_upload)]) -> Response:
    try:
        service.add_attachment(db, actor, request_id, filename=upload.filename, data=upload.data,
                               declared_type=upload.declared_type, title=upload.title, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        return _after(request, db, actor, request_id, exc)
    return _after(request, db, actor, request_id, None)


STEPS = ("envoyer", "prendre", "remettre", "question", "reponse", "avis", "refuser", "annuler")


@router.post(f"{BASE}/demandes/{{request_id}}/{{step}}", response_class=HTMLResponse)
def act(
    request_id: uuid.UUID, step: str, request: Request, db: DbSession, actor: Requester,
    body: Annotated[str, Form(max_length=20000)] = "", reason: Annotated[str, Form(max_length=2000)] = "",
    consent: Annotated[str, Form(max_length=5)] = "", orientation: Annotated[str, Form(max_length=32)] = "",
    act_name: Annotated[str, Form(max_length=200)] = "", delay_days: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """One step of the workflow from the request page; a refused step shows the page again with its French message."""
    if step not in STEPS:
        raise NotFound("Étape inconnue.")
    ctx = audit_context(request)
    try:
        if step == "envoyer":
            service.submit(db, actor, request_id, consent_recorded_now=consent in ("1", "on", "true"), context=ctx)
        elif step == "prendre":
            service.claim(db, actor, request_id, context=ctx)
        elif step == "remettre":
            service.hand_back(db, actor, request_id, reason, context=ctx)
        elif step == "question":
            service.ask(db, actor, request_id, MessageIn(body=body), context=ctx)
        elif step == "reponse":
            service.reply(db, actor, request_id, MessageIn(body=body), context=ctx)
        elif step == "avis":
            days = int(delay_days) if delay_days.strip().isdigit() else None
            service.answer(db, actor, request_id, OpinionIn(answer=body, orientation=orientation,
                                                            act=act_name or None, delay_days=days), context=ctx)
        elif step == "refuser":
            service.decline(db, actor, request_id, reason, context=ctx)
        else:
            service.cancel(db, actor, request_id, reason, context=ctx)
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        return _after(request, db, actor, request_id, exc, form={"consent": consent})
    return _after(request, db, actor, request_id, None)


def _worklist(request: Request, db: DbSession, actor: Actor, line_id: uuid.UUID, error: str | None = None,
              status_code: int = 200) -> Response:
    rows = service.worklist(db, actor, line_id, limit=200, offset=0, context=audit_context(request))
    line = next((ln for ln in service.my_lines(db, actor) if ln.id == line_id), None)
    assignable = (service.assignable_specialists(db, actor, line_id)
                  if role_allows(actor.role, Permission.TELEEXPERTISE_COORDINATE) else [])
    return render(request, "teleexpertise/worklist.html", {
        "rows": rows, "facts": service.list_facts(db, actor, rows), "line": line,
        "overdue": {r.id for r in rows if service.is_overdue(r)},
        "assignable": assignable, "error": error}, status_code=status_code)


@router.get(f"{BASE}/lignes/{{line_id}}", response_class=HTMLResponse)
def worklist_page(line_id: uuid.UUID, request: Request, db: DbSession, actor: Expert) -> Response:
    """A line's open requests, the most urgent first, then the earliest due; coordinators assign from it."""
    return _worklist(request, db, actor, line_id)


@router.post(f"{BASE}/lignes/{{line_id}}/attribuer/{{request_id}}", response_class=HTMLResponse)
def assign_from_worklist(line_id: uuid.UUID, request_id: uuid.UUID, request: Request, db: DbSession,
                         actor: Coordinator, to_professional_id: Annotated[str, Form(max_length=36)] = "") -> Response:
    """A coordinator gives a request of the worklist to one of the line's specialists."""

    def assign() -> None:
        target = as_uuid(to_professional_id, invalid=ValidationFailed("Choisissez un spécialiste de la ligne."))
        service.assign(db, actor, request_id, target, context=audit_context(request))

    return _act(db, assign, done=f"{BASE}/lignes/{line_id}",
                again=lambda error, status: _worklist(request, db, actor, line_id, error=error, status_code=status))


def _act(db: DbSession, action: Callable[[], object], *, done: str,
         again: Callable[[str, int], Response]) -> Response:
    """A line page's form action: done, back to ``done`` (303); refused (other than not found), nothing written and
    the page again (``again``) with the French reason and the refusal's status."""
    try:
        action()
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return again(_message(exc), exc.status_code)
    return RedirectResponse(done, status_code=303)


ADMISSION_STEPS = {"accepter": rules.AdmissionStatus.ACCEPTED, "refuser": rules.AdmissionStatus.REFUSED,
                   "arrivee": rules.AdmissionStatus.ARRIVED, "annuler": rules.AdmissionStatus.CANCELLED}


def _admissions(request: Request, db: DbSession, actor: Actor, line_id: uuid.UUID, error: str | None = None,
                status_code: int = 200) -> Response:
    rows = service.line_admissions(db, actor, line_id, context=audit_context(request))
    line = next((ln for ln in service.my_lines(db, actor) if ln.id == line_id), None)
    nexts = {a.value: {t.value for t in rules.ADMISSION_TRANSITIONS[a]} for a in rules.AdmissionStatus}
    return render(request, "teleexpertise/admissions.html", {
        "rows": rows, "line": line, "error": error, "next_statuses": nexts}, status_code=status_code)


@router.get(f"{BASE}/lignes/{{line_id}}/admissions", response_class=HTMLResponse)
def admissions_page(line_id: uuid.UUID, request: Request, db: DbSession, actor: Expert) -> Response:
    """The admission requests opened by the line's opinions: accept with a date, refuse with a reason, arrival."""
    return _admissions(request, db, actor, line_id)


def _planned_at(day: str, time: str) -> dt.datetime | None:
    """A date and a time typed in Paris time, as an aware datetime; None without a date."""
    if not day.strip():
        return None
    try:
        local = dt.datetime.combine(dt.date.fromisoformat(day.strip()), dt.time.fromisoformat(time.strip() or "09:00"))
    except ValueError:
        raise ValidationFailed("Date ou heure d'admission invalide.", details=[
            {"field": "planned_at", "message": "Format attendu : date et heure."}]) from None
    return local.replace(tzinfo=PARIS)


@router.post(f"{BASE}/lignes/{{line_id}}/admissions/{{request_id}}/{{step}}", response_class=HTMLResponse)
def admission_step(
    line_id: uuid.UUID, request_id: uuid.UUID, step: str, request: Request, db: DbSession, actor: Expert,
    planned_date: Annotated[str, Form(max_length=10)] = "", planned_time: Annotated[str, Form(max_length=5)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """One step of an admission request: accepted (with the planned date), refused or cancelled (with a reason),
    patient arrived. A refused step shows the page again with its French message."""
    target = ADMISSION_STEPS.get(step)
    if target is None:
        raise NotFound("Étape inconnue.")

    def update() -> None:
        data = AdmissionUpdate(status=target.value, planned_at=_planned_at(planned_date, planned_time),
                               reason=reason or None)
        service.update_admission(db, actor, request_id, data, context=audit_context(request))

    return _act(db, update, done=f"{BASE}/lignes/{line_id}/admissions",
                again=lambda error, status: _admissions(request, db, actor, line_id, error=error, status_code=status))


@router.get(f"{BASE}/coordination", response_class=HTMLResponse)
def board_page(request: Request, db: DbSession, actor: Coordinator, ligne: uuid.UUID | None = None) -> Response:
    """Every line of the coordinator, and per requesting establishment for one of them (``?ligne=``, the first by
    default), as computed by the worker a few minutes ago at most."""
    return render(request, "teleexpertise/board.html", {"board": service.coordination(db, actor, line_id=ligne)})
