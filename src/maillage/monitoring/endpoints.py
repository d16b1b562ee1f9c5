"""JSON and FHIR routes of telesurveillance.

Device ingestion (``/api/monitoring/readings`` and ``/api/monitoring/fhir/…``) is for devices only: a
``Bearer mlg_dev_…`` credential, nothing else (anonymous → 401, a signed-in professional → 403). The reply
leaves after the unit of work has committed: an acknowledged reading is durable.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from maillage.auth.tokens import DeviceActor
from maillage.exceptions import MaillageError, NotAuthenticated, PermissionDenied
from maillage.kit.http import DbSession, UnitOfWorkRoute, is_json_media
from maillage.models.monitoring import MonitoringAlert, MonitoringEnrolment
from maillage.monitoring import fhir, service
from maillage.monitoring import repository as repo
from maillage.monitoring.batchpool import INLINE, BatchInvalid, BatchRunner
from maillage.monitoring.ingest import Incoming, IngestResult
from maillage.monitoring.rules.forfaits import FORFAIT_AMOUNTS_CENTS
from maillage.monitoring.rules.measures import MEASURES
from maillage.monitoring.rules.programmes import PROGRAMMES
from maillage.monitoring.schemas import (
    COMPACT_BATCH,
    AcknowledgeIn,
    AlertRead,
    BatchReply,
    DeviceCreate,
    DeviceRead,
    EndCreate,
    EnhancedCreate,
    EnrolmentCreate,
    EnrolmentRead,
    EnrolmentUpdate,
    EscalateIn,
    GreenReceiptRead,
    PauseCreate,
    TeamCreate,
    TeamMemberAdd,
    TeamRead,
)
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, optional_actor, require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, tags=["télésurveillance"])


async def require_device(request: Request) -> DeviceActor:
    """The authenticated device or gateway (``Authorization: Bearer mlg_dev_…``); nothing else may ingest. Async: it
    only reads what the middleware resolved, so it needs no hand-off to a worker thread."""
    device = getattr(request.state, "device", None)
    if isinstance(device, DeviceActor):
        return device
    if optional_actor(request) is not None:
        raise PermissionDenied("Seuls les appareils de télésurveillance transmettent des mesures.")
    raise NotAuthenticated("Authentification de l'appareil requise (Authorization: Bearer mlg_dev_…).")


require_device.device_only = True  # type: ignore[attr-defined]  # read by the route-protection test


async def batch_runner(request: Request) -> BatchRunner:
    """The application's batch runner (``monitoring.setup``): the routes hand it the batch, not the request."""
    runner: BatchRunner = getattr(request.app.state, "monitoring_batch", INLINE)
    return runner

Device = Annotated[DeviceActor, Depends(require_device)]
Runner = Annotated[BatchRunner, Depends(batch_runner)]
Triage = Annotated[Actor, Depends(require(Permission.MONITORING_TRIAGE))]
Enrol = Annotated[Actor, Depends(require(Permission.MONITORING_ENROL))]
Admin = Annotated[Actor, Depends(require(Permission.DIRECTORY_ADMIN))]
DEVICE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Appareil non authentifié"},
    403: {"description": "Pas un appareil, ou appareil non enregistré"},
}


# -- Ingestion ---------------------------------------------------------------------------------------------


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its definitions written in place: an operation's own schema (``openapi_extra``) cannot
    point into the ``$defs`` pydantic puts beside it."""
    schema = dict(schema)
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return dict(resolve(schema))


BATCH_BODY: dict[str, Any] = {
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": inline_schema(COMPACT_BATCH.json_schema())}}},
}


async def compact_body(request: Request) -> bytes:
    """The compact batch's bytes as received, parsed later in one pass (in a batch child for a large batch)."""
    if not is_json_media(request.headers.get("content-type", "")):
        raise RequestValidationError([{"loc": ("body",), "type": "content_type",
                                       "msg": "Lot de mesures attendu en JSON (Content-Type: application/json)."}])
    return await request.body()


@router.post("/api/monitoring/readings", response_model=None, openapi_extra=BATCH_BODY,
             responses={200: {"model": BatchReply}, **DEVICE_RESPONSES},
             summary="Transmettre un lot de mesures (format compact)")
def post_batch(request: Request, db: DbSession, device: Device, runner: Runner,
               raw: Annotated[bytes, Depends(compact_body)]) -> Response:
    """Lot compact (jusqu'à 5 000 mesures). Chaque mesure porte son identifiant attribué par l'appareil : un
    renvoi est reconnu et enregistré une seule fois. Une mesure impossible est refusée avec son motif, les
    autres sont acceptées ; le résultat de chaque mesure figure dans la réponse, envoyée après l'enregistrement."""
    try:
        reply = runner.ingest_compact(db, device, raw, context=audit_context(request))
    except BatchInvalid as exc:  # as FastAPI answers a body that does not match its model
        raise RequestValidationError([{"loc": ("body", *loc), "msg": message, "type": kind}
                                      for loc, message, kind in exc.errors]) from None
    return Response(reply, media_type="application/json")  # thousands of outcomes, serialised by orjson


def _fhir(outcome: dict[str, Any], status_code: int) -> JSONResponse:
    return JSONResponse(outcome, status_code=status_code, media_type=fhir.FHIR_JSON)


def _ingest_fhir(request: Request, db: DbSession, device: DeviceActor, runner: BatchRunner,
                 items: list[Incoming], *, all_or_nothing: bool) -> IngestResult | JSONResponse:
    """Ingest parsed FHIR readings; a refusal of the ingestion (422) becomes the FHIR refusal, other errors rise."""
    try:
        return runner.ingest_batch(db, device, items, all_or_nothing=all_or_nothing, context=audit_context(request),
                                   channel="fhir")
    except MaillageError as exc:
        if exc.status_code != 422:
            raise
        return _fhir(fhir.invalid(exc.message), 422)


@router.post("/api/monitoring/fhir/Observation", response_model=None, responses=DEVICE_RESPONSES,
             summary="Transmettre une Observation FHIR R4")
def post_observation(request: Request, db: DbSession, device: Device, runner: Runner,
                     body: Annotated[dict[str, Any], Body(media_type=fhir.FHIR_JSON)]) -> Response:
    try:
        items = fhir.parse_observation(body)
    except MaillageError as exc:
        return _fhir(fhir.invalid(exc.message), 422)
    result = _ingest_fhir(request, db, device, runner, items, all_or_nothing=True)
    if isinstance(result, JSONResponse):
        return result
    if all(o.outcome == "duplicate" for o in result.outcomes):
        return _fhir(fhir.operation_outcome("information", "duplicate", "Mesure déjà reçue."), 200)
    return _fhir(fhir.operation_outcome("information", "informational", "Mesure enregistrée."), 201)


@router.post("/api/monitoring/fhir", response_model=None, responses=DEVICE_RESPONSES,
             summary="Transmettre un Bundle FHIR R4 (batch ou transaction)")
def post_bundle(request: Request, db: DbSession, device: Device, runner: Runner,
                body: Annotated[dict[str, Any], Body(media_type=fhir.FHIR_JSON)]) -> Response:
    """``batch`` : chaque entrée est traitée pour elle-même ; ``transaction`` : tout ou rien."""
    try:
        kind, entries = fhir.parse_bundle(body)
    except MaillageError as exc:
        return _fhir(fhir.invalid(exc.message), 422)
    transaction = kind == "transaction"
    failed = [e for e in entries if e.error is not None]
    if transaction and failed:
        text = " ; ".join(f"entrée {e.index} : {e.error.message}" for e in failed if e.error)
        return _fhir(fhir.invalid(f"Transaction refusée, rien n'a été enregistré. {text}"), 422)
    items = [r for e in entries for r in e.readings]
    outcomes = {}
    if items:
        result = _ingest_fhir(request, db, device, runner, items, all_or_nothing=transaction)
        if isinstance(result, JSONResponse):
            return result
        outcomes = {o.index: o for o in result.outcomes}
    return _fhir(fhir.response_bundle(kind, entries, outcomes), 200)


# -- Programmes, teams, devices ---------------------------------------------------------------------------


@router.get("/api/monitoring/programmes", summary="Programmes de télésurveillance")
def programmes(actor: Triage) -> list[dict[str, Any]]:
    out = []
    for p in PROGRAMMES.values():
        out.append({
            "key": p.key, "label": p.label, "legal_basis": p.legal_basis, "forfait": p.forfait.value,
            "forfait_cents": FORFAIT_AMOUNTS_CENTS[p.forfait],
            "enhanced": {"months": p.enhanced.months, "renewals": p.enhanced.renewals} if p.enhanced else None,
            "references": list(p.references),
            "data": [{"measure": d.measure, "required": d.required, "frequency": d.frequency,
                      "code": MEASURES[d.measure].code, "system": MEASURES[d.measure].system,
                      "unit": MEASURES[d.measure].unit} for d in p.data],
            "rules": [{"key": r.key, "label": r.label, "kind": r.kind, "severity": r.severity.value,
                       "mandatory": r.mandatory, "source": r.source, "default": r.describe()} for r in p.rules],
        })
    return out


@router.post("/api/monitoring/teams", response_model=TeamRead, status_code=201,
             summary="Déclarer une équipe opératrice")
def create_team(body: TeamCreate, request: Request, db: DbSession, actor: Admin) -> TeamRead:
    team = service.create_team(db, actor, establishment_id=body.establishment_id, name=body.name,
                               ars_declaration=body.ars_declaration, context=audit_context(request))
    return TeamRead.model_validate(team)


@router.post("/api/monitoring/teams/{team_id}/members", status_code=204, summary="Ajouter un membre à l'équipe")
def add_member(team_id: uuid.UUID, body: TeamMemberAdd, request: Request, db: DbSession, actor: Admin) -> Response:
    service.add_member(db, actor, team_id, body.user_id, body.role, context=audit_context(request))
    return Response(status_code=204)


@router.post("/api/monitoring/devices", response_model=DeviceRead, status_code=201,
             summary="Enregistrer un appareil ou une passerelle")
def register_device(body: DeviceCreate, request: Request, db: DbSession, actor: Enrol) -> DeviceRead:
    registered = service.register_device(db, actor, team_id=body.team_id, identifier=body.identifier,
                                         label=body.label, kind=body.kind, gateway_identifier=body.gateway_identifier,
                                         with_credential=body.with_credential, context=audit_context(request))
    d = registered.device
    return DeviceRead(id=d.id, identifier=d.identifier, kind=d.kind, label=d.label, secret=registered.secret)


# -- Enrolments ------------------------------------------------------------------------------------------------


def _enrolment_read(db: Any, enrolment: MonitoringEnrolment) -> EnrolmentRead:
    return EnrolmentRead(
        id=enrolment.id, patient_id=enrolment.patient_id, team_id=enrolment.team_id, programme=enrolment.programme,
        status=enrolment.status, prescribed_on=enrolment.prescribed_on, starts_on=enrolment.starts_on,
        ends_on=enrolment.ends_on, reference_values=enrolment.reference_values, overrides=enrolment.overrides,
        enhanced_periods=enrolment.enhanced_periods,
        devices=[d.identifier for d in repo.devices_of_enrolment(db, enrolment.id)],
    )


@router.post("/api/monitoring/enrolments", response_model=EnrolmentRead, status_code=201,
             summary="Inclure un patient dans un programme")
def enrol(body: EnrolmentCreate, request: Request, db: DbSession, actor: Enrol) -> EnrolmentRead:
    enrolment = service.enrol(db, actor, body, context=audit_context(request))
    return _enrolment_read(db, enrolment)


@router.get("/api/monitoring/enrolments/{enrolment_id}", response_model=EnrolmentRead, summary="Lire une inclusion")
def get_enrolment(enrolment_id: uuid.UUID, request: Request, db: DbSession, actor: Triage) -> EnrolmentRead:
    return _enrolment_read(db, service.get_enrolment(db, actor, enrolment_id, audit_context(request)))


@router.patch("/api/monitoring/enrolments/{enrolment_id}", response_model=EnrolmentRead,
              summary="Modifier les valeurs de référence ou les seuils du patient")
def update_enrolment(enrolment_id: uuid.UUID, body: EnrolmentUpdate, request: Request, db: DbSession,
                     actor: Enrol) -> EnrolmentRead:
    enrolment = service.update_settings(db, actor, enrolment_id, references=body.references, overrides=body.overrides,
                                        context=audit_context(request))
    return _enrolment_read(db, enrolment)


@router.post("/api/monitoring/enrolments/{enrolment_id}/pause", status_code=204, summary="Suspendre le suivi")
def pause(enrolment_id: uuid.UUID, body: PauseCreate, request: Request, db: DbSession, actor: Enrol) -> Response:
    service.pause(db, actor, enrolment_id, body.reason, body.starts_at, context=audit_context(request))
    return Response(status_code=204)


@router.post("/api/monitoring/enrolments/{enrolment_id}/resume", status_code=204, summary="Reprendre le suivi")
def resume(enrolment_id: uuid.UUID, request: Request, db: DbSession, actor: Enrol) -> Response:
    service.resume(db, actor, enrolment_id, context=audit_context(request))
    return Response(status_code=204)


@router.post("/api/monitoring/enrolments/{enrolment_id}/end", status_code=204, summary="Terminer le suivi")
def end(enrolment_id: uuid.UUID, body: EndCreate, request: Request, db: DbSession, actor: Enrol) -> Response:
    service.end(db, actor, enrolment_id, body.reason, context=audit_context(request))
    return Response(status_code=204)


@router.post("/api/monitoring/enrolments/{enrolment_id}/enhanced", response_model=EnrolmentRead,
             summary="Ajouter une période de forfait majoré")
def enhanced(enrolment_id: uuid.UUID, body: EnhancedCreate, request: Request, db: DbSession,
             actor: Enrol) -> EnrolmentRead:
    enrolment = service.add_enhanced_period(db, actor, enrolment_id, level=body.level, starts_on=body.starts_on,
                                            months=body.months, context=audit_context(request))
    return _enrolment_read(db, enrolment)


# -- Alerts ----------------------------------------------------------------------------------------------------


def _alert_read(alert: MonitoringAlert) -> AlertRead:
    return AlertRead(id=alert.id, enrolment_id=alert.enrolment_id, patient_id=alert.patient_id,
                     condition=alert.condition, severity=alert.severity, silence=alert.silence, status=alert.status,
                     message=alert.message, source=alert.source, occurrences=alert.occurrences,
                     opened_at=alert.opened_at, last_seen_at=alert.last_seen_at, escalated_at=alert.escalated_at)


@router.get("/api/monitoring/alerts", summary="Liste de travail : alertes ouvertes")
def alerts(request: Request, db: DbSession, actor: Triage) -> dict[str, list[AlertRead]]:
    """Rouges d'abord, puis orange, puis patients sans données, puis verts."""
    work = service.worklist(db, actor, audit_context(request))
    return {group: [_alert_read(a) for a in items] for group, items in work.groups.items()}


@router.post("/api/monitoring/alerts/{alert_id}/acknowledge", response_model=AlertRead, summary="Acquitter une alerte")
def acknowledge(alert_id: uuid.UUID, body: AcknowledgeIn, request: Request, db: DbSession, actor: Triage) -> AlertRead:
    return _alert_read(service.acknowledge(db, actor, alert_id, body.comment, context=audit_context(request)))


@router.post("/api/monitoring/alerts/{alert_id}/escalate", response_model=AlertRead,
             summary="Transmettre l'alerte au médecin de l'équipe de soins")
def escalate(alert_id: uuid.UUID, body: EscalateIn, request: Request, db: DbSession, actor: Triage) -> AlertRead:
    return _alert_read(service.escalate(db, actor, alert_id, body.comment, body.physician_id,
                                        context=audit_context(request)))


@router.post("/api/monitoring/alerts/acknowledge-green", response_model=GreenReceiptRead,
             summary="Acquitter tous les verts (avec accusé)")
def acknowledge_green(request: Request, db: DbSession, actor: Triage) -> GreenReceiptRead:
    receipt = service.acknowledge_all_green(db, actor, context=audit_context(request))
    return GreenReceiptRead(receipt_id=receipt.id if receipt else None, count=receipt.count if receipt else 0)
