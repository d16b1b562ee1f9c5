"""Who may do what, by role: one readable table. Care relationships decide *whose* data; this decides *what*."""

from __future__ import annotations

import enum

from maillage.security import smart
from maillage.security.roles import Role


class Permission(enum.StrEnum):
    PATIENT_READ = "patient.read"
    PATIENT_WRITE = "patient.write"
    IDENTITY_MERGE = "identity.merge"
    TELEEXPERTISE_REQUEST = "teleexpertise.request"
    TELEEXPERTISE_ANSWER = "teleexpertise.answer"
    TELEEXPERTISE_COORDINATE = "teleexpertise.coordinate"
    TELECONSULTATION_RUN = "teleconsultation.run"
    MONITORING_TRIAGE = "monitoring.triage"
    MONITORING_ENROL = "monitoring.enrol"
    PRESCRIPTION_WRITE = "prescription.write"
    PRESCRIPTION_DISPENSE = "prescription.dispense"
    BILLING_EXPORT = "billing.export"
    ANALYTICS_READ = "analytics.read"
    PROGRAMME_READ = "programme.read"
    PROGRAMME_EDIT = "programme.edit"
    DIRECTORY_READ = "directory.read"
    DIRECTORY_ADMIN = "directory.admin"
    BREAK_GLASS = "break_glass.use"
    AUDIT_READ = "audit.read"
    USERS_ADMIN = "users.admin"
    KEYS_ADMIN = "keys.admin"


P = Permission
CLINICAL_READ = {P.PATIENT_READ, P.DIRECTORY_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PHYSICIAN: frozenset(CLINICAL_READ | {
        P.PATIENT_WRITE, P.TELEEXPERTISE_REQUEST, P.TELEEXPERTISE_ANSWER, P.TELEEXPERTISE_COORDINATE,
        P.TELECONSULTATION_RUN, P.MONITORING_TRIAGE, P.MONITORING_ENROL, P.PRESCRIPTION_WRITE, P.BREAK_GLASS,
    }),
    Role.MIDWIFE: frozenset(CLINICAL_READ | {
        P.PATIENT_WRITE, P.TELEEXPERTISE_REQUEST, P.TELECONSULTATION_RUN, P.PRESCRIPTION_WRITE, P.BREAK_GLASS,
    }),
    Role.NURSE: frozenset(CLINICAL_READ | {
        P.PATIENT_WRITE, P.TELEEXPERTISE_REQUEST, P.TELECONSULTATION_RUN, P.MONITORING_TRIAGE,
    }),
    Role.COORDINATING_NURSE: frozenset(CLINICAL_READ | {
        P.PATIENT_WRITE, P.TELEEXPERTISE_REQUEST, P.MONITORING_TRIAGE, P.MONITORING_ENROL, P.BREAK_GLASS,
    }),
    Role.PHARMACIST: frozenset(CLINICAL_READ | {P.PRESCRIPTION_DISPENSE, P.TELEEXPERTISE_REQUEST}),
    Role.BILLING_OFFICER: frozenset({P.BILLING_EXPORT, P.DIRECTORY_READ}),
    Role.ANALYST: frozenset({P.ANALYTICS_READ, P.PROGRAMME_READ, P.DIRECTORY_READ}),
    Role.DIRECTION: frozenset({P.ANALYTICS_READ, P.PROGRAMME_READ, P.DIRECTORY_READ}),
    Role.PROGRAMME_MANAGER: frozenset({P.ANALYTICS_READ, P.PROGRAMME_READ, P.PROGRAMME_EDIT, P.DIRECTORY_READ}),
    Role.IDENTITY_OFFICER: frozenset(CLINICAL_READ | {P.IDENTITY_MERGE, P.PATIENT_WRITE}),
    Role.ADMINISTRATOR: frozenset({
        P.DIRECTORY_READ, P.DIRECTORY_ADMIN, P.AUDIT_READ, P.USERS_ADMIN, P.KEYS_ADMIN,
    }),
}


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


# What each permission lets one do, in French: the account page describes a token's scopes with these.
PERMISSION_LABELS: dict[Permission, str] = {
    P.PATIENT_READ: "Consulter les dossiers des patients suivis",
    P.PATIENT_WRITE: "Créer et modifier les dossiers des patients",
    P.IDENTITY_MERGE: "Fusionner des identités de patients (identitovigilance)",
    P.TELEEXPERTISE_REQUEST: "Demander une téléexpertise",
    P.TELEEXPERTISE_ANSWER: "Répondre aux demandes de téléexpertise",
    P.TELEEXPERTISE_COORDINATE: "Coordonner une ligne de téléexpertise",
    P.TELECONSULTATION_RUN: "Mener une téléconsultation",
    P.MONITORING_TRIAGE: "Traiter les alertes de télésurveillance",
    P.MONITORING_ENROL: "Inclure des patients en télésurveillance",
    P.PRESCRIPTION_WRITE: "Prescrire",
    P.PRESCRIPTION_DISPENSE: "Délivrer des prescriptions",
    P.BILLING_EXPORT: "Exporter la facturation",
    P.ANALYTICS_READ: "Consulter les indicateurs du territoire",
    P.PROGRAMME_READ: "Consulter le programme numérique et son évaluation",
    P.PROGRAMME_EDIT: "Modifier le programme numérique (projets, budgets, cibles)",
    P.DIRECTORY_READ: "Consulter l'annuaire",
    P.DIRECTORY_ADMIN: "Administrer l'annuaire",
    P.BREAK_GLASS: "Accéder en urgence à un dossier (bris de glace)",
    P.AUDIT_READ: "Consulter les traces d'accès",
    P.USERS_ADMIN: "Administrer les comptes",
    P.KEYS_ADMIN: "Administrer les clés de chiffrement",
}


def permission_label(value: str) -> str:
    """The French description of a permission (a token scope); an unknown value is returned as is."""
    try:
        return PERMISSION_LABELS[Permission(value)]
    except ValueError:
        return smart.describe(value) or value
