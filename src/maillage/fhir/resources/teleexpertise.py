"""``ServiceRequest`` for tele-expertise requests (ANS Confluences guide: the request is a ServiceRequest whose
status is the R4 status and whose status reason tells *published* from *in progress*; ``teleexpertise.rules
.fhir_status``). Read through ``teleexpertise.service.get_request`` (its parties only, audited there); the search
lists the requests the caller is a party of by name (requester, assignee, named specialist)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fhir.resources.R4B.servicerequest import ServiceRequest as FhirServiceRequest
from pydantic import ValidationError
from sqlalchemy import and_, false, or_, select

from maillage.authz import service as authz
from maillage.directory import service as directory
from maillage.exceptions import NotFound, ValidationFailed
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
)
from maillage.models.directory import Professional
from maillage.models.teleexpertise import TeleexpertiseRequest
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose
from maillage.teleexpertise import service as teleexpertise
from maillage.teleexpertise.rules import Status, fhir_status
from maillage.teleexpertise.schemas import RequestCreate

STATUS_REASON = "urn:maillage:fhir:StructureDefinition:teleexpertise-status-reason"
STATUS_REASON_SYSTEM = "urn:maillage:fhir:CodeSystem:teleexpertise-status-reason"
PRIORITY = {"routine": "routine", "urgent": "urgent", "very_urgent": "asap"}


def to_resource(row: TeleexpertiseRequest, identifiers: list[tuple[str, str]] | None = None) -> Resource:
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
    if identifiers:
        resource["identifier"] = [{"system": s, "value": v} for s, v in identifiers]
    if row.line_id:
        resource["performer"] = [{"reference": f"HealthcareService/{row.line_id}"}]
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
    known = repo.identifiers_of(call.session, "ServiceRequest", [str(detail.request.id)])
    return to_resource(detail.request, known.get(str(detail.request.id)))


def _rows(call: Call, query: SearchQuery, status_of: Callable[[Status], str]) -> tuple[list[TeleexpertiseRequest],
                                                                                     dict[str, Any] | None]:
    """The requests the caller is a named party of, filtered and paged; audited as a list of their patients."""
    me = call.actor.user_id
    t = TeleexpertiseRequest
    stmt = select(t).where(or_(t.requester_id == me,
                               and_(t.status != Status.DRAFT.value, or_(t.assignee_id == me, t.named_expert_id == me))))
    stmt = where_ids(stmt, query, t.id)
    for value in query.params.get("identifier", []):
        token = rules.parse_token(value)
        found = repo.resource_by_identifier(call.session, "ServiceRequest", token.system or None, token.code or "")
        stmt = stmt.where(t.id == uuid.UUID(found) if found else false())
    stmt = where_patient(stmt, query, t.patient_id)
    stmt = where_codes(stmt, query, t.status, {s.value: status_of(s) for s in Status})
    stmt = stmt.where(*repo.date_conditions(t.updated_at, dates(query.params.get("_lastUpdated", []))))
    stmt = stmt.where(*repo.date_conditions(t.created_at, dates(query.params.get("authored", []))))
    sort_column: Any = t.created_at if query.sort.key == "authored" else t.updated_at
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=sort_column,
                                      sort_kind="datetime", id_column=t.id, id_kind="uuid", after=query.after,
                                      count=query.count)
    authz.audit_list(call.session, call.actor, object_type="teleexpertise_request", count=len(rows),
                     purpose=Purpose.TELEEXPERTISE, patient_ids=[r.patient_id for r in rows], context=call.context)
    return list(rows), position


def search(call: Call, query: SearchQuery) -> Page:
    rows, position = _rows(call, query, lambda s: fhir_status(s)[0])
    known = repo.identifiers_of(call.session, "ServiceRequest", [str(r.id) for r in rows])
    return Page([to_resource(r, known.get(str(r.id))) for r in rows], position)


PRIORITY_IN = {"routine": "routine", "urgent": "urgent", "asap": "very_urgent", "stat": "very_urgent"}


def create(call: Call, body: Resource, _condition: str | None) -> tuple[Resource, bool]:
    """Open a tele-expertise request through the tele-expertise service, under its rules: a draft (``status``
    draft), or sent to the line at once (``active``). ``subject`` names the patient, ``performer`` the line
    (``HealthcareService``), ``note`` the question; the client's ``identifier`` makes a repeated create find the
    first one's request."""
    try:
        parsed = FhirServiceRequest.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed("Ressource ServiceRequest invalide.", details=[
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()[:5]]) from None
    if parsed.status not in ("draft", "active"):
        raise ValidationFailed("Une demande se crée au statut draft (brouillon) ou active (envoyée à la ligne).",
                               details=[{"field": "status", "message": "draft ou active."}])
    patient_ref = getattr(parsed.subject, "reference", None) or ""
    performers = [getattr(p, "reference", None) or "" for p in (parsed.performer or [])]
    line_ref = next((p for p in performers if p.startswith("HealthcareService/")), "")
    try:
        patient_id = uuid.UUID(rules.parse_reference(patient_ref, "Patient"))
        line_id = uuid.UUID(rules.parse_reference(line_ref, "HealthcareService"))
    except (rules.SearchProblem, ValueError):
        raise ValidationFailed("La demande nomme son patient (subject : Patient/…) et sa ligne de spécialité "
                               "(performer : HealthcareService/…).",
                               details=[{"field": "subject", "message": "Patient/identifiant."},
                                        {"field": "performer", "message": "HealthcareService/identifiant."}]) from None
    identifiers = [(i.system, i.value) for i in (parsed.identifier or []) if i.system and i.value]
    if any(len(s) > 200 or len(v) > 200 for s, v in identifiers):
        raise ValidationFailed("Identifiant trop long (200 caractères au plus).")
    request_id = uuid.uuid4()
    existing = repo.claim_identifiers(call.session, "ServiceRequest", str(request_id), call.actor.user_id,
                                      identifiers)
    if existing is not None:
        return read(call, existing), False
    question = "\n\n".join(n.text for n in (parsed.note or []) if n.text)
    try:
        data = RequestCreate(patient_id=patient_id, line_id=line_id, question=question,
                             urgency=PRIORITY_IN.get(parsed.priority or "routine", "routine"))
    except ValidationError as exc:
        raise ValidationFailed("Demande invalide.", details=[
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()[:5]]) from None
    req = teleexpertise.create_request(call.session, call.actor, data, call.context, request_id=request_id)
    if parsed.status == "active":
        req = teleexpertise.submit(call.session, call.actor, req.id, context=call.context)
    return to_resource(req, identifiers), True


SERVICE_REQUEST = register(ResourceType(
    name="ServiceRequest",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("identifier", "token", "Identifiant donné par le client à la création (système|valeur)."),
        SearchParam("patient", "reference", "Le patient : Patient/identifiant."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("status", "token", "Statut FHIR : draft, active, on-hold, completed, revoked."),
        SearchParam("authored", "date", "Date de création de la demande, avec préfixe."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("_lastUpdated", "authored"),
    default_sort=rules.Sort("_lastUpdated", True),
    create=create,
    create_permission=Permission.TELEEXPERTISE_REQUEST,
    conditional_create=True,
    documentation="Demandes de téléexpertise dont l'appelant est partie nommée (requérant, requis, spécialiste "
                  "désigné) ; la lecture suit les règles d'accès de la téléexpertise.",
))


# -- Task: the fulfilment of the request (Confluences: the ServiceRequest says what is asked, the Task where its
# handling stands and who holds it). Same row, same id, same access rules.

TASK_STATUS = {
    Status.DRAFT: "draft",
    Status.PUBLISHED: "requested",
    Status.IN_PROGRESS: "in-progress",
    Status.AWAITING_INFORMATION: "on-hold",
    Status.COMPLETED: "completed",
    Status.DECLINED: "rejected",
    Status.CANCELLED: "cancelled",
}


def to_task(row: TeleexpertiseRequest, owners: dict[uuid.UUID, Professional]) -> Resource:
    status = Status(row.status)
    resource: Resource = {
        "resourceType": "Task",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.updated_at)},
        "status": TASK_STATUS[status],
        "businessStatus": {"text": status.label},
        "intent": "order",
        "priority": PRIORITY.get(row.urgency, "routine"),
        "code": {"text": "Téléexpertise"},
        "basedOn": [{"reference": f"ServiceRequest/{row.id}"}],
        "focus": {"reference": f"ServiceRequest/{row.id}"},
        "for": {"reference": f"Patient/{row.patient_id}"},
        "authoredOn": instant(row.submitted_at or row.created_at),
        "lastModified": instant(row.updated_at),
    }
    owner = owners.get(row.assignee_id) if row.assignee_id is not None else None
    if owner is not None:
        resource["owner"] = {"reference": f"Practitioner/{owner.id}",
                             "display": " ".join(p for p in (owner.first_name, owner.last_name) if p)}
    elif row.line_id:
        resource["owner"] = {"reference": f"HealthcareService/{row.line_id}"}
    if row.due_at is not None:
        resource["restriction"] = {"period": {"end": instant(row.due_at)}}
    return resource


def _owners(call: Call, rows: list[TeleexpertiseRequest]) -> dict[uuid.UUID, Professional]:
    return directory.professionals_of_users(call.session, {r.assignee_id for r in rows if r.assignee_id})


def read_task(call: Call, resource_id: str) -> Resource:
    detail = teleexpertise.get_request(call.session, call.actor, uuid_or_404(resource_id), context=call.context)
    if detail.request is None:
        raise NotFound()
    return to_task(detail.request, _owners(call, [detail.request]))


def search_tasks(call: Call, query: SearchQuery) -> Page:
    rows, position = _rows(call, query, lambda s: TASK_STATUS[s])
    owners = _owners(call, rows)
    return Page([to_task(r, owners) for r in rows], position)


TASK = register(ResourceType(
    name="Task",
    read=read_task,
    search=search_tasks,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("status", "token", "Statut FHIR de la tâche : draft, requested, in-progress, on-hold, completed, "
                                       "rejected, cancelled."),
        SearchParam("authored", "date", "Date de création de la demande, avec préfixe."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("_lastUpdated", "authored"),
    default_sort=rules.Sort("_lastUpdated", True),
    documentation="Traitement d'une demande de téléexpertise (même identifiant que son ServiceRequest) : où il en "
                  "est et qui le tient (le spécialiste qui l'a prise, sinon la ligne) ; mêmes règles d'accès.",
))
