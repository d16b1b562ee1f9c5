"""Pydantic in/out models of the directory API and of the public offer catalogue."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field


class SpecialtyRead(BaseModel):
    code: str = Field(description="Code TRE_R38-SpecialiteOrdinale (ANS)")
    label: str
    system: str


class GhtRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    departement: str


class EstablishmentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: str
    kind_label: str
    ght_role: str | None
    ght_role_label: str | None
    finess_et: str | None
    commune_insee: str | None
    commune_name: str | None


class CareUnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    specialty_code: str | None
    phone: str | None


class EstablishmentRead(EstablishmentSummary):
    ght_id: uuid.UUID | None
    finess_ej: str | None
    siret: str | None
    category_code: str | None
    public: bool
    parent_id: uuid.UUID | None
    address_line: str | None
    postcode: str | None
    latitude: float | None
    longitude: float | None
    phone: str | None
    mssante: str | None
    source: str
    units: list[CareUnitRead] = Field(default_factory=list)


class EstablishmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=200)
    kind: str = Field(description="hospital, ehpad, usmp, city_practice, health_centre ou pharmacy")
    finess_et: str | None = Field(default=None, max_length=12)
    finess_ej: str | None = Field(default=None, max_length=12)
    public: bool = False
    ght_id: uuid.UUID | None = None
    ght_role: str | None = Field(default=None, description="support, member ou partner")
    parent_id: uuid.UUID | None = None
    address_line: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=5)
    commune_insee: str | None = Field(default=None, max_length=5)
    phone: str | None = Field(default=None, max_length=30)
    mssante: str | None = Field(default=None, max_length=254)


class RoleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    establishment_id: uuid.UUID | None
    establishment_name: str | None
    care_unit_id: uuid.UUID | None
    care_unit_name: str | None
    function_label: str | None
    practice_mode: str | None
    site_name: str | None
    site_commune_insee: str | None
    is_primary: bool


class ProfessionalSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str
    rpps: str | None
    adeli: str | None
    national_id: str = Field(description="IdNat_PS : 8 + RPPS ou 0 + ADELI (dérivé, jamais saisi)")
    profession_code: str
    profession_label: str
    specialty_code: str | None
    specialty_label: str | None


class ProfessionalRead(ProfessionalSummary):
    civility: str | None
    last_name: str
    first_name: str | None
    identifier_warnings: list[str]
    mssante: str | None
    phone: str | None
    source: str
    roles: list[RoleRead] = Field(default_factory=list)
    line_ids: list[uuid.UUID] = Field(default_factory=list)


class ProfessionalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rpps: str | None = Field(default=None, max_length=20)
    adeli: str | None = Field(default=None, max_length=20)
    civility: str | None = Field(default=None, max_length=8)
    last_name: str = Field(min_length=1, max_length=100)
    first_name: str | None = Field(default=None, max_length=100)
    profession_code: str = Field(min_length=2, max_length=4, description="Code TRE_G15-ProfessionSante")
    specialty_code: str | None = Field(default=None, max_length=8, description="Code TRE_R38")
    mssante: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=30)
    establishment_id: uuid.UUID | None = None
    care_unit_id: uuid.UUID | None = None
    function_label: str | None = Field(default=None, max_length=100)


class CommitmentRead(BaseModel):
    urgency: str
    urgency_label: str
    response_minutes: int
    response_label: str


class LineMemberRead(BaseModel):
    professional_id: uuid.UUID
    display_name: str
    role: str
    role_label: str


class SpecialtyLineRead(BaseModel):
    id: uuid.UUID
    specialty_code: str
    specialty_label: str
    specialty_system: str
    title: str
    summary: str
    establishment_id: uuid.UUID
    establishment_name: str
    care_unit_id: uuid.UUID | None
    care_unit_name: str | None
    modalities: list[str]
    audiences: list[str]
    audience_labels: list[str]
    requirements: list[str]
    requirement_labels: list[str]
    min_photos: int
    opening_hours: str
    how_to_request: str
    phone: str | None
    on_call_phone: str | None
    commitments: list[CommitmentRead]
    members: list[LineMemberRead] = Field(default_factory=list)
    published: bool


class PublicLineRead(BaseModel):
    """A line as the public catalogue shows it: no names of professionals, no internal phone numbers."""

    id: uuid.UUID
    specialty_code: str
    specialty_label: str
    title: str
    summary: str
    establishment_name: str
    commune_name: str | None
    modalities: list[str]
    audiences: list[str]
    requirements: list[str]
    opening_hours: str
    how_to_request: str
    phone: str | None
    commitments: list[CommitmentRead]


class PublicCatalogue(BaseModel):
    ght: list[GhtRead]
    lines: list[PublicLineRead]
    generated_at: dt.datetime


class SpecialtyLineWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    establishment_id: uuid.UUID
    care_unit_id: uuid.UUID | None = None
    specialty_code: str = Field(min_length=2, max_length=8, description="Code TRE_R38")
    title: str = Field(min_length=3, max_length=200)
    summary: str = Field(default="", max_length=4000)
    teleexpertise: bool = True
    teleconsultation: bool = False
    accepts_city: bool = True
    accepts_ehpad: bool = True
    accepts_usmp: bool = True
    accepts_ght_hospitals: bool = True
    requirements: list[str] = Field(default_factory=list, max_length=10)
    min_photos: int = Field(default=0, ge=0, le=20)
    opening_hours: str = Field(default="", max_length=200)
    how_to_request: str = Field(default="", max_length=4000)
    phone: str | None = Field(default=None, max_length=30)
    on_call_phone: str | None = Field(default=None, max_length=30)
    commitments: dict[str, int] = Field(
        default_factory=dict, description="Délai de réponse en minutes par urgence (routine, urgent, very_urgent)"
    )
    answering: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    backups: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    published: bool = True


class ImportIssueRead(BaseModel):
    line: int
    field: str
    message: str


class ImportResult(BaseModel):
    source: str
    accepted: bool
    summary: str
    lines_read: int
    valid: int
    invalid: int
    skipped: int
    created: int
    updated: int
    unchanged: int
    ignored: int
    errors: list[ImportIssueRead]
    warnings: list[ImportIssueRead]
