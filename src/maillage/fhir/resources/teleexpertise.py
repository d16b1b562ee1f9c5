"""``ServiceRequest`` for tele-expertise requests (ANS Confluences guide: the request is a ServiceRequest whose
status is the R4 status and whose status reason tells *published* from *in progress*; ``teleexpertise.rules
.fhir_status``). Read through ``teleexpertise.service.get_request`` (its parties only, audited there); the search
lists the requests the caller is a party of by name (requester, assignee, named specialist)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, false, or_, select

from maillage.authz import service as authz
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import ID_PARAM, LAST_UPDATED_PARAM, dates, ids_of, instant, uuid_or_404
from maillage.models.teleexpertise import TeleexpertiseRequest
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose
from maillage.teleexpertise import service as teleexpertise
from maillage.teleexpertise.rules import Status, fhir_status

STATUS_REASON = "urn:maillage:fhir:StructureDefinition:teleexpertise-status-reason"
STATUS_REASON_SYSTEM = "urn:maillage:fhir:CodeSystem:teleexpertise-status-reason"
PRIORITY = {"routine": "routine", "urgent": "urgent", "very_urgent": "asap"}


def to_resource(row: TeleexpertiseRequest) -> Resource:
    status, reason = fhir_status(Status(row.status))
    resource: Resource = {
        "resourceType": "ServiceRequest",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "status": status,
        "intent": "order",
        "priority": PRIORITY.get(row.urgency, "routine"),
        "code": {"text": "Téléexpertise"},
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "authoredOn": instant(row.submitted_at or row.created_at),
    }
    if reason:
        resource["extension"] = [{"url": STATUS_REASON,
                                  "valueCodeableConcept": {"coding": [{"system": STATUS_REASON_SYSTEM,
                                                                       "code": reason}]}}]
    if row.question:
        resource["note"] = [{"text": row.question}]
    if row.due_at is not None:
        resource["occurrencePeriod"] = {"end": instant(row.due_at)}
    return resource


def read(call: Call, resource_id: str) -> Resource:
    detail = teleexpertise.get_request(call.session, call.actor, uuid_or_404(resource_id), context=call.context)
    if detail.request is None:
        raise NotFound()
    return to_resource(detail.request)


def search(call: Call, query: SearchQuery) -> Page:
    me = call.actor.user_id
    t = TeleexpertiseRequest
    stmt = select(t).where(or_(t.requester_id == me,
                               and_(t.status != Status.DRAFT.value, or_(t.assignee_id == me, t.named_expert_id == me))))
    for value in query.params.get("_id", []):
        wanted = ids_of([value], uuid.UUID)
        stmt = stmt.where(t.id.in_(wanted) if wanted else false())
    for name in ("patient", "subject"):
        for value in query.params.get(name, []):
            wanted = ids_of([rules.parse_reference(v, "Patient") for v in value.split(",")], uuid.UUID)
            stmt = stmt.where(t.patient_id.in_(wanted) if wanted else false())
    for value in query.params.get("status", []):
        wanted_statuses = [s.value for s in Status if fhir_status(s)[0] in value.split(",")]
        stmt = stmt.where(t.status.in_(wanted_statuses) if wanted_statuses else false())
    stmt = stmt.where(*repo.date_conditions(t.updated_at, dates(query.params.get("_lastUpdated", []))))
    stmt = stmt.where(*repo.date_conditions(t.created_at, dates(query.params.get("authored", []))))
    sort_column: Any = t.created_at if query.sort.key == "authored" else t.updated_at
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=t.id, id_kind="uuid", after=query.after,
                                      count=query.count)
    authz.audit_list(call.session, call.actor, object_type="teleexpertise_request", count=len(rows),
                     purpose=Purpose.TELEEXPERTISE, patient_ids=[r.patient_id for r in rows], context=call.context)
    return Page([to_resource(r) for r in rows], position)


SERVICE_REQUEST = register(ResourceType(
    name="ServiceRequest",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("status", "token", "Statut FHIR : draft, active, on-hold, completed, revoked."),
        SearchParam("authored", "date", "Date de création de la demande, avec préfixe."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("_lastUpdated", "authored"),
    default_sort=rules.Sort("_lastUpdated", True),
    documentation="Demandes de téléexpertise dont l'appelant est partie nommée (requérant, requis, spécialiste "
                  "désigné) ; la lecture suit les règles d'accès de la téléexpertise.",
))
