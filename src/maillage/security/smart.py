"""SMART App Launch v2 scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html), pure.

``<context>/<resource>.<permissions>``: context ``patient``, ``user`` or ``system``; resource a FHIR type or ``*``;
permissions a subset of ``cruds`` in that order. The v1 forms ``.read``, ``.write`` and ``.*`` are read as ``rs``,
``cud`` and ``cruds``. Here, below auth, so that a token is checked when it is issued; the FHIR door
(``maillage.fhir.rules``) applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CONTEXTS = ("patient", "user", "system")
PERMISSION_LETTERS = "cruds"
INTERACTION_LETTER = {"read": "r", "vread": "r", "search": "s", "create": "c", "update": "u", "delete": "d"}
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Z][A-Za-z]{1,63}|\*)\.([a-z*]{1,5})$")
# Scopes of OpenID Connect and of the launch, which say nothing about FHIR resources: accepted and ignored.
NON_RESOURCE_SCOPES = frozenset({"openid", "fhirUser", "profile", "offline_access", "online_access",
                                 "launch", "launch/patient", "launch/encounter"})


class ScopeProblem(ValueError):
    """A scope that is not a SMART v2 resource scope this server accepts; the message is French."""


@dataclass(frozen=True)
class SmartScope:
    context: str  # patient | user | system
    resource: str  # a resource type, or "*"
    permissions: frozenset[str]  # letters of "cruds"

    def __str__(self) -> str:
        letters = "".join(c for c in PERMISSION_LETTERS if c in self.permissions)
        return f"{self.context}/{self.resource}.{letters}"


def looks_like_smart_scope(text: str) -> bool:
    """Whether a token scope is meant as a SMART scope (``context/...``) rather than a Maillage permission."""
    return text.split("/", 1)[0] in CONTEXTS and "/" in text


def parse_scope(text: str) -> SmartScope:
    """Parse one SMART resource scope (v2, or the v1 ``read``/``write``/``*`` forms). Finer scopes with a query
    (``patient/Observation.rs?category=...``) are refused: this server does not narrow by search parameters."""
    if "?" in text:
        raise ScopeProblem(f"Portée « {text[:80]} » : les restrictions par paramètre de recherche ne sont pas prises "
                           "en charge.")
    match = _SCOPE.match(text)
    if match is None:
        raise ScopeProblem(f"Portée « {text[:80]} » illisible : attendu contexte/Ressource.permissions, par exemple "
                           "user/Observation.rs.")
    context, resource, perms = match.groups()
    if perms in _V1:
        letters = _V1[perms]
    else:
        position = [PERMISSION_LETTERS.find(c) for c in perms]
        if -1 in position or position != sorted(set(position)):
            raise ScopeProblem(f"Portée « {text[:80]} » : les permissions sont des lettres de « cruds », dans cet "
                               "ordre, sans répétition.")
        letters = perms
    return SmartScope(context, resource, frozenset(letters))


def smart_scopes(scopes: frozenset[str] | set[str] | list[str]) -> list[SmartScope]:
    """The SMART resource scopes among a token's scopes (Maillage permissions and OpenID scopes left aside)."""
    return [parse_scope(s) for s in sorted(scopes) if looks_like_smart_scope(s) and s not in NON_RESOURCE_SCOPES]


def scope_allows(scopes: list[SmartScope], resource: str, interaction: str, *, contexts: tuple[str, ...]) -> bool:
    """Whether one of ``scopes`` (of a context in ``contexts``) grants ``interaction`` on ``resource``."""
    letter = INTERACTION_LETTER[interaction]
    return any(s.context in contexts and s.resource in (resource, "*") and letter in s.permissions for s in scopes)


def contexts_for(auth_method: str) -> tuple[str, ...]:
    """Which scope contexts count for a caller. A person's token acts as that person (``user``; ``patient`` is
    held to the same care relationships, there being no launch context); a service token acts as a system
    (``system``). A scope of the other kind grants nothing."""
    return ("system",) if auth_method == "service_token" else ("user", "patient")


LETTER_LABELS = {"c": "création", "r": "lecture", "u": "modification", "d": "suppression", "s": "recherche"}


def describe(text: str) -> str | None:
    """A SMART scope in French, for the account page (None when ``text`` is not a SMART resource scope)."""
    if not looks_like_smart_scope(text) or text in NON_RESOURCE_SCOPES:
        return None
    try:
        scope = parse_scope(text)
    except ScopeProblem:
        return None
    verbs = ", ".join(LETTER_LABELS[c] for c in PERMISSION_LETTERS if c in scope.permissions)
    what = "toutes les ressources" if scope.resource == "*" else f"ressources {scope.resource}"
    return f"Interface FHIR : {verbs} ({what})"
