"""JSON API of teleconsultation's scheduling and after-care (``/api/teleconsultation/...``): reschedule, follow-up,
the notices, the yearly share and the declared activity, and the line coordinator's bookings, list and availability.

Same answers as the rest of the API: an appointment or a line out of the actor's reach is 404; a step its state
forbids is 409; bad input is 422 with a French message field by field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.teleconsultation import aftercare, availability, booking, notices, scheduling
from maillage.teleconsultation.endpoints import (
    ERRORS,
    AppointmentRead,
    BookingCreate,
    BookingRead,
    RangeCreate,
    RangeRead,
    _appointment,
    _range,
)
from maillage.teleconsultation.rules import Kind

router = APIRouter(prefix="/api/teleconsultation", tags=["téléconsultation"], route_class=UnitOfWorkRoute)
Practitioner = Annotated[Actor, Depends(require(Permission.TELECONSULTATION_RUN))]
Clinician = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: AwareDatetime = Field(description="Le début du nouveau créneau (un créneau libre du même praticien)")
    reason: str = Field(min_length=1, max_length=2000, description="Le motif du report")


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["teleconsultation", "in_person", "teleexpertise"]
    note: str = Field(default="", max_length=aftercare.NOTE_MAX)


class FollowUpRead(BaseModel):
    appointment_id: uuid.UUID
    kind: str | None
    note: str | None
    ordered_at: dt.datetime | None


class NoticeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    appointment_id: uuid.UUID
    kind: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class ShareRead(BaseModel):
    year: int
    counted: int = Field(description="Téléconsultations comptées (hors celles du médecin traitant avec ses patients)")
    excluded: int = Field(description="Téléconsultations du médecin traitant avec ses propres patients (exclues)")
    in_person: int | None = Field(description="Consultations en présentiel déclarées (None : non déclarées)")
    cap: str
    ratio: str | None
    level: str


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # a count is a JSON integer, not false nor "12"
    in_person: int = Field(ge=0, le=aftercare.COUNT_MAX)
    other_teleconsultations: int = Field(default=0, ge=0, le=aftercare.COUNT_MAX)

    @field_validator("in_person", "other_teleconsultations", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        """A JSON number without a fractional part (12 or 12.0, as JSON Schema's integer), never false nor "12"."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


@router.post(
    "/appointments/{appointment_id}/reschedule",
    response_model=AppointmentRead,
    status_code=201,
    summary="Reporter un rendez-vous à un autre créneau libre (motif obligatoire)",
    responses=ERRORS,
)
def reschedule(
    appointment_id: uuid.UUID, body: RescheduleIn, request: Request, db: DbSession, actor: Clinician
) -> AppointmentRead:
    moved = scheduling.reschedule(
        db, actor, appointment_id, body.starts_at, body.reason, context=audit_context(request)
    )
    return _appointment(moved)


@router.post(
    "/appointments/{appointment_id}/follow-up",
    response_model=FollowUpRead,
    summary="Demander une suite (praticien, consultation terminée)",
    responses=ERRORS,
)
def follow_up(
    appointment_id: uuid.UUID, body: FollowUpIn, request: Request, db: DbSession, actor: Practitioner
) -> FollowUpRead:
    appt = aftercare.order_follow_up(
        db, actor, appointment_id, aftercare.FollowUpIn(body.kind, body.note), context=audit_context(request)
    )
    return FollowUpRead(
        appointment_id=appt.id, kind=appt.follow_up_kind, note=appt.follow_up_note, ordered_at=appt.follow_up_at
    )


@router.get("/notices", response_model=list[NoticeRead], summary="Mes avis de téléconsultation", responses=ERRORS)
def my_notices(db: DbSession, actor: Clinician) -> list[NoticeRead]:
    return [NoticeRead.model_validate(n) for n in notices.recent(db, actor, limit=50)]


@router.get("/share", response_model=ShareRead, summary="Ma part annuelle de téléconsultations", responses=ERRORS)
def share(
    db: DbSession, actor: Practitioner, year: Annotated[int | None, Query(ge=aftercare.YEAR_MIN, le=2100)] = None
) -> ShareRead:
    s = aftercare.share_of(db, actor, year)
    return ShareRead(
        year=s.year,
        counted=s.counted,
        excluded=s.excluded,
        in_person=s.in_person,
        cap=str(s.cap),
        ratio=None if s.ratio is None else str(s.ratio.quantize(Decimal("0.0001"))),
        level=s.level.value,
    )


@router.put(
    "/activity/{year}",
    response_model=ShareRead,
    summary="Déclarer l'activité en présentiel d'une année (dénominateur de la part)",
    responses=ERRORS,
)
def declare(
    year: Annotated[int, Path(ge=aftercare.YEAR_MIN, le=2100)], body: ActivityIn, db: DbSession, actor: Practitioner
) -> ShareRead:
    aftercare.declare_activity(
        db, actor, year=year, in_person=body.in_person, other_teleconsultations=body.other_teleconsultations
    )
    return share(db, actor, year)


# --- The line coordinator ------------------------------------------------------------------------------------------


@router.get(
    "/lines/{line_id}/appointments",
    response_model=list[AppointmentRead],
    summary="Les rendez-vous d'une ligne (coordination)",
    responses=ERRORS,
)
def line_appointments(
    line_id: uuid.UUID,
    request: Request,
    db: DbSession,
    actor: Clinician,
    first_day: dt.date | None = None,
    days: Annotated[int, Query(ge=1, le=scheduling.LINE_DAYS_MAX)] = 7,
) -> list[AppointmentRead]:
    _, rows = scheduling.line_appointments(
        db, actor, line_id, first_day=first_day, days=days, context=audit_context(request)
    )
    return [_appointment(r.appointment) for r in rows]


@router.post(
    "/lines/{line_id}/appointments",
    status_code=201,
    response_model=BookingRead,
    summary="Réserver pour un praticien de la ligne (coordination)",
    responses=ERRORS,
)
def book_for(line_id: uuid.UUID, body: BookingCreate, request: Request, db: DbSession, actor: Clinician) -> BookingRead:
    booked = scheduling.book_for(
        db,
        actor,
        booking.BookingIn(
            patient_id=body.patient_id,
            practitioner_id=body.practitioner_id,
            line_id=line_id,
            starts_at=body.starts_at,
            reason=body.reason,
            teleexpertise_request_id=body.teleexpertise_request_id,
        ),
        context=audit_context(request),
    )
    return BookingRead(appointment=_appointment(booked.appointment), patient_link_token=booked.link)


@router.get(
    "/practitioners/{practitioner_id}/availability",
    response_model=list[RangeRead],
    summary="Les plages d'un praticien de ma ligne (coordination)",
    responses=ERRORS,
)
def practitioner_ranges(practitioner_id: uuid.UUID, db: DbSession, actor: Clinician) -> list[RangeRead]:
    return [_range(r) for r in scheduling.practitioner_ranges(db, actor, practitioner_id)]


@router.post(
    "/practitioners/{practitioner_id}/availability",
    status_code=201,
    response_model=RangeRead,
    summary="Publier une plage pour un praticien de ma ligne (coordination)",
    responses=ERRORS,
)
def add_range_for(practitioner_id: uuid.UUID, body: RangeCreate, db: DbSession, actor: Clinician) -> RangeRead:
    row = scheduling.add_range_for(
        db,
        actor,
        practitioner_id,
        availability.RangeIn(
            kind=Kind(body.kind),
            start=body.start,
            end=body.end,
            weekday=body.weekday,
            day=body.day,
            slot_minutes=body.slot_minutes,
            line_id=body.line_id,
            place=body.place,
        ),
    )
    return _range(row)


@router.delete(
    "/practitioners/{practitioner_id}/availability/{range_id}",
    status_code=204,
    summary="Retirer une plage d'un praticien de ma ligne (coordination)",
    responses=ERRORS,
)
def remove_range_for(practitioner_id: uuid.UUID, range_id: uuid.UUID, db: DbSession, actor: Clinician) -> Response:
    scheduling.remove_range_for(db, actor, practitioner_id, range_id)
    return Response(status_code=204)
