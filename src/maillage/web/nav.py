"""Navigation by role.

Each capability adds its entries here; the base layout shows those the actor's role allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    roles: frozenset[str] | None = None  # None: everyone signed in; empty frozenset: public


NAV: list[NavItem] = [
    NavItem("Accueil", "/", frozenset()),
    NavItem("Offre de télémédecine", "/offre", frozenset()),
    NavItem("Patients", "/patients", frozenset({"physician", "midwife", "nurse", "coordinating_nurse", "pharmacist"})),
    NavItem("Annuaire", "/annuaire", None),
    NavItem("Téléexpertise", "/teleexpertise", frozenset({"physician", "midwife", "nurse", "coordinating_nurse",
                                                          "pharmacist"})),
    NavItem("Téléconsultation", "/teleconsultation", frozenset({"physician", "midwife", "nurse"})),
    NavItem("Télésurveillance", "/telesurveillance", frozenset({"physician", "nurse", "coordinating_nurse"})),
    NavItem("Messagerie", "/messagerie", frozenset({"physician", "midwife", "nurse", "coordinating_nurse",
                                                    "pharmacist"})),
    NavItem("Officine", "/officine", frozenset({"pharmacist"})),
    NavItem("Identitovigilance", "/identitovigilance", frozenset({"identity_officer"})),
    NavItem("Réception MSSanté", "/mssante/reception", frozenset({"identity_officer"})),
    NavItem("Import de l'annuaire", "/admin/annuaire/import", frozenset({"administrator"})),
    NavItem("Traces d'accès", "/admin/audit", frozenset({"administrator"})),
    NavItem("Comptes", "/admin/comptes", frozenset({"administrator"})),
    NavItem("Facturation", "/facturation", frozenset({"billing_officer"})),
    NavItem("Pilotage", "/pilotage", frozenset({"analyst", "direction", "programme_manager"})),
    NavItem("Programme", "/programme", frozenset({"analyst", "direction", "programme_manager"})),
    NavItem("Mon compte", "/compte", None),
]


def items_for(role: str | None, signed_in: bool) -> list[NavItem]:
    """The entries a visitor (not signed in) or a signed-in role sees: public ones, then everyone's, then its own.
    Only capabilities with pages are listed."""
    items = []
    for item in NAV:
        public = item.roles is not None and len(item.roles) == 0
        allowed = signed_in and (item.roles is None or role in item.roles)
        if public or allowed:
            items.append(item)
    return items


def nav_items(request: Request) -> list[NavItem]:
    actor: Any = getattr(request.state, "actor", None)
    return items_for(getattr(actor, "role", None), actor is not None)
