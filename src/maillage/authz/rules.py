"""Pure rules of authorization: purposes of access, relationship kinds, break-the-glass limits."""

from __future__ import annotations

import enum


class Purpose(enum.StrEnum):
    """Why patient data is accessed (recorded in every audit entry)."""

    CARE = "care"                      # soins : prise en charge directe
    TELEEXPERTISE = "teleexpertise"
    TELECONSULTATION = "teleconsultation"
    MONITORING = "monitoring"
    PRESCRIPTION = "prescription"
    COORDINATION = "coordination"
    IDENTITY_VIGILANCE = "identity_vigilance"
    BILLING = "billing"
    EMERGENCY = "emergency"            # bris de glace


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


class BreakGlassGround(enum.StrEnum):
    """Why an access without a care relationship was opened (both kinds expire and are reviewed)."""

    EMERGENCY = "emergency"              # bris de glace : urgence
    IDENTITY_ATTACH = "identity_attach"  # rattachement à une identité déjà connue, sans acte de soins


BREAK_GLASS_GROUND_LABELS = {
    BreakGlassGround.EMERGENCY: "Urgence",
    BreakGlassGround.IDENTITY_ATTACH: "Rattachement à une identité existante",
}


PURPOSE_LABELS = {
    Purpose.CARE: "Soins", Purpose.TELEEXPERTISE: "Téléexpertise", Purpose.TELECONSULTATION: "Téléconsultation",
    Purpose.MONITORING: "Télésurveillance", Purpose.PRESCRIPTION: "Prescription",
    Purpose.COORDINATION: "Coordination", Purpose.IDENTITY_VIGILANCE: "Identitovigilance",
    Purpose.BILLING: "Facturation", Purpose.EMERGENCY: "Accès d'urgence (bris de glace)",
}


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
