"""JSON API of teleconsultation (``/api/teleconsultation/...``): availability, free slots, bookings and their states.

An appointment is visible to its requester and its practitioner; anyone else gets 404, as if it did not exist. A
step its state forbids answers 409; two bookings of one slot: one gets it, the other 409.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from maillage.exceptions import ValidationFailed
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationAvailability
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.teleconsultation import availability, booking, rules
from maillage.teleconsultation import report as reports
from maillage.teleconsultation.rules import Kind

router = APIRouter(prefix="/api/teleconsultation", tags=["téléconsultation"], route_class=UnitOfWorkRoute)
Practitioner = Annotated[Actor, Depends(require(Permission.TELECONSULTATION_RUN))]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Non authentifié"},
    403: {"description": "Action non permise pour ce rôle, ou pour votre place dans le rendez-vous"},
    404: {"description": "Introuvable, ou hors de vos rendez-vous"},
    409: {"description": "Créneau déjà pris ou passé, ou étape impossible dans l'état actuel du rendez-vous"},
    422: {"description": "Données invalides (détail champ par champ)"},
}
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


class RangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["weekly", "extra", "absence"]
    start: str = Field(pattern=HHMM, description="Début, HH:MM (heure de Paris)")
    end: str = Field(pattern=HHMM, description="Fin, HH:MM (24:00 : fin de journée)")
    weekday: int | None = Field(default=None, ge=0, le=6, description="0 lundi … 6 dimanche (plage hebdomadaire)")
    day: dt.date | None = Field(default=None, description="Date (ajout ponctuel ou absence)")
    slot_minutes: int | None = Field(default=None, ge=5, le=120)
    line_id: uuid.UUID | None = None
    place: str = Field(default=rules.REMOTE, min_length=1, max_length=100)


class RangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    kind: str
    weekday: int | None
    day: dt.date | None
    start_minute: int
    end_minute: int
    slot_minutes: int | None
    line_id: uuid.UUID | None
    place: str


class SlotRead(BaseModel):
    starts_at: dt.datetime
    ends_at: dt.datetime
    place: str


class OfferRead(BaseModel):
    practitioner_id: uuid.UUID
    practitioner: str
    slots: list[SlotRead]


class BookingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: uuid.UUID
    practitioner_id: uuid.UUID
    line_id: uuid.UUID
    starts_at: AwareDatetime
    reason: str = Field(default="", max_length=2000)
    teleexpertise_request_id: uuid.UUID | None = Field(
        default=None, description="La demande de téléexpertise dont l'avis oriente vers cette téléconsultation")


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class AppointmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    patient_id: uuid.UUID
    practitioner_id: uuid.UUID
    requester_id: uuid.UUID
    line_id: uuid.UUID
    teleexpertise_request_id: uuid.UUID | None
    place: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    reason: str
    closing_reason: str | None
    consent_at: dt.datetime | None
    third_party_present: bool | None
    arrived_at: dt.datetime | None
    admitted_at: dt.datetime | None
    ended_at: dt.datetime | None
    report_signed_at: dt.datetime | None
    report_document_id: uuid.UUID | None


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report: str = Field(min_length=1, max_length=reports.MAX_CHARS, description="Le compte rendu")
    prescriptions: str = Field(default="", max_length=reports.MAX_CHARS, description="Actes et prescriptions")
    incidents: str = Field(default="", max_length=reports.MAX_CHARS, description="Incidents techniques")


class BookingRead(BaseModel):
    appointment: AppointmentRead
    patient_link_token: str = Field(description="Le jeton du lien du patient (/tc/<jeton>) : donné une seule fois")


def _appointment(appt: TeleconsultationAppointment) -> AppointmentRead:
    return AppointmentRead.model_validate(appt)


def _range(row: TeleconsultationAvailability) -> RangeRead:
    return RangeRead.model_validate(row)


@router.get("/availability", response_model=list[RangeRead], summary="Mes plages de disponibilité", responses=ERRORS)
def my_ranges(db: DbSession, actor: Practitioner) -> list[RangeRead]:
    return [_range(r) for r in availability.my_ranges(db, actor)]


@router.post("/availability", status_code=201, response_model=RangeRead, summary="Publier une plage",
             responses=ERRORS)
def add_range(body: RangeCreate, db: DbSession, actor: Practitioner) -> RangeRead:
    row = availability.add_range(db, actor, availability.RangeIn(
        kind=Kind(body.kind), start=body.start, end=body.end, weekday=body.weekday, day=body.day,
        slot_minutes=body.slot_minutes, line_id=body.line_id, place=body.place))
    return _range(row)


@router.delete("/availability/{range_id}", status_code=204, summary="Retirer une plage", responses=ERRORS)
def remove_range(range_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    availability.remove_range(db, actor, range_id)
    return Response(status_code=204)


@router.get("/lines/{line_id}/slots", response_model=list[OfferRead],
            summary="Créneaux libres des praticiens d'une ligne", responses=ERRORS)
def line_slots(line_id: uuid.UUID, actor: Practitioner, db: DbSession,
               days: Annotated[int, Query(ge=1, le=availability.MAX_DAYS)] = 14) -> list[OfferRead]:
    return [OfferRead(practitioner_id=o.practitioner_id, practitioner=o.practitioner,
                      slots=[SlotRead(starts_at=s.starts_at, ends_at=s.ends_at, place=s.place) for s in o.slots])
            for o in availability.line_offers(db, line_id, days=days)]


@router.post("/appointments", status_code=201, response_model=BookingRead,
             summary="Réserver un créneau pour un patient suivi", responses=ERRORS)
def book(body: BookingCreate, request: Request, db: DbSession, actor: Practitioner) -> BookingRead:
    booked = booking.book(db, actor, booking.BookingIn(
        patient_id=body.patient_id, practitioner_id=body.practitioner_id, line_id=body.line_id,
        starts_at=body.starts_at, reason=body.reason, teleexpertise_request_id=body.teleexpertise_request_id),
        context=audit_context(request))
    return BookingRead(appointment=_appointment(booked.appointment), patient_link_token=booked.link)


@router.get("/appointments/{appointment_id}", response_model=AppointmentRead, summary="Lire un rendez-vous",
            responses=ERRORS)
def read(appointment_id: uuid.UUID, request: Request, db: DbSession, actor: Practitioner) -> AppointmentRead:
    return _appointment(booking.load(db, actor, appointment_id, action="read", context=audit_context(request)))


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentRead,
             summary="Annuler un rendez-vous (motif obligatoire)", responses=ERRORS)
def cancel(appointment_id: uuid.UUID, body: ReasonIn, request: Request, db: DbSession,
           actor: Practitioner) -> AppointmentRead:
    return _appointment(booking.cancel(db, actor, appointment_id, body.reason, context=audit_context(request)))


@router.post("/appointments/{appointment_id}/admit", response_model=AppointmentRead,
             summary="Admettre le patient en salle d'attente (praticien)", responses=ERRORS)
def admit(appointment_id: uuid.UUID, request: Request, db: DbSession, actor: Practitioner) -> AppointmentRead:
    return _appointment(booking.admit(db, actor, appointment_id, context=audit_context(request)))


@router.post("/appointments/{appointment_id}/end", response_model=AppointmentRead,
             summary="Terminer la consultation (praticien)", responses=ERRORS)
def end(appointment_id: uuid.UUID, request: Request, db: DbSession, actor: Practitioner) -> AppointmentRead:
    return _appointment(booking.end(db, actor, appointment_id, context=audit_context(request)))


@router.post("/appointments/{appointment_id}/no-show", response_model=AppointmentRead,
             summary="Déclarer le patient absent (praticien, créneau commencé)", responses=ERRORS)
def no_show(appointment_id: uuid.UUID, request: Request, db: DbSession, actor: Practitioner) -> AppointmentRead:
    return _appointment(booking.no_show(db, actor, appointment_id, context=audit_context(request)))


@router.post("/appointments/{appointment_id}/report", response_model=AppointmentRead,
             summary="Signer le compte rendu (praticien, consultation terminée) : PDF au dossier, acte TCG",
             responses=ERRORS)
def sign_report(appointment_id: uuid.UUID, body: ReportIn, request: Request, db: DbSession,
                actor: Practitioner) -> AppointmentRead:
    data = reports.ReportIn(report=body.report, prescriptions=body.prescriptions, incidents=body.incidents)
    return _appointment(reports.sign(db, actor, appointment_id, data, context=audit_context(request)))


@router.get("/day", response_model=list[AppointmentRead], summary="Ma journée de téléconsultations (praticien)",
            responses=ERRORS)
def day(request: Request, db: DbSession, actor: Practitioner,
        on: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                        description="Date AAAA-MM-JJ (Paris), aujourd'hui par défaut")] = None,
        ) -> list[AppointmentRead]:
    try:
        date = dt.date.fromisoformat(on) if on else None
    except ValueError:
        raise ValidationFailed("Date invalide.", details=[{"field": "on", "message": "Date AAAA-MM-JJ."}]) from None
    return [_appointment(r.appointment) for r in booking.day(db, actor, date, context=audit_context(request))]
