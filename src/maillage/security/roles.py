"""Professional roles and their French labels."""

from __future__ import annotations

from maillage.kit.enums import LabelledEnum


class Role(LabelledEnum):
    """Professional roles. Every role is a person of the directory acting for an establishment."""

    PHYSICIAN = "physician", "Médecin"
    MIDWIFE = "midwife", "Sage-femme"
    NURSE = "nurse", "Infirmier ou infirmière"
    COORDINATING_NURSE = "coordinating_nurse", "Infirmier ou infirmière de coordination"
    PHARMACIST = "pharmacist", "Pharmacien ou pharmacienne"
    BILLING_OFFICER = "billing_officer", "Agent de facturation"
    ANALYST = "analyst", "Analyste"
    IDENTITY_OFFICER = "identity_officer", "Référent identitovigilance"
    ADMINISTRATOR = "administrator", "Administrateur ou administratrice"
    DIRECTION = "direction", "Direction du GHT"
    PROGRAMME_MANAGER = "programme_manager", "Chef ou cheffe de programme"
