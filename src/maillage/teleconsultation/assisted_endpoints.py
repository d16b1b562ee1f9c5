"""JSON API of assisted and escorted teleconsultations (``/api/teleconsultation/...``): the rooms of the actor's
establishments and their opening ranges, booking an assisted consultation (no patient link), naming the nurse
later, and the nurse recording the patient's consent on their behalf."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models.teleconsultation import TeleconsultationPlaceRange
from maillage.security.deps import audit_context
from maillage.teleconsultation import assisted, booking, places
from maillage.teleconsultation.endpoints import ERRORS, HHMM, AppointmentRead, Practitioner
from maillage.teleconsultation.rules import Assistance, Kind

router = APIRouter(prefix="/api/teleconsultation", tags=["téléconsultation"], route_class=UnitOfWorkRoute)


class PlaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    establishment_id: uuid.UUID = Field(description="Un établissement pour lequel vous agissez")
    name: str = Field(min_length=3, max_length=places.NAME_MAX)
    care_unit_id: uuid.UUID | None = None


class PlaceRangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["weekly", "extra", "absence"] = Field(description="absence : fermeture ce jour-là")
    start: str = Field(pattern=HHMM, description="Ouverture, HH:MM (heure de Paris)")
    end: str = Field(pattern=HHMM, description="Fermeture, HH:MM (24:00 : fin de journée)")
    weekday: int | None = Field(default=None, ge=0, le=6, description="0 lundi … 6 dimanche (plage hebdomadaire)")
    day: dt.date | None = Field(default=None, description="Date (ajout ponctuel ou fermeture)")


class PlaceRangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    kind: str
    weekday: int | None
    day: dt.date | None
    start_minute: int
    end_minute: int


class PlaceRead(BaseModel):
    id: uuid.UUID
    establishment_id: uuid.UUID
    establishment: str
    care_unit_id: uuid.UUID | None
    name: str
    active: bool
    ranges: list[PlaceRangeRead]


class AssistedBookingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: uuid.UUID
    practitioner_id: uuid.UUID
    line_id: uuid.UUID
    starts_at: AwareDatetime
    reason: str = Field(default="", max_length=2000)
    nurse_id: uuid.UUID = Field(description="L'infirmier(ère) auprès du patient, qui le suit")
    assistance: Literal["TLS", "TLL", "TLD"] = Field(
        description="TLS : pendant un soin prévu ; TLL : lieu dédié ; TLD : visite à domicile organisée pour elle")
    place_id: uuid.UUID | None = Field(default=None, description="Une salle de votre établissement, tenue sur le "
                                                                 "créneau")


class NurseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nurse_id: uuid.UUID
    assistance: Literal["TLS", "TLL", "TLD"]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    teleconsultation: bool = Field(description="Le patient accepte la téléconsultation")
    third_party: bool = Field(default=False, description="Une autre personne que l'infirmier(ère) est présente")


class AssistedRead(AppointmentRead):
    assistance: str | None
    assisting_nurse_id: uuid.UUID | None
    consent_recorded_by: uuid.UUID | None
    place_id: uuid.UUID | None


def _place(view: places.PlaceView) -> PlaceRead:
    p = view.place
    return PlaceRead(id=p.id, establishment_id=p.establishment_id, establishment=view.establishment,
                     care_unit_id=p.care_unit_id, name=p.name, active=p.active,
                     ranges=[PlaceRangeRead.model_validate(r) for r in view.ranges])


@router.get("/places", response_model=list[PlaceRead], summary="Les salles de téléconsultation de mes établissements",
            responses=ERRORS)
def my_places(db: DbSession, actor: Practitioner) -> list[PlaceRead]:
    return [_place(v) for v in places.my_places(db, actor)]


@router.post("/places", status_code=201, response_model=PlaceRead, summary="Créer une salle de téléconsultation",
             responses=ERRORS)
def create_place(body: PlaceCreate, db: DbSession, actor: Practitioner) -> PlaceRead:
    place = places.create_place(db, actor, establishment_id=body.establishment_id, name=body.name,
                                care_unit_id=body.care_unit_id)
    return next(_place(v) for v in places.my_places(db, actor) if v.place.id == place.id)


@router.post("/places/{place_id}/ranges", status_code=201, response_model=PlaceRangeRead,
             summary="Ouvrir (ou fermer un jour) une salle", responses=ERRORS)
def add_place_range(place_id: uuid.UUID, body: PlaceRangeCreate, db: DbSession,
                    actor: Practitioner) -> PlaceRangeRead:
    row: TeleconsultationPlaceRange = places.add_range(db, actor, place_id, places.PlaceRangeIn(
        kind=Kind(body.kind), start=body.start, end=body.end, weekday=body.weekday, day=body.day))
    return PlaceRangeRead.model_validate(row)


@router.delete("/places/{place_id}/ranges/{range_id}", status_code=204, summary="Retirer une plage d'une salle",
               responses=ERRORS)
def remove_place_range(place_id: uuid.UUID, range_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    places.remove_range(db, actor, place_id, range_id)
    return Response(status_code=204)


@router.post("/assisted-appointments", status_code=201, response_model=AssistedRead,
             summary="Réserver une téléconsultation assistée (aucun lien pour le patient)", responses=ERRORS)
def book_assisted(body: AssistedBookingCreate, request: Request, db: DbSession, actor: Practitioner) -> AssistedRead:
    appt = assisted.book_assisted(db, actor, booking.BookingIn(
        patient_id=body.patient_id, practitioner_id=body.practitioner_id, line_id=body.line_id,
        starts_at=body.starts_at, reason=body.reason), assisted.AssistIn(
        nurse_id=body.nurse_id, assistance=Assistance(body.assistance), place_id=body.place_id),
        context=audit_context(request))
    return AssistedRead.model_validate(appt, from_attributes=True)


@router.post("/appointments/{appointment_id}/nurse", response_model=AssistedRead,
             summary="Nommer l'infirmier(ère) auprès du patient (demandeur, avant l'arrivée)", responses=ERRORS)
def name_nurse(appointment_id: uuid.UUID, body: NurseIn, request: Request, db: DbSession,
               actor: Practitioner) -> AssistedRead:
    appt = assisted.name_nurse(db, actor, appointment_id, body.nurse_id, Assistance(body.assistance),
                               context=audit_context(request))
    return AssistedRead.model_validate(appt, from_attributes=True)


@router.post("/appointments/{appointment_id}/assisted-consent", response_model=AssistedRead,
             summary="Consentement du patient recueilli par l'infirmier(ère) qui l'accompagne", responses=ERRORS)
def nurse_consent(appointment_id: uuid.UUID, body: ConsentIn, request: Request, db: DbSession,
                  actor: Practitioner) -> AssistedRead:
    appt = assisted.consent(db, actor, appointment_id, teleconsultation=body.teleconsultation,
                            third_party=body.third_party, context=audit_context(request))
    return AssistedRead.model_validate(appt, from_attributes=True)
