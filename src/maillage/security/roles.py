"""Professional roles and their French labels."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """Professional roles. Every role is a person of the directory acting for an establishment."""

    PHYSICIAN = "physician"
    MIDWIFE = "midwife"
    NURSE = "nurse"
    COORDINATING_NURSE = "coordinating_nurse"
    PHARMACIST = "pharmacist"
    BILLING_OFFICER = "billing_officer"
    ANALYST = "analyst"
    IDENTITY_OFFICER = "identity_officer"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.PHYSICIAN: "Médecin",
    Role.MIDWIFE: "Sage-femme",
    Role.NURSE: "Infirmier ou infirmière",
    Role.COORDINATING_NURSE: "Infirmier ou infirmière de coordination",
    Role.PHARMACIST: "Pharmacien ou pharmacienne",
    Role.BILLING_OFFICER: "Agent de facturation",
    Role.ANALYST: "Analyste",
    Role.IDENTITY_OFFICER: "Référent identitovigilance",
    Role.ADMINISTRATOR: "Administrateur ou administratrice",
}
