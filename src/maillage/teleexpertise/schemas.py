"""Inputs and outputs of the tele-expertise API."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from maillage.kit.dates import IsoDateTime


class RequestCreate(BaseModel):
    """A draft request to a specialty line (optionally to one of its specialists)."""

    patient_id: uuid.UUID
    line_id: uuid.UUID
    urgency: str = Field("routine", description="routine, urgent ou very_urgent (selon les délais de la ligne)")
    question: str = Field("", max_length=8000)
    clinical_context: str = Field("", max_length=20000)
    provided: list[str] = Field(default_factory=list, max_length=10,
                                description="Éléments joints déclarés : ecg, treatment_list, lab_results…")
    named_professional_id: uuid.UUID | None = Field(None, description="Spécialiste nommé de la ligne, sinon la file")
    patient_inpatient: bool = Field(False, description="Patient hospitalisé (acte non facturable en téléexpertise)")


class SubmitIn(BaseModel):
    consent_recorded_now: bool = Field(
        False, description="Le requérant atteste avoir recueilli le consentement du patient à l'instant")


class ReasonIn(BaseModel):
    reason: str = Field(..., max_length=2000)


class TransferIn(BaseModel):
    to_professional_id: uuid.UUID
    reason: str = Field(..., max_length=2000)


class AssignIn(BaseModel):
    to_professional_id: uuid.UUID


class MessageIn(BaseModel):
    body: str = Field(..., max_length=8000)


class OpinionIn(BaseModel):
    answer: str = Field(..., max_length=20000)
    orientation: str
    act: str | None = Field(None, max_length=200)
    delay_days: int | None = None


class AdmissionUpdate(BaseModel):
    status: str
    planned_at: IsoDateTime | None = None
    reason: str | None = Field(None, max_length=2000)


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    from_status: str | None
    to_status: str | None
    actor_id: uuid.UUID | None
    target_user_id: uuid.UUID | None
    reason: str | None
    at: dt.datetime


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    author_id: uuid.UUID
    body: str
    created_at: dt.datetime
    answered_at: dt.datetime | None


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str
    media_type: str
    size_bytes: int


class AdmissionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    orientation: str
    status: str
    establishment_id: uuid.UUID
    planned_at: dt.datetime | None
    reason: str | None


class ActRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    act_date: dt.date
    amount: Decimal
    billable: bool
    reason: str
    professional_user_id: uuid.UUID


class RequestSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    line_id: uuid.UUID
    status: str
    fhir_status: str
    fhir_status_reason: str | None
    urgency: str
    requester_id: uuid.UUID
    assignee_id: uuid.UUID | None
    named_expert_id: uuid.UUID | None
    submitted_at: dt.datetime | None
    due_at: dt.datetime | None
    overdue: bool


class RequestRead(RequestSummary):
    question: str
    clinical_context: str
    provided: list[str]
    patient_inpatient: bool
    answer: str | None
    orientation: str | None
    act: str | None
    delay_days: int | None
    signed_by: uuid.UUID | None
    signed_at: dt.datetime | None
    closing_reason: str | None
    messages: list[MessageRead]
    timeline: list[EventRead]
    attachments: list[AttachmentRead]
    admission: AdmissionRead | None
    acts: list[ActRead]
