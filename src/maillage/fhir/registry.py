"""The registry of FHIR resource types: each type declares what it answers, the CapabilityStatement says the same.

A capability plugs a resource in by registering a ``ResourceType``: its read function, its search function with the
search parameters it understands, its create function if the workflows allow one. The door (``endpoints``) answers
only what is registered, and ``capability_statement`` is generated from this registry, so what the server says it
does and what it does cannot drift apart (tests/fhir/test_capability.py asks every declared interaction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from maillage import __version__
from maillage.fhir.rules import FHIR_JSON, FHIR_VERSION, Sort
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission

Resource = dict[str, Any]
ID_ORDER = Sort("_id", False)


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # token | date | reference | string | number
    documentation: str


@dataclass(frozen=True)
class SearchQuery:
    """A validated search: the declared parameters with their values (a parameter repeated is AND), the page size,
    the order and where the previous page ended."""

    params: dict[str, list[str]]
    count: int
    sort: Sort
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class Page:
    resources: list[Resource]
    next_position: dict[str, Any] | None  # where the next page starts; None on the last page


@dataclass(frozen=True)
class Call:
    """Who calls, and what the audit trail records about the request."""

    session: Session
    actor: Actor
    context: AuditContext


ReadFunction = Callable[[Call, str], Resource]
SearchFunction = Callable[[Call, SearchQuery], Page]
CreateFunction = Callable[[Call, Resource, str | None], tuple[Resource, bool]]  # (resource, created)


@dataclass(frozen=True)
class ResourceType:
    name: str
    read: ReadFunction
    permission: Permission  # what the caller's role must allow to read or search
    profile: str | None = None
    search: SearchFunction | None = None
    search_params: tuple[SearchParam, ...] = ()
    sorts: tuple[str, ...] = ()
    default_sort: Sort = ID_ORDER
    create: CreateFunction | None = None
    create_permission: Permission | None = None
    conditional_create: bool = False
    documentation: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def interactions(self) -> list[str]:
        found = ["read"]
        if self.search is not None:
            found.append("search-type")
        if self.create is not None:
            found.append("create")
        return found


REGISTRY: dict[str, ResourceType] = {}


def register(resource: ResourceType) -> ResourceType:
    if resource.name in REGISTRY and REGISTRY[resource.name] is not resource:
        raise ValueError(f"FHIR resource type {resource.name} registered twice")
    if resource.create is not None and resource.create_permission is None:
        raise ValueError(f"FHIR resource type {resource.name}: a create needs its permission")
    REGISTRY[resource.name] = resource
    return resource


SYSTEM_INTERACTIONS = ("transaction", "batch")
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"
EXPORT_OPERATIONS = {"system": f"{BULK_DATA}/export", "Patient": f"{BULK_DATA}/patient-export",
                     "Group": f"{BULK_DATA}/group-export"}
PAGING_PARAMS = ("_count", "_sort", "_cursor")
STARTED = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def capability_statement(base_url: str) -> Resource:
    """The server's CapabilityStatement, from the registry (FHIR R4 §2.40, SMART App Launch v2 §2.0.8)."""
    resources = []
    for name in sorted(REGISTRY):
        rt = REGISTRY[name]
        entry: Resource = {"type": name, "interaction": [{"code": code} for code in rt.interactions],
                           "versioning": "no-version", "readHistory": False, "updateCreate": False}
        if rt.profile:
            entry["supportedProfile"] = [rt.profile]
        if rt.documentation:
            entry["documentation"] = rt.documentation
        if rt.create is not None:
            entry["conditionalCreate"] = rt.conditional_create
        if name in EXPORT_OPERATIONS:
            entry["operation"] = [{"name": "export", "definition": EXPORT_OPERATIONS[name]}]
        if rt.search is not None:
            entry["searchParam"] = [{"name": p.name, "type": p.type, "documentation": p.documentation}
                                    for p in rt.search_params]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STARTED.date().isoformat(),
        "publisher": "Maillage",
        "kind": "instance",
        "software": {"name": "Maillage", "version": __version__},
        "implementation": {"description": "Maillage, serveur FHIR R4 de la plateforme de télésanté", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Accès par jeton porteur (personnel ou de service) muni de portées SMART v2 ; chaque "
                             "accès à un patient passe par la relation de soins et est tracé.",
            "security": {
                "cors": False,
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "SMART-on-FHIR"}]}],
                "description": "Portées SMART v2 (patient/…, user/…, system/…) portées par le jeton ; la portée et "
                               "le rôle s'appliquent tous deux.",
            },
            "resource": resources,
            "interaction": [{"code": code, "documentation": "Bundle d'Observation d'un appareil de "
                                                            "télésurveillance (jeton d'appareil)."}
                            for code in SYSTEM_INTERACTIONS],
            "operation": [{"name": "export", "definition": EXPORT_OPERATIONS["system"],
                           "documentation": "Export de masse asynchrone (NDJSON), jeton de service (portées system/…) "
                                            "seulement au niveau du système."}],
            "searchParam": [
                {"name": "_count", "type": "number",
                 "documentation": "Taille de page (plafonnée à 100, 20 par défaut)."},
                {"name": "_sort", "type": "string", "documentation": "Tri sur une date : date, -date, _lastUpdated."},
            ],
        }],
    }


def smart_configuration(base_url: str) -> Resource:
    """``.well-known/smart-configuration`` (SMART App Launch v2 §2.0.7): tokens are issued by Maillage itself
    (account page or ``maillage user token``); there is no OAuth authorisation endpoint to launch an app."""
    return {
        "issuer": base_url,
        "grant_types_supported": [],
        "token_endpoint_auth_methods_supported": [],
        "scopes_supported": sorted({f"{ctx}/{name}.rs" for ctx in ("user", "patient", "system") for name in REGISTRY}
                                   | {"user/*.rs", "system/*.rs"}),
        "response_types_supported": [],
        "capabilities": ["permission-v2"],
        "code_challenge_methods_supported": [],
    }
