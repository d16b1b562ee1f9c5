"""The FHIR R4 door, mounted at ``/fhir``: thin routes over ``fhir.service``; JSON as ``application/fhir+json``.

Errors are OperationOutcome resources with French diagnostics (``web.errors.render_error`` renders every error under
``/fhir`` so, the 401 of a missing token included). ``metadata`` and the SMART configuration are public, as FHIR and
SMART require: they describe the server, never data.
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from maillage.auth.tokens import DeviceActor
from maillage.exceptions import MaillageError, NotAuthenticated, PermissionDenied, ValidationFailed
from maillage.fhir import bulk, rules, service
from maillage.fhir import resources as _resources  # noqa: F401  (registers the resource types)
from maillage.fhir.registry import Call, capability_statement, smart_configuration
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.monitoring import fhir as monitoring_fhir
from maillage.monitoring.batchpool import INLINE, BatchRunner
from maillage.security.actor import Actor
from maillage.security.deps import CurrentActor, audit_context, optional_actor

router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=UnitOfWorkRoute, include_in_schema=False)
well_known = APIRouter(tags=["fhir"], include_in_schema=False)


class FhirResponse(JSONResponse):
    media_type = rules.FHIR_JSON


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


@router.get("/metadata")
def metadata(request: Request) -> FhirResponse:
    return FhirResponse(capability_statement(base_url(request)))


@router.get("/.well-known/smart-configuration")
def smart_config(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(base_url(request)))


@well_known.get("/.well-known/smart-configuration")
def smart_config_at_root(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(base_url(request)))


async def require_device(request: Request) -> DeviceActor:
    """A transaction or batch Bundle at the base is, today, a device's readings (``Observation`` entries) handed to
    telesurveillance's ingestion; a person's bundles are not taken yet (docs/fhir.md)."""
    device = getattr(request.state, "device", None)
    if isinstance(device, DeviceActor):
        return device
    if optional_actor(request) is not None:
        raise PermissionDenied("Les Bundles transaction et batch ne sont acceptés que des appareils de "
                               "télésurveillance (des Observation).")
    raise NotAuthenticated("Authentification de l'appareil requise (Authorization: Bearer mlg_dev_…).")


require_device.device_only = True  # type: ignore[attr-defined]  # read by the route-protection test


@router.post("")
def bundle(request: Request, db: DbSession, device: Annotated[DeviceActor, Depends(require_device)],
           body: Annotated[Any, Body(media_type=rules.FHIR_JSON)] = None) -> FhirResponse:
    """``transaction`` (all or nothing) or ``batch`` (entry by entry) of Observations, through the ingestion
    service (the same checks as the device endpoints: the device's assignment decides the patient)."""
    runner: BatchRunner = getattr(request.app.state, "monitoring_batch", INLINE)
    try:
        kind, entries = monitoring_fhir.parse_bundle(body)
    except MaillageError as exc:
        raise ValidationFailed(exc.message) from None
    transaction = kind == "transaction"
    failed = [e for e in entries if e.error is not None]
    if transaction and failed:
        text = " ; ".join(f"entrée {e.index} : {e.error.message}" for e in failed if e.error)
        raise ValidationFailed(f"Transaction refusée, rien n'a été enregistré. {text}")
    items = [r for e in entries for r in e.readings]
    outcomes = {}
    if items:
        result = runner.ingest_batch(db, device, items, all_or_nothing=transaction, context=audit_context(request),
                                     channel="fhir")
        outcomes = {o.index: o for o in result.outcomes}
    return FhirResponse(monitoring_fhir.response_bundle(kind, entries, outcomes))


# --- Bulk Data export (fhir.bulk); declared before the generic routes, which would take "$export" for an id ----


def _kick_off(request: Request, db: Session, actor: Actor, level: str, group_id: str | None) -> Response:
    export = bulk.kick_off(Call(db, actor, audit_context(request)), level, group_id,
                           list(request.query_params.multi_items()), str(request.url))
    status_url = f"{base_url(request)}/$export-status/{export.id}"
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
                                                           "diagnostics": "Export accepté ; suivez son état à "
                                                                          "l'adresse Content-Location."}]}
    return FhirResponse(body, status_code=202, headers={"Content-Location": status_url})


@router.get("/$export")
def export_system(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    """System-level export (a service token with system scopes): every type the scopes give."""
    return _kick_off(request, db, actor, "system", None)


@router.get("/Patient/$export")
def export_patients(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    """The patient compartment of every patient the token may see."""
    return _kick_off(request, db, actor, "patient", None)


@router.get("/Group/{group_id}/$export")
def export_group(group_id: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    """The patient compartment of a telesurveillance team's followed patients (those the token may see)."""
    return _kick_off(request, db, actor, "group", group_id)


@router.get("/$export-status/{export_id}")
def export_status(export_id: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    export = bulk.own_export(Call(db, actor, audit_context(request)), export_id)
    expires = {"Expires": format_datetime(export.expires_at, usegmt=True)}
    if export.status in ("queued", "running"):
        progress = "en file d'attente" if export.status == "queued" else "en cours"
        return Response(status_code=202, headers={"X-Progress": progress, "Retry-After": "2"})
    if export.status == "failed":
        raise MaillageError(f"L'export a échoué : {export.error or 'raison inconnue'}", status_code=500)
    return JSONResponse(bulk.manifest(db, export, base_url(request)), headers=expires)


@router.delete("/$export-status/{export_id}")
def export_cancel(export_id: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    bulk.cancel(Call(db, actor, audit_context(request)), export_id)
    return Response(status_code=202)


@router.get("/$export-file/{file_id}")
def export_file(file_id: str, request: Request, db: DbSession, actor: CurrentActor) -> Response:
    data = bulk.file_content(Call(db, actor, audit_context(request)), file_id)
    return Response(content=data, media_type=bulk.NDJSON, headers={"Cache-Control": "no-store"})


@router.get("/{type_name}")
def search(type_name: str, request: Request, db: DbSession, actor: CurrentActor) -> FhirResponse:
    items = list(request.query_params.multi_items())
    rt, _query, page = service.search(Call(db, actor, audit_context(request)), type_name, items)
    base = base_url(request)
    own = [(k, v) for k, v in items if k != "_cursor"]
    links: list[dict[str, Any]] = [{"relation": "self", "url": f"{base}/{rt.name}?{urlencode(items)}"}]
    if page.next_position is not None:
        cursor = rules.encode_cursor(page.next_position)
        links.append({"relation": "next", "url": f"{base}/{rt.name}?{urlencode([*own, ('_cursor', cursor)])}"})
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"fullUrl": f"{base}/{rt.name}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in page.resources],
    }
    return FhirResponse(bundle)


@router.post("/{type_name}")
def create(type_name: str, request: Request, db: DbSession, actor: CurrentActor,
           body: Annotated[Any, Body(media_type=rules.FHIR_JSON)] = None) -> FhirResponse:
    """Create; with ``If-None-Exist``, only if the condition finds nothing (then 200 with the resource found)."""
    resource, created = service.create(Call(db, actor, audit_context(request)), type_name, body,
                                       request.headers.get("if-none-exist"))
    location = f"{base_url(request)}/{resource['resourceType']}/{resource['id']}"
    return FhirResponse(resource, status_code=201 if created else 200, headers={"Location": location})


@router.get("/{type_name}/{resource_id}")
def read(type_name: str, resource_id: str, request: Request, db: DbSession, actor: CurrentActor) -> FhirResponse:
    resource = service.read(Call(db, actor, audit_context(request)), type_name, resource_id)
    return FhirResponse(resource)
