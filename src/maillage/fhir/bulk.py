"""Bulk Data export (HL7 FHIR Bulk Data Access IG v2, https://hl7.org/fhir/uv/bulkdata/export.html).

Kick-off (``$export`` at system, ``Patient`` or ``Group/[id]`` level) records an export for the calling client and
queues a worker job; the client polls the status URL (202 with ``X-Progress`` while it runs, then 200 with the
manifest), downloads the NDJSON files with the same token, and may DELETE the export. The job acts as the token that
asked, re-resolved when it runs (a token revoked meanwhile exports nothing): every resource comes from the same
registered search functions as ``GET /fhir/[type]``, so the care-relationship rule, the token's SMART scopes and the
role all apply, and each page is audited with its patients. Files are vault blobs (encrypted at rest), served only
to the client that asked, and deleted with their export when it expires (``purge_expired``).

Who may export: a token (personal, with ``user/…`` scopes, or of a service, with ``system/…`` scopes). The system
level, which also exports the directory and the offer, is for a service token only (a ``system`` scope).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.auth import tokens
from maillage.exceptions import MaillageError, NotFound, PermissionDenied, TooManyRequests
from maillage.fhir import rules
from maillage.fhir.registry import REGISTRY, Call, ResourceType, SearchQuery
from maillage.fhir.resources import group as groups
from maillage.fhir.resources.common import instant
from maillage.fhir.service import BadRequest, check_allowed
from maillage.kit.clock import now
from maillage.models.fhir import FhirExport, FhirExportFile
from maillage.models.monitoring import MonitoringTeam
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.vault import service as vault
from maillage.worker.queue import enqueue_job

EXPORT_JOB = "fhir.bulk_export"
PURGE_JOB = "fhir.purge_exports"
OBJECT_TYPE = "fhir_export"
NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = (NDJSON, "application/ndjson", "ndjson")
KEPT = dt.timedelta(hours=24)  # a finished export's files are deleted a day after it was asked
PAGE = 100
FILE_BYTES = 32 * 1024 * 1024  # a type's NDJSON is split into files of at most this size (the job's memory bound)
MEMBERS_PER_QUERY = 200
TOKEN_METHODS = ("token", "service_token")
UNSUPPORTED = ("_elements", "patient", "_typeFilter", "includeAssociatedData")


@dataclass(frozen=True)
class Request:
    level: str  # system | patient | group
    group_id: uuid.UUID | None
    types: list[str]
    since: dt.datetime | None


def _patient_types() -> list[str]:
    """The types of the patient compartment this server can export: Patient, and those searchable by patient."""
    return sorted(name for name, rt in REGISTRY.items() if rt.search is not None and name != "Group"
                  and rt.extra.get("patient_compartment", True)
                  and (name == "Patient" or any(p.name == "patient" for p in rt.search_params)))


def _exportable(level: str) -> list[str]:
    if level == "system":
        return sorted(name for name, rt in REGISTRY.items() if rt.search is not None)
    return _patient_types()


def _allowed(actor: Actor, name: str) -> bool:
    try:
        check_allowed(actor, REGISTRY[name], "search")
    except PermissionDenied:
        return False
    return True


def parse_request(actor: Actor, level: str, group_id: str | None, items: list[tuple[str, str]]) -> Request:
    """The kick-off's parameters against what this server does: 400 for what it cannot honour (the IG lets a server
    refuse rather than ignore), 403 for a type the token's scopes or the role do not give."""
    if actor.auth_method not in TOKEN_METHODS:
        raise PermissionDenied("L'export de masse se demande avec un jeton (personnel ou de service) portant des "
                               "portées SMART.")
    if level == "system" and actor.auth_method != "service_token":
        raise PermissionDenied("L'export au niveau du système est réservé aux jetons de service (portée system/…).")
    values: dict[str, str] = {}
    for name, value in items:
        if name in UNSUPPORTED:
            raise BadRequest(f"Paramètre d'export « {name} » non pris en charge (acceptés : _outputFormat, _type, "
                             "_since).")
        if name not in ("_outputFormat", "_type", "_since"):
            raise BadRequest(f"Paramètre d'export « {name[:40]} » inconnu (acceptés : _outputFormat, _type, _since).")
        if name in values:
            raise BadRequest(f"Le paramètre {name} ne peut figurer qu'une fois (séparez les types par des virgules).")
        values[name] = value
    if values.get("_outputFormat", NDJSON) not in OUTPUT_FORMATS:
        raise BadRequest("Format de sortie non pris en charge : seul application/fhir+ndjson est produit.")
    exportable = _exportable(level)
    if "_type" in values:
        asked = [t.strip() for t in values["_type"].split(",") if t.strip()]
        unknown = [t for t in asked if t not in exportable]
        if not asked or unknown:
            raise BadRequest(f"Type(s) non exportable(s) à ce niveau : {', '.join(unknown)[:200] or '(aucun)'} "
                             f"(exportables : {', '.join(exportable)}).")
        refused = [t for t in asked if not _allowed(actor, t)]
        if refused:
            raise PermissionDenied(f"Ce jeton ne permet pas d'exporter : {', '.join(refused)} (portée de recherche "
                                   "requise, par exemple system/Observation.rs).")
        types = sorted(set(asked))
    else:
        types = [t for t in exportable if _allowed(actor, t)]
        if not types:
            raise PermissionDenied("Ce jeton ne porte aucune portée de recherche sur un type exportable.")
    since = None
    if "_since" in values:
        try:
            since = rules.date_range(values["_since"])[0]
        except rules.SearchProblem as exc:
            raise BadRequest(f"_since : {exc}") from exc
        # A type that cannot select by its last update would be exported whole, as if all of it had changed.
        unfiltered = [t for t in types if "_lastUpdated" not in {p.name for p in REGISTRY[t].search_params}]
        if unfiltered:
            raise BadRequest(f"_since ne s'applique pas à : {', '.join(unfiltered)} (leur date de mise à jour n'est "
                             "pas connue) : exportez-les sans _since, ou retirez-les de _type.")
    gid = None
    if level == "group":
        try:
            gid = uuid.UUID(group_id or "")
        except ValueError:
            raise NotFound() from None
    return Request(level, gid, types, since)


def kick_off(call: Call, level: str, group_id: str | None, items: list[tuple[str, str]],
             request_url: str) -> FhirExport:
    """Record the export and queue its job (committed with the request). A Group the caller cannot see is 404."""
    asked = parse_request(call.actor, level, group_id, items)
    if asked.group_id is not None:
        team = call.session.get(MonitoringTeam, asked.group_id)
        if team is None or not groups.members(call, team.id):
            raise NotFound()
    under_way = call.session.scalar(select(FhirExport.id).where(
        FhirExport.client_id == call.actor.user_id, FhirExport.status.in_(("queued", "running")),
        FhirExport.expires_at > now()).limit(1))
    if under_way is not None:
        # One export at a time per client (Bulk Data IG: a server may refuse concurrent requests with 429): the
        # worker's two cores and memory are not for one client to fill.
        raise TooManyRequests("Un export est déjà en cours pour ce client : attendez qu'il se termine ou annulez-le "
                              "(DELETE sur son adresse de suivi).", retry_after=60)
    export = FhirExport(client_id=call.actor.user_id, token_id=call.actor.token_id, level=asked.level,
                        group_id=asked.group_id, types=asked.types, since=asked.since, request_url=request_url[:2000],
                        status="queued", created_at=now(), expires_at=now() + KEPT)
    call.session.add(export)
    call.session.flush()
    enqueue_job(call.session, EXPORT_JOB, export_id=str(export.id), request_id=call.context.request_id or None)
    record(call.session, action="export_request", object_type=OBJECT_TYPE, object_id=str(export.id),
           context=call.context, details={"level": asked.level, "types": ",".join(asked.types)},
           **call.actor.audit_fields)
    return export


def own_export(call: Call, export_id: str) -> FhirExport:
    """The caller's export: another client's, an expired one or none at all are the same 404."""
    try:
        found = call.session.get(FhirExport, uuid.UUID(export_id))
    except ValueError:
        raise NotFound() from None
    if (found is None or found.client_id != call.actor.user_id or found.token_id != call.actor.token_id
            or found.expires_at <= now()):
        raise NotFound()
    return found


def files_of(session: Session, export_id: uuid.UUID) -> list[FhirExportFile]:
    return list(session.scalars(select(FhirExportFile).where(FhirExportFile.export_id == export_id)
                                .order_by(FhirExportFile.resource_type, FhirExportFile.part)))


def manifest(session: Session, export: FhirExport, base_url: str) -> dict[str, Any]:
    return {
        "transactionTime": instant(export.created_at),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": [{"type": f.resource_type, "url": f"{base_url}/$export-file/{f.id}", "count": f.count}
                   for f in files_of(session, export.id)],
        "error": [],
    }


def cancel(call: Call, export_id: str) -> None:
    """DELETE: the export and its files go (the IG's cancellation, and the client's way to free them early)."""
    export = own_export(call, export_id)
    _delete(call.session, export)
    record(call.session, action="export_cancel", object_type=OBJECT_TYPE, object_id=str(export.id),
           context=call.context, **call.actor.audit_fields)


def _delete(session: Session, export: FhirExport) -> None:
    for f in files_of(session, export.id):
        session.delete(f)
        session.flush()
        vault.delete_blob(session, f.blob_id, object_type=OBJECT_TYPE, object_id=str(export.id))
    session.execute(delete(FhirExport).where(FhirExport.id == export.id))


def file_content(call: Call, file_id: str) -> bytes:
    """One NDJSON file, for the client that asked only (404 for any other, as for a file that does not exist)."""
    try:
        row = call.session.get(FhirExportFile, uuid.UUID(file_id))
    except ValueError:
        raise NotFound() from None
    if row is None:
        raise NotFound()
    export = own_export(call, str(row.export_id))
    data = vault.read_blob(call.session, row.blob_id, object_type=OBJECT_TYPE, object_id=str(export.id))
    record(call.session, action="export_download", object_type=OBJECT_TYPE, object_id=str(export.id),
           context=call.context, details={"type": row.resource_type, "count": row.count}, **call.actor.audit_fields)
    return data


# --- the worker's side --------------------------------------------------------------------------------------------


def _queries(rt: ResourceType, since: dt.datetime | None,
             members: list[uuid.UUID] | None) -> Iterator[dict[str, list[str]]]:
    """The search parameters that select what one type exports: since a time (where the type declares
    ``_lastUpdated``), for a group's members (by ``_id`` for Patient, by ``patient`` for the others)."""
    params: dict[str, list[str]] = {}
    declared = {p.name for p in rt.search_params}
    if since is not None and "_lastUpdated" in declared:
        params["_lastUpdated"] = [f"ge{instant(since)}"]
    if members is None:
        yield params
        return
    key = "_id" if rt.name == "Patient" else "patient"
    for start in range(0, len(members), MEMBERS_PER_QUERY):
        chunk = members[start:start + MEMBERS_PER_QUERY]
        yield {**params, key: [",".join(str(m) for m in chunk)]}


def _lines(call: Call, rt: ResourceType, since: dt.datetime | None,
           members: list[uuid.UUID] | None) -> Iterator[bytes]:
    assert rt.search is not None
    for params in _queries(rt, since, members):
        after: dict[str, Any] | None = None
        while True:
            page = rt.search(call, SearchQuery(params=params, count=PAGE, sort=rt.default_sort, after=after))
            for resource in page.resources:
                yield json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            if page.next_position is None:
                break
            after = page.next_position


class _Files:
    """A type's NDJSON written in files of at most ``limit`` bytes: lines gather in one buffer, which is stored (a
    vault blob) and emptied as soon as the next line would pass the limit. What the job holds at any time is one
    buffer, not the type's whole export (a line longer than the limit gets a file of its own)."""

    def __init__(self, session: Session, export: FhirExport, name: str, limit: int) -> None:
        self.session, self.export, self.name, self.limit = session, export, name, limit
        self.buffer = bytearray()
        self.lines = 0
        self.parts = 0
        self.total = 0

    def add(self, line: bytes) -> None:
        if self.lines and len(self.buffer) + len(line) + 1 > self.limit:
            self.flush()
        self.buffer += line
        self.buffer += b"\n"
        self.lines += 1
        self.total += 1

    def flush(self) -> None:
        if not self.lines:
            return
        self.parts += 1
        blob = vault.store_blob(self.session, object_type=OBJECT_TYPE, object_id=str(self.export.id),
                                data=bytes(self.buffer), media_type=NDJSON)
        self.session.add(FhirExportFile(export_id=self.export.id, resource_type=self.name, part=self.parts,
                                        count=self.lines, blob_id=blob.id))
        self.session.flush()
        self.buffer = bytearray()
        self.lines = 0


def run(session: Session, export_id: str, *, file_bytes: int | None = None) -> None:
    """The job: every asked type, page after page, as the token that asked; a type's resources in files of at most
    ``file_bytes`` (``FILE_BYTES`` by default; a type with no rows has no file)."""
    export = session.get(FhirExport, uuid.UUID(export_id))
    if export is None or export.status not in ("queued", "running"):
        return  # cancelled, or already done by a previous attempt
    actor = tokens.actor_of_token(session, export.token_id) if export.token_id else None
    if actor is None or actor.user_id != export.client_id:
        _fail(session, export, "Le jeton qui a demandé l'export a été révoqué ou a expiré.")
        return
    call = Call(session, actor, AuditContext(request_id=f"job:{EXPORT_JOB}:{export.id}"[:64]))
    export.status = "running"
    counts: dict[str, int] = {}
    try:
        with session.begin_nested():
            members = None
            if export.group_id is not None:
                members = groups.members(call, export.group_id)
            for name in export.types:
                rt = REGISTRY.get(name)
                if rt is None or rt.search is None:
                    continue
                check_allowed(actor, rt, "search")
                files = _Files(session, export, name, file_bytes or FILE_BYTES)
                for line in _lines(call, rt, export.since, members):
                    files.add(line)
                files.flush()
                counts[name] = files.total
    except MaillageError as exc:
        _fail(session, export, exc.message)
        return
    export.status = "done"
    export.finished_at = now()
    export.progress = f"{sum(counts.values())} ressources"
    record(session, action="export", object_type=OBJECT_TYPE, object_id=str(export.id), context=call.context,
           details={"resources": sum(counts.values()),
                    "types": ",".join(f"{name}:{count}" for name, count in sorted(counts.items()))[:500]},
           **actor.audit_fields)


def _fail(session: Session, export: FhirExport, message: str) -> None:
    export.status = "failed"
    export.error = message[:500]
    export.finished_at = now()
    session.flush()


def purge_expired(session: Session, at: dt.datetime | None = None) -> int:
    """Delete the exports past their expiry, with their files (the periodic job)."""
    expired = list(session.scalars(select(FhirExport).where(FhirExport.expires_at <= (at or now()))))
    for export in expired:
        _delete(session, export)
    return len(expired)
