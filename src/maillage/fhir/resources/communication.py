"""``Communication`` for the exchanges of a tele-expertise request (``teleexpertise_message``): a specialist's
question to the requester, and the requester's reply (the ANS Confluences guide carries them as Communications
``partOf`` the request's Task and ``basedOn`` its ServiceRequest).

Who sees an exchange: the request's parties, by the tele-expertise access rule (``teleexpertise.steps.load`` for a
read, audited; the requests the caller is a named party of for a search, audited as a list of their patients).

The body is sealed in the vault. **It is returned (``payload``) only to a party who also holds a care relationship
with the patient now** (``authz.accessible_patients``): the requester, who referred the patient, and the specialist
once the request gave them one. A party without one (the line's staff browsing a request, a specialist whose
relationship ended) sees that the exchange happened, when, between whom, and not what it said."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, or_, select

from maillage.authz import service as authz
from maillage.directory import service as directory
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import (
    ID_PARAM,
    dates,
    instant,
    uuid_or_404,
    where_ids,
    where_patient,
    where_references,
)
from maillage.models.directory import Professional
from maillage.models.teleexpertise import TeleexpertiseMessage, TeleexpertiseRequest
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose
from maillage.teleexpertise import steps
from maillage.teleexpertise.rules import Status

CATEGORY_SYSTEM = "urn:maillage:teleexpertise:message-kind"
KIND_LABEL = {"question": "Question du spécialiste", "reply": "Réponse du requérant"}


def _person(user_id: uuid.UUID | None, people: dict[uuid.UUID, Professional]) -> dict[str, str] | None:
    person = people.get(user_id) if user_id is not None else None
    if person is None:
        return None
    return {"reference": f"Practitioner/{person.id}",
            "display": " ".join(p for p in (person.first_name, person.last_name) if p)}


def to_resource(message: TeleexpertiseMessage, request: TeleexpertiseRequest, people: dict[uuid.UUID, Professional],
                *, with_payload: bool) -> Resource:
    resource: Resource = {
        "resourceType": "Communication",
        "id": str(message.id),
        "basedOn": [{"reference": f"ServiceRequest/{request.id}"}],
        "partOf": [{"reference": f"Task/{request.id}"}],
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": message.kind,
                                  "display": KIND_LABEL[message.kind]}]}],
        "subject": {"reference": f"Patient/{request.patient_id}"},
        "sent": instant(message.created_at),
    }
    sender = _person(message.author_id, people)
    if sender is not None:
        resource["sender"] = sender
    other = request.requester_id if message.kind == "question" else (request.assignee_id or request.named_expert_id)
    recipient = _person(other, people)
    if recipient is not None:
        resource["recipient"] = [recipient]
    if with_payload:
        resource["payload"] = [{"contentString": message.body}]
    return resource


def _people(call: Call, pairs: list[tuple[TeleexpertiseMessage, TeleexpertiseRequest]]) -> dict[uuid.UUID, Any]:
    ids = {u for m, r in pairs for u in (m.author_id, r.requester_id, r.assignee_id, r.named_expert_id) if u}
    return directory.professionals_of_users(call.session, ids)


def _cared_for(call: Call, patient_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not patient_ids:
        return set()
    accessible = authz.accessible_patients(call.actor).subquery()
    column = accessible.c[0]
    return set(call.session.scalars(select(column).where(column.in_(patient_ids))))


def read(call: Call, resource_id: str) -> Resource:
    message = call.session.get(TeleexpertiseMessage, uuid_or_404(resource_id))
    if message is None:
        raise NotFound()
    try:
        request = steps.load(call.session, call.actor, message.request_id, action="read", context=call.context)
    except NotFound:
        raise NotFound() from None  # the same words as a message that does not exist (the refusal is audited)
    people = _people(call, [(message, request)])
    payload = request.patient_id in _cared_for(call, {request.patient_id})
    return to_resource(message, request, people, with_payload=payload)


def search(call: Call, query: SearchQuery) -> Page:
    me = call.actor.user_id
    m, t = TeleexpertiseMessage, TeleexpertiseRequest
    stmt: Any = (select(m, t).join(t, t.id == m.request_id)
            .where(or_(t.requester_id == me,
                       and_(t.status != Status.DRAFT.value, or_(t.assignee_id == me, t.named_expert_id == me)))))
    stmt = where_ids(stmt, query, m.id)
    stmt = where_patient(stmt, query, t.patient_id)
    stmt = where_references(stmt, query, m.request_id, names=("based-on",), target="ServiceRequest")
    stmt = stmt.where(*repo.date_conditions(m.created_at, dates(query.params.get("sent", []))))
    page, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=m.created_at,
                                      sort_kind="datetime", id_column=m.id, id_kind="uuid", after=query.after,
                                      count=query.count, keyed=lambda row: row[0])
    rows: list[tuple[TeleexpertiseMessage, TeleexpertiseRequest]] = [(r[0], r[1]) for r in page]
    authz.audit_list(call.session, call.actor, object_type="teleexpertise_message", count=len(rows),
                     purpose=Purpose.TELEEXPERTISE, patient_ids=[r.patient_id for _, r in rows], context=call.context)
    people = _people(call, rows)
    cared = _cared_for(call, {r.patient_id for _, r in rows})
    return Page([to_resource(msg, req, people, with_payload=req.patient_id in cared) for msg, req in rows],
                position)


COMMUNICATION = register(ResourceType(
    name="Communication",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("based-on", "reference", "La demande de téléexpertise : ServiceRequest/identifiant."),
        SearchParam("sent", "date", "Date d'envoi, avec préfixe."),
    ),
    sorts=("sent",),
    default_sort=rules.Sort("sent", False),
    documentation="Échanges (question du spécialiste, réponse du requérant) des demandes de téléexpertise dont "
                  "l'appelant est partie nommée ; le contenu n'est rendu qu'à une partie qui a une relation de soins "
                  "avec le patient.",
))
