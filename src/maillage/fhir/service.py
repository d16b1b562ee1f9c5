"""The door's use cases: who may do which interaction on which type (scope AND role), and the search parsed against
what the type declares. Patient data is reached only by the registered functions, which go through ``authz``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from maillage.exceptions import MaillageError, NotFound, PermissionDenied, ValidationFailed
from maillage.fhir import rules
from maillage.fhir.registry import PAGING_PARAMS, REGISTRY, Call, Page, Resource, ResourceType, SearchQuery
from maillage.security.actor import Actor
from maillage.security.policy import role_allows

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
TOKEN_METHODS = ("token", "service_token")


class BadRequest(MaillageError):
    """A request FHIR answers with 400 (a search parameter it does not know, a value it cannot read)."""

    status_code = 400
    code = "bad_request"


class PreconditionFailed(MaillageError):
    """A conditional interaction whose condition matches more than one resource (FHIR answers 412)."""

    status_code = 412
    code = "precondition_failed"


def resource_type(name: str) -> ResourceType:
    found = REGISTRY.get(name)
    if found is None:
        raise NotFound(f"Type de ressource « {name[:64]} » non pris en charge par ce serveur.")
    return found


def check_allowed(actor: Actor, rt: ResourceType, interaction: str) -> None:
    """Scope and role both apply. The role's permission first (what the person or service may do at all), then the
    token's SMART scopes. A browser session and a personal token without scopes act with the role's rights."""
    permission = rt.create_permission if interaction == "create" else rt.permission
    if permission is None or not role_allows(actor.role, permission):
        raise PermissionDenied(f"Votre rôle ne permet pas cette interaction sur {rt.name}.")
    if actor.auth_method not in TOKEN_METHODS:
        return
    if not actor.scopes and actor.auth_method == "token":
        return
    try:
        scopes = rules.smart_scopes(actor.scopes)
    except rules.ScopeProblem:
        scopes = []
    if not rules.scope_allows(scopes, rt.name, interaction, contexts=rules.contexts_for(actor.auth_method)):
        letter = rules.INTERACTION_LETTER[interaction]
        context = rules.contexts_for(actor.auth_method)[0]
        raise PermissionDenied(f"Ce jeton ne porte pas de portée SMART donnant « {letter} » sur {rt.name} "
                               f"(par exemple {context}/{rt.name}.{letter}).")


def read(call: Call, type_name: str, resource_id: str) -> Resource:
    rt = resource_type(type_name)
    check_allowed(call.actor, rt, "read")
    if not FHIR_ID.match(resource_id):
        raise NotFound()
    return rt.read(call, resource_id)


def create(call: Call, type_name: str, body: Any, if_none_exist: str | None) -> tuple[Resource, bool]:
    """Create a resource through its capability's workflow; with ``If-None-Exist`` (a search query), only if that
    search finds nothing (FHIR R4 §3.1.0.8.1): one match is returned as it is (200), more than one is 412."""
    rt = resource_type(type_name)
    if rt.create is None:
        raise MaillageError(f"La création n'est pas prise en charge pour {rt.name}.", status_code=405)
    check_allowed(call.actor, rt, "create")
    if not isinstance(body, dict) or body.get("resourceType") != rt.name:
        raise BadRequest(f"Le corps doit être une ressource {rt.name} (resourceType).")
    if if_none_exist is not None:
        if rt.search is None:
            raise BadRequest(f"Création conditionnelle impossible : {rt.name} n'a pas de recherche.")
        items = [(k, v) for k, v in parse_qsl(if_none_exist.removeprefix("?"), keep_blank_values=True)]
        if not items or any(k in PAGING_PARAMS for k, _ in items):
            raise BadRequest("En-tête If-None-Exist : attendu une recherche, par exemple identifier=système|valeur.")
        query = parse_search(rt, [*items, ("_count", "2")])
        try:
            found = rt.search(call, query)
        except rules.SearchProblem as exc:
            raise BadRequest(str(exc)) from exc
        if len(found.resources) > 1:
            raise PreconditionFailed("Création conditionnelle : la condition désigne plusieurs ressources.")
        if found.resources:
            return found.resources[0], False
    return rt.create(call, body, if_none_exist)


def parse_search(rt: ResourceType, items: list[tuple[str, str]]) -> SearchQuery:
    """The query string against what ``rt`` declares: an unknown parameter is refused (400) rather than ignored, so
    a client never takes an unfiltered answer for a filtered one (FHIR R4 §3.1.1.3.4, strict handling)."""
    declared = {p.name for p in rt.search_params}
    params: dict[str, list[str]] = {}
    single: dict[str, str] = {}
    for name, value in items:
        if name in PAGING_PARAMS:
            if name in single:
                raise BadRequest(f"Le paramètre {name} ne peut figurer qu'une fois.")
            single[name] = value
        elif name in declared:
            if len(params.get(name, [])) >= 5:
                raise BadRequest(f"Le paramètre {name} est répété trop de fois.")
            params.setdefault(name, []).append(value)
        else:
            names = ", ".join(sorted(declared | set(PAGING_PARAMS)))
            raise BadRequest(f"Paramètre de recherche « {name[:40]} » non pris en charge pour {rt.name} "
                             f"(acceptés : {names}).")
    try:
        count = rules.parse_count(single.get("_count"))
        sort = rules.parse_sort(single.get("_sort"), rt.sorts, rt.default_sort)
        after = rules.decode_cursor(single["_cursor"]) if "_cursor" in single else None
    except rules.SearchProblem as exc:
        raise BadRequest(str(exc)) from exc
    if after is not None and after.get("s") != ("-" if sort.descending else "") + sort.key:
        raise BadRequest("Curseur de pagination d'une autre recherche : repartez du premier lien.")
    return SearchQuery(params=params, count=count, sort=sort, after=after)


def search(call: Call, type_name: str, items: list[tuple[str, str]]) -> tuple[ResourceType, SearchQuery, Page]:
    rt = resource_type(type_name)
    if rt.search is None:
        raise ValidationFailed(f"La recherche n'est pas prise en charge pour {rt.name}.", status_code=405)
    check_allowed(call.actor, rt, "search")
    query = parse_search(rt, items)
    try:
        page = rt.search(call, query)
    except rules.SearchProblem as exc:
        raise BadRequest(str(exc)) from exc
    return rt, query, page
