"""Pages of teleconsultation, in French: the practitioner's day (live states, admit), availability, booking a slot
for a patient (the patient's link shown once), an appointment (its room for the practitioner), and the patient's
pages (the link, the consent, the waiting room and the room)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from maillage.auth.middleware import cookie_is_secure
from maillage.authz import service as authz
from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit import french
from maillage.kit.clock import now, today_paris
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.ids import as_uuid
from maillage.kit.templating import templates
from maillage.patient import service as patients
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose
from maillage.teleconsultation import (
    aftercare,
    assisted,
    availability,
    booking,
    participants,
    patient_link,
    places,
    quality,
    relay,
    report,
    rules,
    waiting,
)
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Kind, Status
from maillage.teleconsultation.signalling import PATIENT_COOKIE

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Practitioner = Annotated[Actor, Depends(require(Permission.TELECONSULTATION_RUN))]
BASE = "/teleconsultation"
STREAM_SECONDS = 300
KEEP_ALIVE_SECONDS = 20.0


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    base = {"status_labels": Status.labels(), "kind_labels": Kind.labels(), "weekdays": rules.WEEKDAYS,
            "clock": rules.clock_text, "paris": rules.PARIS, "now_utc": now(), "remote": rules.REMOTE,
            "plural": french.plural}
    return templates().TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _message(exc: MaillageError) -> str:
    details = exc.details if isinstance(exc.details, list) else []
    extra = [d["message"] for d in details if isinstance(d, dict) and d.get("message") and d["message"] != exc.message]
    return " ".join([exc.message, *extra])


# --- The practitioner's day and the requester's bookings ---------------------------------------------------------


@router.get(BASE, response_class=HTMLResponse)
def home(request: Request, db: DbSession, actor: Practitioner, retard: str = "") -> Response:
    """My day (live), the late notice, the appointments I booked; ``retard``: how many patients a late notice
    just reached."""
    return _home(request, db, actor, retard=retard)


def _home(request: Request, db: Session, actor: Actor, *, retard: str = "", error: str | None = None,
          status_code: int = 200) -> Response:
    context = audit_context(request)
    return render(request, "teleconsultation/home.html", {
        "day": booking.day(db, actor, context=context), "bookings": booking.my_bookings(db, actor, context=context),
        "lines": availability.my_lines(db, actor), "today": today_paris(), "late_choices": rules.LATE_CHOICES,
        "late_sent": retard[:3] if retard.isdigit() else "", "late_error": error,
        "late_notice": waiting.latest_notice(db, actor.user_id),
        "invited": participants.my_invitations(db, actor), "capacity_labels": rules.Capacity.labels(),
        "assisting": assisted.my_assisted(db, actor, context=context),
        "has_rooms": bool(places.manageable_establishments(db, actor))},
        status_code=status_code)


@router.post(f"{BASE}/retard", response_class=HTMLResponse)
def late_notice(request: Request, db: DbSession, actor: Practitioner,
                minutes: Annotated[str, Form(max_length=3)] = "") -> Response:
    """Tell the patients still to see today that the practitioner is late (a delay from the list, no text)."""
    try:
        _, reached = waiting.send_late_notice(db, actor, int(minutes) if minutes.isdigit() else 0,
                                              context=audit_context(request))
    except MaillageError as exc:
        db.rollback()
        return _home(request, db, actor, error=_message(exc), status_code=exc.status_code)
    return RedirectResponse(f"{BASE}?retard={reached}", status_code=303)


@router.get(f"{BASE}/journee", response_class=HTMLResponse)
def day_fragment(request: Request, db: DbSession, actor: Practitioner) -> Response:
    """The day's table alone, reloaded by the page when the server says a state changed."""
    rows = booking.day(db, actor, context=audit_context(request))
    return render(request, "teleconsultation/_day.html", {"day": rows})


@router.get(f"{BASE}/journee/flux")
async def day_stream(request: Request, actor: Practitioner) -> StreamingResponse:
    """Server-sent events: ``day`` each time one of the practitioner's appointments changes state (any process)."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    await run_in_threadpool(relay.ensure_listener, sessions)
    topic = booking.day_topic(actor.user_id)

    async def events() -> AsyncIterator[str]:
        queue = relay.subscribe(topic)
        try:
            yield "retry: 2000\n\n"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STREAM_SECONDS
            while loop.time() < deadline:
                if await request.is_disconnected():
                    return
                try:
                    await asyncio.wait_for(queue.get(), KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield "event: day\ndata: changed\n\n"
        finally:
            relay.unsubscribe(topic, queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- Availability --------------------------------------------------------------------------------------------------


def _availability(request: Request, db: Session, actor: Actor, form: dict[str, Any],
                  error: str | None = None) -> Response:
    return render(request, "teleconsultation/availability.html", {
        "ranges": availability.my_ranges(db, actor), "lines": availability.my_lines(db, actor),
        "line_titles": {ln.id: ln.title for ln in availability.my_lines(db, actor)},
        "form": form, "error": error}, status_code=422 if error else 200)


@router.get(f"{BASE}/disponibilites", response_class=HTMLResponse)
def availability_page(request: Request, db: DbSession, actor: Practitioner) -> Response:
    return _availability(request, db, actor, {"kind": "weekly", "slot_minutes": "20", "place": ""})


@router.post(f"{BASE}/disponibilites", response_class=HTMLResponse)
def add_range(request: Request, db: DbSession, actor: Practitioner,
              kind: Annotated[str, Form(max_length=10)], start: Annotated[str, Form(max_length=5)],
              end: Annotated[str, Form(max_length=5)], weekday: Annotated[str, Form(max_length=1)] = "",
              day: Annotated[str, Form(max_length=10)] = "", slot_minutes: Annotated[str, Form(max_length=3)] = "",
              line_id: Annotated[str, Form(max_length=36)] = "",
              place: Annotated[str, Form(max_length=100)] = "") -> Response:
    form = {"kind": kind, "start": start, "end": end, "weekday": weekday, "day": day, "slot_minutes": slot_minutes,
            "line_id": line_id, "place": place}
    try:
        if kind not in {k.value for k in Kind}:
            raise ValidationFailed("Choisissez le type de plage.")
        data = availability.RangeIn(
            kind=Kind(kind), start=start, end=end, weekday=int(weekday) if weekday.isdigit() else None,
            day=dt.date.fromisoformat(day) if day else None,
            slot_minutes=int(slot_minutes) if slot_minutes.isdigit() else None,
            line_id=as_uuid(line_id) if line_id else None, place=place.strip() or rules.REMOTE)
        availability.add_range(db, actor, data)
    except ValueError:
        return _availability(request, db, actor, form, "Date ou ligne invalide.")
    except MaillageError as exc:
        return _availability(request, db, actor, form, _message(exc))
    return RedirectResponse(f"{BASE}/disponibilites", status_code=303)


@router.post(f"{BASE}/disponibilites/{{range_id}}/retirer")
def remove_range(range_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    availability.remove_range(db, actor, range_id)
    return RedirectResponse(f"{BASE}/disponibilites", status_code=303)


# --- Booking -------------------------------------------------------------------------------------------------------


def _booking_page(request: Request, db: Session, actor: Actor, patient_id: str, line_id: str,
                  error: str | None = None, origin: str = "") -> Response:
    mine = patients.my_patients(db, actor, context=audit_context(request))
    lines = repo.teleconsultation_lines(db)
    offers: list[availability.Offer] = []
    chosen_line = next((ln for ln in lines if str(ln.id) == line_id), None)
    if chosen_line is not None:
        offers = availability.line_offers(db, chosen_line.id)
    return render(request, "teleconsultation/book.html", {
        "patients": mine, "lines": lines, "patient_id": patient_id, "line": chosen_line, "offers": offers,
        "error": error, "origin": origin}, status_code=409 if error else 200)


@router.get(f"{BASE}/reserver", response_class=HTMLResponse)
def book_page(request: Request, db: DbSession, actor: Practitioner, patient_id: str = "",
              line_id: str = "", demande: str = "") -> Response:
    """Choose the patient and the line, then a free slot; ``demande``: the tele-expertise request whose opinion
    oriented to this teleconsultation (the booking is linked to it)."""
    return _booking_page(request, db, actor, patient_id[:36], line_id[:36], origin=demande[:36])


@router.post(f"{BASE}/reserver", response_class=HTMLResponse)
def book(request: Request, db: DbSession, actor: Practitioner, patient_id: Annotated[str, Form(max_length=36)],
         line_id: Annotated[str, Form(max_length=36)], slot: Annotated[str, Form(max_length=80)],
         reason: Annotated[str, Form(max_length=2000)] = "",
         demande: Annotated[str, Form(max_length=36)] = "") -> Response:
    try:
        practitioner, _, start = slot.partition("|")
        data = booking.BookingIn(patient_id=as_uuid(patient_id), practitioner_id=as_uuid(practitioner),
                                 line_id=as_uuid(line_id), starts_at=dt.datetime.fromisoformat(start), reason=reason,
                                 teleexpertise_request_id=as_uuid(demande) if demande else None)
    except (ValueError, MaillageError):
        return _booking_page(request, db, actor, patient_id, line_id, "Choisissez un patient et un créneau.",
                             origin=demande)
    try:
        booked = booking.book(db, actor, data, context=audit_context(request))
    except MaillageError as exc:
        db.rollback()
        return _booking_page(request, db, actor, patient_id, line_id, _message(exc), origin=demande)
    return _appointment_page(request, db, actor, booked.appointment.id, link=_link_url(request, booked.link),
                             status_code=201)


def _link_url(request: Request, token: str) -> str:
    settings = request.app.state.settings
    origin = settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{origin}/tc/{token}"


# --- An appointment, its room for the practitioner -----------------------------------------------------------------


def _appointment_page(request: Request, db: Session, actor: Actor, appointment_id: uuid.UUID | str, *,
                      link: str | None = None, error: str | None = None, status_code: int = 200,
                      form: dict[str, str] | None = None, guest_link: str | None = None,
                      guest_error: str | None = None) -> Response:
    context = audit_context(request)
    appt = booking.load(db, actor, appointment_id, action="read", context=context)
    # The patient's banner while the actor may see the patient (a cancelled appointment ends the practitioner's
    # relationship: the appointment stays readable, the patient no longer).
    view = (patients.get_patient(db, actor, appt.patient_id, purpose=Purpose.TELECONSULTATION, context=context)
            if authz.has_access(db, actor, appt.patient_id) else None)
    invitations = participants.invitations(db, appt) if appt.practitioner_id == actor.user_id else []
    users = repo.users_by_ids(db, [appt.practitioner_id, appt.requester_id,
                                   *[g.user_id for g, _ in invitations if g.user_id]])
    line = repo.line(db, appt.line_id)
    return render(request, "teleconsultation/appointment.html", {
        "appt": appt, "view": view, "practitioner": users.get(appt.practitioner_id),
        "requester": users.get(appt.requester_id), "line": line, "link": link, "error": error,
        "is_practitioner": appt.practitioner_id == actor.user_id, "is_requester": appt.requester_id == actor.user_id,
        "terminal": Status(appt.status) in rules.TERMINAL, "acts": report.acts_of(db, appt.id),
        "quality": quality.summary_of(db, appt.id) if appt.status == Status.DONE and
        appt.practitioner_id == actor.user_id else None,
        "invitations": invitations, "guest_link": guest_link, "guest_error": guest_error,
        "capacity_labels": rules.Capacity.labels(),
        "guest_names": {uid: u.display_name for uid, u in users.items()},
        "form": form or {}, **aftercare.page_context(db, actor, appt),
        "assisted": assisted.view(db, actor, appt), "assistances": rules.Assistance.labels(),
        "nurses": assisted.nurses_for(db, appt.patient_id)
        if appt.requester_id == actor.user_id and appt.status == Status.BOOKED and not appt.assisting_nurse_id
        and view is not None else []}, status_code=status_code)


@router.get(f"{BASE}/rdv/{{appointment_id}}", response_class=HTMLResponse)
def appointment(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    return _appointment_page(request, db, actor, appointment_id)


def _step(request: Request, db: Session, actor: Actor, appointment_id: uuid.UUID, step: Any) -> Response:
    try:
        step()
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _appointment_page(request, db, actor, appointment_id, error=_message(exc), status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/rdv/{appointment_id}", status_code=303)


@router.post(f"{BASE}/rdv/{{appointment_id}}/admettre")
def admit(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    return _step(request, db, actor, appointment_id,
                 lambda: booking.admit(db, actor, appointment_id, context=audit_context(request)))


@router.post(f"{BASE}/rdv/{{appointment_id}}/terminer")
def end(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    return _step(request, db, actor, appointment_id,
                 lambda: booking.end(db, actor, appointment_id, context=audit_context(request)))


@router.post(f"{BASE}/rdv/{{appointment_id}}/absent")
def no_show(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    return _step(request, db, actor, appointment_id,
                 lambda: booking.no_show(db, actor, appointment_id, context=audit_context(request)))


@router.post(f"{BASE}/rdv/{{appointment_id}}/annuler")
def cancel(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner,
           reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _step(request, db, actor, appointment_id,
                 lambda: booking.cancel(db, actor, appointment_id, reason, context=audit_context(request)))


@router.post(f"{BASE}/rdv/{{appointment_id}}/compte-rendu", response_class=HTMLResponse)
def sign_report(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner,
                text: Annotated[str, Form(max_length=report.MAX_CHARS)] = "",
                prescriptions: Annotated[str, Form(max_length=report.MAX_CHARS)] = "",
                incidents: Annotated[str, Form(max_length=report.MAX_CHARS)] = "") -> Response:
    data = report.ReportIn(report=text, prescriptions=prescriptions, incidents=incidents)
    try:
        report.sign(db, actor, appointment_id, data, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _appointment_page(request, db, actor, appointment_id, error=_message(exc), status_code=exc.status_code,
                                 form={"text": text, "prescriptions": prescriptions, "incidents": incidents})
    return RedirectResponse(f"{BASE}/rdv/{appointment_id}", status_code=303)


@router.post(f"{BASE}/rdv/{{appointment_id}}/lien", response_class=HTMLResponse)
def new_link(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    try:
        token = booking.new_link(db, actor, appointment_id, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _appointment_page(request, db, actor, appointment_id, error=_message(exc), status_code=exc.status_code)
    return _appointment_page(request, db, actor, appointment_id, link=_link_url(request, token))


@router.post(f"{BASE}/rdv/{{appointment_id}}/inviter", response_class=HTMLResponse)
def invite(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner,
           capacity: Annotated[str, Form(max_length=16)] = "", mode: Annotated[str, Form(max_length=6)] = "lien",
           username: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Invite a third participant, by a one-time link (shown once) or by account."""
    context = audit_context(request)
    try:
        if mode == "compte":
            participants.invite_by_account(db, actor, appointment_id, capacity, username, context=context)
            token = None
        else:
            _, token = participants.invite_by_link(db, actor, appointment_id, capacity, context=context)
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _appointment_page(request, db, actor, appointment_id, guest_error=_message(exc),
                                 status_code=exc.status_code)
    origin = request.app.state.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return _appointment_page(request, db, actor, appointment_id,
                             guest_link=f"{origin}/tc/invite/{token}" if token else None)


@router.post(f"{BASE}/rdv/{{appointment_id}}/invites/{{guest_id}}/retirer", response_class=HTMLResponse)
def uninvite(request: Request, appointment_id: uuid.UUID, guest_id: uuid.UUID, db: DbSession,
             actor: Practitioner) -> Response:
    participants.withdraw(db, actor, appointment_id, guest_id, context=audit_context(request))
    return _appointment_page(request, db, actor, appointment_id)


# --- The patient's pages -------------------------------------------------------------------------------------------


def _refused(request: Request, refusal: rules.LinkRefusal) -> Response:
    code = 410 if refusal in (rules.LinkRefusal.USED, rules.LinkRefusal.EXPIRED, rules.LinkRefusal.CLOSED) else 403
    return render(request, "teleconsultation/patient_refused.html", {"message": refusal.label}, status_code=code)


def _patient_cookie(request: Request, response: Response, secret: str) -> None:
    secure = cookie_is_secure(request.app.state.settings, request.scope)
    response.set_cookie(PATIENT_COOKIE, secret, httponly=True, samesite="strict", secure=secure, path=BASE,
                        max_age=6 * 3600)


@router.get("/tc/{token}", response_class=HTMLResponse)
def open_link(request: Request, token: str, db: DbSession) -> Response:
    """The patient's link: opened once, it sets the link session's cookie and leads to the consent screen."""
    try:
        _, secret = patient_link.open_link(db, token, context=audit_context(request))
    except patient_link.LinkRefused as refused:
        return _refused(request, refused.refusal)
    response = RedirectResponse(f"{BASE}/patient", status_code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    _patient_cookie(request, response, secret)
    return response


def _patient_secret(request: Request) -> str:
    return request.cookies.get(PATIENT_COOKIE, "")


@router.get(f"{BASE}/patient", response_class=HTMLResponse)
def patient_room(request: Request, db: DbSession) -> Response:
    """The consent screen, then the waiting room and the room (one page, live through the signalling socket)."""
    try:
        ps = patient_link.resolve(db, _patient_secret(request), None, action="read", context=audit_context(request))
    except patient_link.LinkRefused as refused:
        return _refused(request, refused.refusal)
    patient_link.audit_patient(db, action="read", appt=ps.appointment, link_id=ps.link.id,
                               context=audit_context(request))
    users = repo.users_by_ids(db, [ps.appointment.practitioner_id])
    practitioner = users.get(ps.appointment.practitioner_id)
    return render(request, "teleconsultation/patient.html", {
        "appt": ps.appointment, "practitioner": practitioner.display_name if practitioner else "",
        "consented": ps.appointment.consent_at is not None, "error": None, "now": now()})


@router.post(f"{BASE}/patient/consentement", response_class=HTMLResponse)
def patient_consent(request: Request, db: DbSession, consent: Annotated[str, Form(max_length=3)] = "",
                    third_party: Annotated[str, Form(max_length=3)] = "") -> Response:
    try:
        patient_link.consent(db, _patient_secret(request), teleconsultation=consent == "oui",
                             third_party=third_party == "oui", context=audit_context(request))
    except patient_link.LinkRefused as refused:
        return _refused(request, refused.refusal)
    except MaillageError as exc:
        db.rollback()
        ps = patient_link.resolve(db, _patient_secret(request), None, action="read", context=audit_context(request))
        return render(request, "teleconsultation/patient.html", {
            "appt": ps.appointment, "practitioner": "", "consented": False, "error": _message(exc), "now": now()},
            status_code=422)
    return RedirectResponse(f"{BASE}/patient", status_code=303)
