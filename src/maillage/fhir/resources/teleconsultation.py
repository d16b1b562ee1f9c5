"""``Appointment`` and ``Encounter`` for teleconsultations (``teleconsultation_appointment``, one row for both: the
slot booked, then, once the patient came into the waiting room, the consultation itself under the same id), and
``Location`` for the establishments' teleconsultation rooms (``teleconsultation_place``).

A read goes through ``teleconsultation.booking.load`` (its requester, practitioner, assisting nurse or line staff,
audited there; anyone else gets the same 404 as for a missing appointment). A search lists the appointments the
caller is named in (requester, practitioner, assisting nurse), audited as a list of their patients. The reason, the
closing reason and the compte rendu are sealed and not served here: the signed compte rendu is the patient's
``DocumentReference``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import false, or_, select

from maillage.authz import service as authz
from maillage.directory import service as directory
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import (
    ID_PARAM,
    LAST_UPDATED_PARAM,
    dates,
    instant,
    uuid_or_404,
    where_codes,
    where_ids,
    where_patient,
    where_references,
)
from maillage.models.directory import Professional
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationPlace
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose
from maillage.teleconsultation import booking
from maillage.teleconsultation.rules import Status

APPOINTMENT_STATUS = {
    Status.BOOKED: "booked",
    Status.WAITING: "checked-in",
    Status.IN_CONSULTATION: "arrived",
    Status.DONE: "fulfilled",
    Status.CANCELLED: "cancelled",
    Status.RESCHEDULED: "cancelled",
    Status.NO_SHOW: "noshow",
}
# The consultation exists once the patient entered the waiting room (consent given): before, there is only the slot.
ENCOUNTER_STATUS = {
    Status.WAITING: "arrived",
    Status.IN_CONSULTATION: "in-progress",
    Status.DONE: "finished",
    Status.CANCELLED: "cancelled",
    Status.RESCHEDULED: "cancelled",
    Status.NO_SHOW: "cancelled",
}
SERVICE_TYPE = {"coding": [{"system": "urn:maillage:offer:service-type", "code": "teleconsultation",
                            "display": "Téléconsultation"}]}
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def _practitioner(user_id: uuid.UUID | None, people: dict[uuid.UUID, Professional]) -> dict[str, str] | None:
    person = people.get(user_id) if user_id is not None else None
    if person is None:
        return None
    return {"reference": f"Practitioner/{person.id}",
            "display": " ".join(p for p in (person.first_name, person.last_name) if p)}


def to_appointment(row: TeleconsultationAppointment, people: dict[uuid.UUID, Professional]) -> Resource:
    status = Status(row.status)
    participants: list[Resource] = [{"actor": {"reference": f"Patient/{row.patient_id}"}, "required": "required",
                                     "status": "accepted"}]
    for user_id, code in ((row.practitioner_id, "PPRF"), (row.requester_id, "REF"),
                          (row.assisting_nurse_id, "PART")):
        who = _practitioner(user_id, people)
        if who is not None:
            participants.append({"type": [{"coding": [{"system": PARTICIPATION, "code": code}]}], "actor": who,
                                 "required": "required", "status": "accepted"})
    if row.place_id is not None:
        participants.append({"actor": {"reference": f"Location/{row.place_id}"}, "required": "required",
                             "status": "accepted"})
    resource: Resource = {
        "resourceType": "Appointment",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "status": APPOINTMENT_STATUS[status],
        "serviceType": [SERVICE_TYPE],
        "start": instant(row.starts_at),
        "end": instant(row.ends_at),
        "minutesDuration": int((row.ends_at - row.starts_at).total_seconds() // 60),
        "created": instant(row.created_at),
        "participant": participants,
    }
    if status is Status.RESCHEDULED:
        resource["cancelationReason"] = {"text": status.label}
    if row.teleexpertise_request_id is not None:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{row.teleexpertise_request_id}"}]
    return resource


def to_encounter(row: TeleconsultationAppointment, people: dict[uuid.UUID, Professional]) -> Resource:
    status = Status(row.status)
    resource: Resource = {
        "resourceType": "Encounter",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "status": ENCOUNTER_STATUS.get(status, "planned"),
        "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
        "serviceType": SERVICE_TYPE,
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "appointment": [{"reference": f"Appointment/{row.id}"}],
    }
    practitioner = _practitioner(row.practitioner_id, people)
    if practitioner is not None:
        resource["participant"] = [{"type": [{"coding": [{"system": PARTICIPATION, "code": "PPRF"}]}],
                                    "individual": practitioner}]
    start = row.admitted_at or row.arrived_at
    if start is not None:
        resource["period"] = {"start": instant(start)}
        if row.ended_at is not None:
            resource["period"]["end"] = instant(row.ended_at)
    if row.place_id is not None:
        resource["location"] = [{"location": {"reference": f"Location/{row.place_id}"}}]
    if row.teleexpertise_request_id is not None:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{row.teleexpertise_request_id}"}]
    return resource


def _people(call: Call, rows: list[TeleconsultationAppointment]) -> dict[uuid.UUID, Professional]:
    ids = {u for r in rows for u in (r.practitioner_id, r.requester_id, r.assisting_nurse_id) if u is not None}
    return directory.professionals_of_users(call.session, ids)


def _load(call: Call, resource_id: str) -> TeleconsultationAppointment:
    return booking.load(call.session, call.actor, uuid_or_404(resource_id), action="read", context=call.context)


def read_appointment(call: Call, resource_id: str) -> Resource:
    row = _load(call, resource_id)
    return to_appointment(row, _people(call, [row]))


def read_encounter(call: Call, resource_id: str) -> Resource:
    row = _load(call, resource_id)
    if row.arrived_at is None and row.admitted_at is None:
        raise NotFound(booking.NOT_FOUND)  # the slot only: no consultation yet, answered as a missing one
    return to_encounter(row, _people(call, [row]))


def _rows(call: Call, query: SearchQuery, statuses: dict[Status, str], *,
          encounters: bool) -> tuple[list[TeleconsultationAppointment], dict[str, Any] | None]:
    me = call.actor.user_id
    a = TeleconsultationAppointment
    stmt = select(a).where(or_(a.requester_id == me, a.practitioner_id == me, a.assisting_nurse_id == me))
    if encounters:
        stmt = stmt.where(or_(a.arrived_at.is_not(None), a.admitted_at.is_not(None)))
    stmt = where_ids(stmt, query, a.id)
    stmt = where_patient(stmt, query, a.patient_id)
    stmt = where_codes(stmt, query, a.status, {s.value: code for s, code in statuses.items()})
    stmt = stmt.where(*repo.date_conditions(a.starts_at, dates(query.params.get("date", []))))
    stmt = stmt.where(*repo.date_conditions(a.updated_at, dates(query.params.get("_lastUpdated", []))))
    sort_column: Any = a.starts_at if query.sort.key == "date" else a.updated_at
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=a.id, id_kind="uuid", after=query.after,
                                      count=query.count)
    authz.audit_list(call.session, call.actor, object_type="teleconsultation", count=len(rows),
                     purpose=Purpose.TELECONSULTATION, patient_ids=[r.patient_id for r in rows], context=call.context)
    return list(rows), position


def search_appointments(call: Call, query: SearchQuery) -> Page:
    rows, position = _rows(call, query, APPOINTMENT_STATUS, encounters=False)
    people = _people(call, rows)
    return Page([to_appointment(r, people) for r in rows], position)


def search_encounters(call: Call, query: SearchQuery) -> Page:
    rows, position = _rows(call, query, ENCOUNTER_STATUS, encounters=True)
    people = _people(call, rows)
    return Page([to_encounter(r, people) for r in rows], position)


def _params(status_doc: str) -> tuple[SearchParam, ...]:
    return (
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant."),
        SearchParam("status", "token", status_doc),
        SearchParam("date", "date", "Début du créneau, avec préfixe."),
        LAST_UPDATED_PARAM,
    )


APPOINTMENT = register(ResourceType(
    name="Appointment",
    read=read_appointment,
    search=search_appointments,
    permission=Permission.PATIENT_READ,
    search_params=_params("booked, checked-in (en salle d'attente), arrived (en consultation), fulfilled, "
                          "cancelled (annulé ou reporté), noshow."),
    sorts=("date", "_lastUpdated"),
    default_sort=rules.Sort("date", True),
    documentation="Rendez-vous de téléconsultation dont l'appelant est le requérant, le médecin téléconsultant ou "
                  "l'infirmier qui assiste ; le motif, scellé, n'est pas servi.",
))

ENCOUNTER = register(ResourceType(
    name="Encounter",
    read=read_encounter,
    search=search_encounters,
    permission=Permission.PATIENT_READ,
    search_params=_params("arrived (en salle d'attente), in-progress, finished, cancelled."),
    sorts=("date", "_lastUpdated"),
    default_sort=rules.Sort("date", True),
    documentation="Téléconsultations (classe VR) dont le patient est entré en salle d'attente ; même identifiant "
                  "que le rendez-vous, mêmes règles d'accès.",
))


# -- Location: the establishments' teleconsultation rooms (directory data, no patient).

def to_location(row: TeleconsultationPlace) -> Resource:
    return {
        "resourceType": "Location",
        "id": str(row.id),
        "status": "active" if row.active else "inactive",
        "name": row.name,
        "mode": "instance",
        "type": [{"coding": [{"system": "urn:maillage:location-type", "code": "teleconsultation-room",
                              "display": "Salle de téléconsultation"}]}],
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                                     "code": "ro", "display": "Room"}]},
        "managingOrganization": {"reference": f"Organization/{row.establishment_id}"},
    }


def read_location(call: Call, resource_id: str) -> Resource:
    row = call.session.get(TeleconsultationPlace, uuid_or_404(resource_id))
    if row is None:
        raise NotFound()
    return to_location(row)


def search_locations(call: Call, query: SearchQuery) -> Page:
    p = TeleconsultationPlace
    stmt = where_ids(select(p), query, p.id)
    stmt = where_references(stmt, query, p.establishment_id, names=("organization",), target="Organization")
    for value in query.params.get("status", []):
        wanted_active = [s == "active" for s in value.split(",") if s in ("active", "inactive")]
        stmt = stmt.where(p.active.in_(wanted_active) if wanted_active else false())
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=None, sort_kind="uuid",
                                      id_column=p.id, id_kind="uuid", after=query.after, count=query.count)
    return Page([to_location(r) for r in rows], position)


LOCATION = register(ResourceType(
    name="Location",
    read=read_location,
    search=search_locations,
    permission=Permission.DIRECTORY_READ,
    search_params=(
        ID_PARAM,
        SearchParam("organization", "reference", "L'établissement : Organization/identifiant."),
        SearchParam("status", "token", "active ou inactive."),
    ),
    documentation="Salles de téléconsultation des établissements (données d'annuaire).",
))
