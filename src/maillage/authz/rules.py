"""Pure rules of authorization: purposes of access, relationship kinds, break-the-glass limits, parties to a
request."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

from maillage.kit.enums import LabelledEnum


class RelationshipKind(enum.StrEnum):
    """How a professional comes to care for a patient. Each is created by the workflow that implies it."""

    REQUESTER = "requester"            # requérant d'une téléexpertise
    EXPERT = "expert"                  # requis assigné
    CARE_TEAM = "care_team"            # équipe de télésurveillance
    PARTICIPANT = "participant"        # participant d'une téléconsultation
    PRESCRIBER = "prescriber"
    DISPENSER = "dispenser"            # pharmacien dispensateur
    CARE_UNIT = "care_unit"            # membre de l'unité de soins, si l'établissement l'autorise
    ATTENDING = "attending"            # médecin traitant, référent


class BreakGlassGround(LabelledEnum):
    """Why an access without a care relationship was opened (both kinds expire and are reviewed)."""

    EMERGENCY = "emergency", "Urgence"  # bris de glace
    IDENTITY_ATTACH = "identity_attach", "Rattachement à une identité existante"  # sans acte de soins


def break_glass_reason_problems(reason: str, min_chars: int) -> list[str]:
    """A break-the-glass reason must say why, in words a reviewer can judge (not "urgence")."""
    text = " ".join(reason.split())
    problems = []
    if len(text) < min_chars:
        problems.append(f"Le motif doit expliquer l'urgence en au moins {min_chars} caractères.")
    if len(text) > 2000:
        problems.append("Le motif ne doit pas dépasser 2 000 caractères.")
    if len(set(text.lower().replace(" ", ""))) < 5:
        problems.append("Le motif doit être rédigé.")
    return problems


@dataclass(frozen=True)
class RequestParties:
    """Who takes part in a request between professionals (a tele-expertise request), as the access rule needs it.

    ``line_staff`` gives the professionals of the request's line (answering or on-call backup); it is called only
    when the actor is none of the named parties, so a party's access costs no query.
    """

    patient_id: uuid.UUID
    draft: bool
    requester_id: uuid.UUID
    assignee_id: uuid.UUID | None
    named_expert_id: uuid.UUID | None
    line_staff: Callable[[], Collection[uuid.UUID]]


def is_request_party(user_id: uuid.UUID, parties: RequestParties) -> bool:
    """A draft is its author's alone until it is sent; a sent request is its requester's, its specialist's (assignee
    or named), and its line's staff, who work the line's pool."""
    if parties.draft:
        return user_id == parties.requester_id
    if user_id in (parties.requester_id, parties.assignee_id, parties.named_expert_id):
        return True
    return user_id in parties.line_staff()
