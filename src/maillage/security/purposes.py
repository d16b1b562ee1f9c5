"""Why patient data is accessed: recorded in every audit entry (audit) and named by every access check (authz)."""

from __future__ import annotations

from maillage.kit.enums import LabelledEnum


class Purpose(LabelledEnum):
    """The purpose of an access, with the label the audit pages show."""

    CARE = "care", "Soins"  # prise en charge directe
    TELEEXPERTISE = "teleexpertise", "Téléexpertise"
    TELECONSULTATION = "teleconsultation", "Téléconsultation"
    MONITORING = "monitoring", "Télésurveillance"
    PRESCRIPTION = "prescription", "Prescription"
    COORDINATION = "coordination", "Coordination"
    IDENTITY_VIGILANCE = "identity_vigilance", "Identitovigilance"
    BILLING = "billing", "Facturation"
    EMERGENCY = "emergency", "Accès d'urgence (bris de glace)"
