"""Pages of teleconsultation's scheduling and after-care, in French: reschedule an appointment, order a follow-up
(both from the appointment's page), the practitioner's yearly teleconsultation share with its declaration, and the
line coordinator's view of the line's appointments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from maillage.exceptions import MaillageError, NotFound, ValidationFailed
from maillage.kit.clock import today_paris
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.ids import as_uuid
from maillage.models.directory import SpecialtyLine
from maillage.patient import service as patients
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.teleconsultation import aftercare, availability, booking, notices, pathway, scheduling
from maillage.teleconsultation.pages import BASE, _appointment_page, _link_url, _message, render
from maillage.teleconsultation.rules import Kind

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Practitioner = Annotated[Actor, Depends(require(Permission.TELECONSULTATION_RUN))]
Clinician = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]


@router.post(f"{BASE}/rdv/{{appointment_id}}/reporter", response_class=HTMLResponse)
def reschedule(
    request: Request,
    appointment_id: uuid.UUID,
    db: DbSession,
    actor: Practitioner,
    starts_at: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Move the appointment to the chosen free slot, with a reason; opens the new appointment's page."""
    try:
        try:
            when = dt.datetime.fromisoformat(starts_at)
        except ValueError:
            raise ValidationFailed("Choisissez le nouveau créneau.") from None
        moved = scheduling.reschedule(db, actor, appointment_id, when, reason, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _appointment_page(request, db, actor, appointment_id, error=_message(exc), status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/rdv/{moved.id}", status_code=303)


@router.post(f"{BASE}/rdv/{{appointment_id}}/suite", response_class=HTMLResponse)
def follow_up(
    request: Request,
    appointment_id: uuid.UUID,
    db: DbSession,
    actor: Practitioner,
    kind: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=aftercare.NOTE_MAX)] = "",
) -> Response:
    try:
        aftercare.order_follow_up(
            db, actor, appointment_id, aftercare.FollowUpIn(kind, note), context=audit_context(request)
        )
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _appointment_page(request, db, actor, appointment_id, error=_message(exc), status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/rdv/{appointment_id}", status_code=303)


def _share_page(
    request: Request, db: DbSession, actor: Actor, error: str | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "teleconsultation/share.html",
        {
            "share": aftercare.share_of(db, actor),
            "levels": pathway.ShareLevel,
            "error": error,
            "year": today_paris().year,
        },
        status_code=status_code,
    )


@router.get(f"{BASE}/activite", response_class=HTMLResponse)
def share_page(request: Request, db: DbSession, actor: Practitioner) -> Response:
    """The practitioner's teleconsultation share of the year, against its cap, and the declaration of the activity
    the platform cannot see."""
    return _share_page(request, db, actor)


@router.post(f"{BASE}/activite", response_class=HTMLResponse)
def declare(
    request: Request,
    db: DbSession,
    actor: Practitioner,
    in_person: Annotated[str, Form(max_length=9)] = "",
    other_teleconsultations: Annotated[str, Form(max_length=9)] = "0",
) -> Response:
    try:
        try:
            counts = int(in_person), int(other_teleconsultations or "0")
        except ValueError:
            raise ValidationFailed("Indiquez des nombres entiers.") from None
        aftercare.declare_activity(
            db, actor, year=today_paris().year, in_person=counts[0], other_teleconsultations=counts[1]
        )
    except MaillageError as exc:
        db.rollback()
        return _share_page(request, db, actor, error=_message(exc), status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/activite", status_code=303)


@router.get(f"{BASE}/coordination", response_class=HTMLResponse)
def coordination(request: Request, db: DbSession, actor: Clinician, ligne: uuid.UUID | None = None) -> Response:
    """The lines the actor coordinates and, for one of them (the first by default), its appointments of the week
    and its practitioners."""
    lines = scheduling.my_coordinated_lines(db, actor)
    chosen = ligne or (lines[0].id if lines else None)
    line: SpecialtyLine | None = None
    rows: list[booking.Row] = []
    team: list[scheduling.LinePractitioner] = []
    if chosen is not None:
        line, rows = scheduling.line_appointments(db, actor, chosen, context=audit_context(request))
        team = scheduling.line_team(db, actor, chosen)
    return render(
        request, "teleconsultation/coordination.html", {"lines": lines, "line": line, "rows": rows, "team": team}
    )


@router.get(f"{BASE}/avis", response_class=HTMLResponse)
def notices_page(request: Request, db: DbSession, actor: Clinician) -> Response:
    """The actor's teleconsultation notices, the latest first; each opens its appointment (which marks it read)."""
    return render(request, "teleconsultation/notices.html", {
        "notices": notices.recent(db, actor, limit=50), "kind_labels_notice": notices.KIND_LABELS})


# --- The coordinator books and manages availability for the line's practitioners -----------------------------------


def _coordinator_booking(request: Request, db: Session, actor: Actor, line_id: uuid.UUID, patient_id: str,
                         error: str | None = None, status_code: int = 200) -> Response:
    line = next((ln for ln in scheduling.my_coordinated_lines(db, actor) if ln.id == line_id), None)
    if line is None:
        raise NotFound(scheduling.LINE_NOT_FOUND)
    team = {p.user_id for p in scheduling.line_team(db, actor, line.id)}
    offers = [o for o in availability.line_offers(db, line.id) if o.practitioner_id in team]
    return render(request, "teleconsultation/coordination_book.html", {
        "line": line, "patients": patients.my_patients(db, actor, context=audit_context(request)),
        "patient_id": patient_id, "offers": offers, "error": error}, status_code=409 if error else status_code)


@router.get(f"{BASE}/coordination/reserver", response_class=HTMLResponse)
def coordinator_book_page(request: Request, db: DbSession, actor: Clinician, ligne: uuid.UUID,
                          patient_id: str = "") -> Response:
    """The coordinator chooses a patient they care for and a free slot of one of the line's practitioners."""
    return _coordinator_booking(request, db, actor, ligne, patient_id[:36])


@router.post(f"{BASE}/coordination/reserver", response_class=HTMLResponse)
def coordinator_book(request: Request, db: DbSession, actor: Clinician, ligne: Annotated[uuid.UUID, Form()],
                     patient_id: Annotated[str, Form(max_length=36)] = "",
                     slot: Annotated[str, Form(max_length=80)] = "",
                     reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        practitioner, _, start = slot.partition("|")
        data = booking.BookingIn(patient_id=as_uuid(patient_id), practitioner_id=as_uuid(practitioner), line_id=ligne,
                                 starts_at=dt.datetime.fromisoformat(start), reason=reason)
    except (ValueError, MaillageError):
        return _coordinator_booking(request, db, actor, ligne, patient_id, "Choisissez un patient et un créneau.")
    try:
        booked = scheduling.book_for(db, actor, data, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _coordinator_booking(request, db, actor, ligne, patient_id, _message(exc))
    practitioner_name = next((p.name for p in scheduling.line_team(db, actor, ligne)
                              if p.user_id == booked.appointment.practitioner_id), "")
    return render(request, "teleconsultation/coordination_booked.html", {
        "appt": booked.appointment, "link": _link_url(request, booked.link), "practitioner": practitioner_name,
        "line_id": ligne}, status_code=201)


def _ranges_page(request: Request, db: Session, actor: Actor, practitioner_id: uuid.UUID,
                 error: str | None = None, form: dict[str, str] | None = None) -> Response:
    ranges = scheduling.practitioner_ranges(db, actor, practitioner_id)
    lines = [ln for ln in scheduling.my_coordinated_lines(db, actor)
             if practitioner_id in {p.user_id for p in scheduling.line_team(db, actor, ln.id)}]
    name = next((p.name for ln in lines for p in scheduling.line_team(db, actor, ln.id)
                 if p.user_id == practitioner_id), "")
    return render(request, "teleconsultation/coordination_ranges.html", {
        "ranges": ranges, "lines": lines, "line_titles": {ln.id: ln.title for ln in lines}, "name": name,
        "practitioner_id": practitioner_id, "error": error,
        "form": form or {"kind": "weekly", "slot_minutes": "20"}}, status_code=422 if error else 200)


@router.get(f"{BASE}/coordination/praticiens/{{practitioner_id}}", response_class=HTMLResponse)
def coordinator_ranges(request: Request, practitioner_id: uuid.UUID, db: DbSession, actor: Clinician) -> Response:
    """A practitioner's ranges, for the coordinator of one of their lines: publish, withdraw."""
    return _ranges_page(request, db, actor, practitioner_id)


@router.post(f"{BASE}/coordination/praticiens/{{practitioner_id}}", response_class=HTMLResponse)
def coordinator_add_range(request: Request, practitioner_id: uuid.UUID, db: DbSession, actor: Clinician,
                          kind: Annotated[str, Form(max_length=10)] = "weekly",
                          start: Annotated[str, Form(max_length=5)] = "",
                          end: Annotated[str, Form(max_length=5)] = "",
                          weekday: Annotated[str, Form(max_length=1)] = "",
                          day: Annotated[str, Form(max_length=10)] = "",
                          slot_minutes: Annotated[str, Form(max_length=3)] = "",
                          line_id: Annotated[str, Form(max_length=36)] = "") -> Response:
    form = {"kind": kind, "start": start, "end": end, "weekday": weekday, "day": day, "slot_minutes": slot_minutes,
            "line_id": line_id}
    try:
        try:
            data = availability.RangeIn(
                kind=Kind(kind), start=start, end=end, weekday=int(weekday) if weekday else None,
                day=dt.date.fromisoformat(day) if day else None,
                slot_minutes=int(slot_minutes) if slot_minutes else None,
                line_id=as_uuid(line_id) if line_id else None)
        except ValueError:
            raise ValidationFailed("Vérifiez le type de plage, le jour, les heures et la durée d'un créneau.") from None
        scheduling.add_range_for(db, actor, practitioner_id, data)
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _ranges_page(request, db, actor, practitioner_id, _message(exc), form)
    return RedirectResponse(f"{BASE}/coordination/praticiens/{practitioner_id}", status_code=303)


@router.post(f"{BASE}/coordination/praticiens/{{practitioner_id}}/plages/{{range_id}}/retirer")
def coordinator_remove_range(practitioner_id: uuid.UUID, range_id: uuid.UUID, db: DbSession,
                             actor: Clinician) -> Response:
    scheduling.remove_range_for(db, actor, practitioner_id, range_id)
    return RedirectResponse(f"{BASE}/coordination/praticiens/{practitioner_id}", status_code=303)
