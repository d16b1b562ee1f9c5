"""Pydantic in/out models of the patient API, and the vocabulary of consents and identity documents.

The INS matricule appears in an outgoing model only when the identity is qualified (``matricule_shared``); below
that status the field is null and ``matricule_masked`` says why (DOMAIN §1.2, ``can_share_matricule``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from maillage.kit.dates import IsoDate
from maillage.kit.enums import LabelledEnum


class ConsentPurpose(LabelledEnum):
    """What a patient consents to, or objects to."""

    TELEEXPERTISE = "teleexpertise", "Téléexpertise"
    TELECONSULTATION = "teleconsultation", "Téléconsultation"
    TELESURVEILLANCE = "telesurveillance", "Télésurveillance"
    DATA_REUSE = "data_reuse", "Réutilisation des données (pilotage et recherche)"

    @property
    def opt_out(self) -> bool:
        """Reuse of data for steering and research runs unless the patient objects: a health data warehouse rests on
        public interest, with individual information and the right to object (GDPR art. 21; CNIL EDS référentiel,
        délibération 2021-118; DOMAIN §7.3). A telemedicine act needs the patient's free and informed consent
        (former CSP R6316-2; DOMAIN §4)."""
        return self is ConsentPurpose.DATA_REUSE


class ConsentDecision(LabelledEnum):
    CONSENT = "consent", "Consentement"
    OBJECTION = "objection", "Opposition"


class ConsentSource(LabelledEnum):
    ORAL = "oral", "Recueilli oralement"
    WRITTEN = "written", "Écrit signé"
    PATIENT_PORTAL = "patient_portal", "Exprimé par le patient en ligne"
    LEGAL_REPRESENTATIVE = "legal_representative", "Représentant légal"


class IdentityDocument(LabelledEnum):
    """High-trust identity documents of the RNIV (passport, identity card, residence permit; for a minor, the birth
    certificate or the family record book)."""

    PASSPORT = "passport", "Passeport"
    IDENTITY_CARD = "identity_card", "Carte nationale d'identité"
    RESIDENCE_PERMIT = "residence_permit", "Titre de séjour"
    BIRTH_CERTIFICATE = "birth_certificate", "Extrait d'acte de naissance (mineur)"
    FAMILY_RECORD_BOOK = "family_record_book", "Livret de famille (mineur)"


class TraitsIn(BaseModel):
    """The five strict traits as typed or read from INSi."""

    model_config = ConfigDict(extra="forbid")

    birth_name: str = Field(min_length=1, max_length=100)
    given_names: str = Field(min_length=1, max_length=200, description="Prénoms de naissance, séparés par des espaces")
    birth_date: IsoDate
    sex: str = Field(min_length=1, max_length=1, description="M ou F")
    birthplace: str = Field(min_length=5, max_length=5, description="Code INSEE (COG) du lieu de naissance")


class PatientCreate(TraitsIn):
    used_name: str | None = Field(default=None, max_length=100)
    used_given_name: str | None = Field(default=None, max_length=100)
    ins_matricule: str | None = Field(default=None, max_length=21)
    ins_oid: str | None = Field(default=None, max_length=40)
    insi_checked: bool = Field(default=False, description="Identité récupérée ou vérifiée par le téléservice INSi")
    identity_document: str | None = Field(default=None, description="Pièce à haut niveau de confiance contrôlée")
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=254)
    address_line: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=5)
    commune_insee: str | None = Field(default=None, max_length=5)
    attending_professional_id: uuid.UUID | None = None
    attending_rpps: str | None = Field(default=None, max_length=20)


class PatientUpdate(BaseModel):
    """What may change without touching the identity: used names, contact, residence, médecin traitant."""

    model_config = ConfigDict(extra="forbid")

    used_name: str | None = Field(default=None, max_length=100)
    used_given_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=254)
    address_line: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=5)
    commune_insee: str | None = Field(default=None, max_length=5)
    attending_professional_id: uuid.UUID | None = None
    attending_rpps: str | None = Field(default=None, max_length=20)


class AttachRequest(TraitsIn):
    """To join the record a refused creation matched: its five strict traits and the written reason of an
    exceptional access (time-limited, flagged, reviewed by the administrator)."""

    reason: str = Field(min_length=1, max_length=2000,
                        description="Pourquoi accéder à ce dossier sans acte de soins (revu par l'administrateur)")


class IdentityCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    insi_checked: bool = False
    ins_matricule: str | None = Field(default=None, max_length=21)
    ins_oid: str | None = Field(default=None, max_length=40)
    identity_document: str | None = None


class InsRead(BaseModel):
    oid: str
    oid_label: str
    system: str
    matricule: str | None = Field(description="Présent seulement pour une identité qualifiée")
    matricule_shared: bool
    matricule_masked: str | None


class PatientSummary(BaseModel):
    id: uuid.UUID
    birth_name: str
    used_name: str | None
    given_names: str
    birth_date: dt.date
    sex: str
    identity_status: str
    identity_status_label: str
    ins: InsRead | None


class PatientRead(PatientSummary):
    birthplace: str
    used_given_name: str | None
    identity_attributes: list[str]
    identity_document: str | None
    phone: str | None
    email: str | None
    address_line: str | None
    postcode: str | None
    commune_insee: str | None
    commune_name: str | None
    attending_professional_id: uuid.UUID | None
    attending_name: str | None
    merged_into_id: uuid.UUID | None
    remarks: list[str] = Field(default_factory=list)


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str
    decision: str
    source: str = "oral"


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    purpose: str
    decision: str
    source: str
    recorded_by: uuid.UUID | None
    recorded_at: dt.datetime


class ConsentState(BaseModel):
    purpose: str
    purpose_label: str
    decision: str | None
    label: str
    recorded_at: dt.datetime | None


class DuplicatePairRead(BaseModel):
    first: PatientSummary
    second: PatientSummary
    reason: str
    reason_label: str
    differing_traits: list[str]


class MergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kept_patient_id: uuid.UUID
    merged_patient_id: uuid.UUID
    reason: str = Field(min_length=5, max_length=2000)


class UnmergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=5, max_length=2000)


class DistinctPair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_patient_id: uuid.UUID
    second_patient_id: uuid.UUID


class MergeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kept_patient_id: uuid.UUID
    merged_patient_id: uuid.UUID
    reason: str
    merged_by: uuid.UUID | None
    merged_at: dt.datetime
    relationships_copied: int
    unmerged_at: dt.datetime | None
    unmerged_by: uuid.UUID | None
    unmerge_reason: str | None


class AllergyKind(LabelledEnum):
    """FHIR AllergyIntolerance.type."""

    ALLERGY = "allergy", "Allergie"
    INTOLERANCE = "intolerance", "Intolérance"


class AllergyCriticality(LabelledEnum):
    """FHIR AllergyIntolerance.criticality."""

    LOW = "low", "Faible"
    HIGH = "high", "Élevée"
    UNABLE_TO_ASSESS = "unable-to-assess", "Non évaluable"
