"""Pages of assisted and escorted teleconsultations, in French: booking a consultation where a nurse is with the
patient (and, for a unit with a room, the room held over the slot), naming the nurse later, the nurse recording the
patient's consent on their behalf, and the rooms of the actor's establishments with their opening ranges. The
nurse's side of the room lives on the appointment's page (``pages``, ``_assisted.html``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.ids import as_uuid
from maillage.patient import service as patients
from maillage.security.actor import Actor
from maillage.security.deps import audit_context
from maillage.teleconsultation import assisted, availability, booking, places
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.pages import BASE, Practitioner, _message, render
from maillage.teleconsultation.rules import Assistance, Kind

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return as_uuid(text) if text else None
    except (ValueError, MaillageError):
        return None


# --- Booking an assisted consultation ------------------------------------------------------------------------------


def _booking_page(request: Request, db: Session, actor: Actor, form: dict[str, str],
                  error: str | None = None, status_code: int = 200) -> Response:
    mine = patients.my_patients(db, actor, context=audit_context(request))
    lines = repo.teleconsultation_lines(db)
    rooms = places.my_places(db, actor, active_only=True)
    patient_id = _uuid_or_none(form.get("patient_id", ""))
    patient_id = patient_id if patient_id in {v.patient.id for v in mine} else None
    line = next((ln for ln in lines if str(ln.id) == form.get("line_id")), None)
    room = next((r for r in rooms if str(r.place.id) == form.get("place_id")), None)
    offers: list[availability.Offer] = []
    if line is not None and patient_id is not None:
        offers = availability.line_offers(db, line.id)
        if room is not None:
            offers = [availability.Offer(o.practitioner_id, o.practitioner,
                                         places.open_free_slots(db, room.place.id, o.slots)) for o in offers]
    return render(request, "teleconsultation/assisted_book.html", {
        "patients": mine, "lines": lines, "rooms": rooms, "form": form, "line": line, "room": room,
        "patient_chosen": patient_id, "nurses": assisted.nurses_for(db, patient_id) if patient_id else [],
        "offers": offers, "assistances": Assistance.labels(), "error": error}, status_code=status_code)


@router.get(f"{BASE}/assistee/reserver", response_class=HTMLResponse)
def book_page(request: Request, db: DbSession, actor: Practitioner, patient_id: str = "", line_id: str = "",
              place_id: str = "") -> Response:
    """Choose the patient, the line and the room (if the consultation is held in one of the actor's rooms), then
    the nurse, the accompaniment and a free slot."""
    return _booking_page(request, db, actor, {"patient_id": patient_id[:36], "line_id": line_id[:36],
                                              "place_id": place_id[:36]})


@router.post(f"{BASE}/assistee/reserver", response_class=HTMLResponse)
def book(request: Request, db: DbSession, actor: Practitioner, patient_id: Annotated[str, Form(max_length=36)],
         line_id: Annotated[str, Form(max_length=36)], nurse_id: Annotated[str, Form(max_length=36)] = "",
         assistance: Annotated[str, Form(max_length=3)] = "", slot: Annotated[str, Form(max_length=80)] = "",
         place_id: Annotated[str, Form(max_length=36)] = "",
         reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    form = {"patient_id": patient_id, "line_id": line_id, "place_id": place_id, "nurse_id": nurse_id,
            "assistance": assistance, "reason": reason}
    try:
        practitioner, _, start = slot.partition("|")
        if assistance not in Assistance.labels():
            raise ValidationFailed("Choisissez le type d'accompagnement.")
        nurse = _uuid_or_none(nurse_id)
        if nurse is None:
            raise ValidationFailed(assisted.NURSE_NOT_FOUND)
        data = booking.BookingIn(patient_id=as_uuid(patient_id), practitioner_id=as_uuid(practitioner),
                                 line_id=as_uuid(line_id), starts_at=dt.datetime.fromisoformat(start), reason=reason)
        appt = assisted.book_assisted(db, actor, data, assisted.AssistIn(
            nurse_id=nurse, assistance=Assistance(assistance), place_id=_uuid_or_none(place_id)),
            context=audit_context(request))
    except ValueError:
        db.rollback()
        return _booking_page(request, db, actor, form, "Choisissez un patient, un infirmier ou une infirmière et "
                                                       "un créneau.", status_code=422)
    except MaillageError as exc:
        db.rollback()
        return _booking_page(request, db, actor, form, _message(exc), status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/rdv/{appt.id}", status_code=303)


# --- On the appointment: the nurse named later, the consent recorded by the nurse ---------------------------------


def _step(request: Request, db: Session, actor: Actor, appointment_id: uuid.UUID, step: Any) -> Response:
    from maillage.teleconsultation.pages import _appointment_page

    try:
        step()
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _appointment_page(request, db, actor, appointment_id, error=_message(exc), status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/rdv/{appointment_id}", status_code=303)


@router.post(f"{BASE}/rdv/{{appointment_id}}/infirmier")
def name_nurse(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner,
               nurse_id: Annotated[str, Form(max_length=36)] = "",
               assistance: Annotated[str, Form(max_length=3)] = "") -> Response:
    def step() -> None:
        nurse = _uuid_or_none(nurse_id)
        if nurse is None or assistance not in Assistance.labels():
            raise ValidationFailed("Choisissez l'infirmier(ère) et le type d'accompagnement.")
        assisted.name_nurse(db, actor, appointment_id, nurse, Assistance(assistance), context=audit_context(request))

    return _step(request, db, actor, appointment_id, step)


@router.post(f"{BASE}/rdv/{{appointment_id}}/consentement")
def nurse_consent(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner,
                  consent: Annotated[str, Form(max_length=3)] = "",
                  third_party: Annotated[str, Form(max_length=3)] = "") -> Response:
    return _step(request, db, actor, appointment_id, lambda: assisted.consent(
        db, actor, appointment_id, teleconsultation=consent == "oui", third_party=third_party == "oui",
        context=audit_context(request)))


# --- The rooms of the actor's establishments ------------------------------------------------------------------------


def _places_page(request: Request, db: Session, actor: Actor, form: dict[str, str] | None = None,
                 error: str | None = None, status_code: int = 200) -> Response:
    establishments = places.manageable_establishments(db, actor)
    return render(request, "teleconsultation/places.html", {
        "views": places.my_places(db, actor), "establishments": establishments,
        "units": places.units_of(db, [e.id for e in establishments]), "form": form or {"kind": "weekly"},
        "error": error}, status_code=status_code)


@router.get(f"{BASE}/salles", response_class=HTMLResponse)
def places_page(request: Request, db: DbSession, actor: Practitioner) -> Response:
    return _places_page(request, db, actor)


@router.post(f"{BASE}/salles", response_class=HTMLResponse)
def create_place(request: Request, db: DbSession, actor: Practitioner,
                 establishment_id: Annotated[str, Form(max_length=36)] = "",
                 name: Annotated[str, Form(max_length=200)] = "",
                 care_unit_id: Annotated[str, Form(max_length=36)] = "") -> Response:
    try:
        establishment = _uuid_or_none(establishment_id)
        if establishment is None:
            raise ValidationFailed("Choisissez l'établissement.")
        places.create_place(db, actor, establishment_id=establishment, name=name,
                            care_unit_id=_uuid_or_none(care_unit_id))
    except MaillageError as exc:
        db.rollback()
        return _places_page(request, db, actor, {"name": name, "kind": "weekly"}, _message(exc),
                            status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/salles", status_code=303)


@router.post(f"{BASE}/salles/{{place_id}}/plages", response_class=HTMLResponse)
def add_place_range(request: Request, place_id: uuid.UUID, db: DbSession, actor: Practitioner,
                    kind: Annotated[str, Form(max_length=10)] = "", start: Annotated[str, Form(max_length=5)] = "",
                    end: Annotated[str, Form(max_length=5)] = "", weekday: Annotated[str, Form(max_length=1)] = "",
                    day: Annotated[str, Form(max_length=10)] = "") -> Response:
    form = {"kind": kind, "start": start, "end": end, "weekday": weekday, "day": day, "place_id": str(place_id)}
    try:
        if kind not in {k.value for k in Kind}:
            raise ValidationFailed("Choisissez le type de plage.")
        places.add_range(db, actor, place_id, places.PlaceRangeIn(
            kind=Kind(kind), start=start, end=end, weekday=int(weekday) if weekday.isdigit() else None,
            day=dt.date.fromisoformat(day) if day else None))
    except ValueError:
        db.rollback()
        return _places_page(request, db, actor, form, "Date invalide.", status_code=422)
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _places_page(request, db, actor, form, _message(exc), status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/salles", status_code=303)


@router.post(f"{BASE}/salles/{{place_id}}/plages/{{range_id}}/retirer")
def remove_place_range(place_id: uuid.UUID, range_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    places.remove_range(db, actor, place_id, range_id)
    return RedirectResponse(f"{BASE}/salles", status_code=303)
