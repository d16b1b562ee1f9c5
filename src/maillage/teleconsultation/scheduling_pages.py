"""Pages of teleconsultation's scheduling and after-care, in French: reschedule an appointment, order a follow-up
(both from the appointment's page), the practitioner's yearly teleconsultation share with its declaration, and the
line coordinator's view of the line's appointments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit.clock import today_paris
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models.directory import SpecialtyLine
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.teleconsultation import aftercare, booking, notices, pathway, scheduling
from maillage.teleconsultation.pages import BASE, _appointment_page, _message, render

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
