"""Routing at the cost of a dictionary, not of every route: each included router is skipped at once when the path
cannot be one of its routes.

FastAPI 0.165 keeps each ``include_router`` as one entry of the application's route list and matches a request by
asking each entry in turn; an entry answers by trying every route of its router against the path (one regular
expression each), and the entry that matched is asked again to dispatch. With about forty routers and several
hundred routes, finding ``/api/messaging/threads`` cost more than a millisecond of CPU per request under load, as
much as the route's own database work (docs/adr/0019-web-tier-connections-and-routing.md).

Every route's path starts with a literal part (``/api/messaging/threads/{thread_id}`` starts with
``/api/messaging/threads/``): a router none of whose literal parts begins the path cannot match it, so its
``matches`` answers "no" after one ``str.startswith`` over a tuple. A router with a route whose path starts with a
parameter, or whose routes cannot be listed, is left as it is. The order of the routers, hence which route wins
when several match, is unchanged: the guard only answers "no" where the router would have answered "no".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.routing import Match, get_route_path
from starlette.types import Scope

Matcher = Callable[[Scope], tuple[Match, Scope]]


def literal_prefixes(included: Any) -> tuple[str, ...] | None:
    """The literal beginnings of an included router's paths, or None when one of them has none (or they cannot be
    read): such a router must be asked every time."""
    try:
        contexts = [*included.effective_route_contexts(), *included.effective_low_priority_routes()]
    except AttributeError:
        return None
    prefixes: set[str] = set()
    for context in contexts:
        path = getattr(context, "path_format", None) or getattr(context.original_route, "path_format", None)
        if not isinstance(path, str):
            return None
        literal = path.split("{", 1)[0]
        if not literal:
            return None
        prefixes.add(literal)
    return tuple(sorted(prefixes)) if prefixes else None


def _guarded(matches: Matcher, prefixes: tuple[str, ...]) -> Matcher:
    def guarded_matches(scope: Scope) -> tuple[Match, Scope]:
        if not get_route_path(scope).startswith(prefixes):
            return Match.NONE, {}
        return matches(scope)

    return guarded_matches


def guard_included_routers(app: FastAPI) -> int:
    """Give each router included in ``app`` its quick refusal; returns how many were guarded. Called once, after the
    last ``include_router``."""
    guarded = 0
    for route in app.router.routes:
        if not hasattr(route, "original_router") or getattr(route, "maillage_guarded", False):
            continue
        prefixes = literal_prefixes(route)
        if prefixes is None:
            continue
        # An attribute of this entry, shadowing the class's method: the router itself, and any other inclusion of
        # it, are untouched.
        route.matches = _guarded(route.matches, prefixes)  # type: ignore[method-assign,assignment]
        route.maillage_guarded = True  # type: ignore[attr-defined]
        guarded += 1
    return guarded
