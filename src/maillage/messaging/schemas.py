"""Inputs and outputs of the messaging API (``/api/messaging``)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from maillage.kit.dates import IsoDateTime
from maillage.messaging import rules
from maillage.messaging.rules import TeamKind


class TeamRef(BaseModel):
    kind: TeamKind = Field(..., description="line (ligne de spécialité), care_unit (unité de soins) ou nursing_team "
                                            "(équipe soignante d'un établissement)")
    id: uuid.UUID


class ThreadCreate(BaseModel):
    subject: str = Field(..., max_length=rules.MAX_SUBJECT_CHARS)
    body: str = Field(..., max_length=rules.MAX_BODY_CHARS, description="Premier message")
    people: list[uuid.UUID] = Field(default_factory=list, max_length=rules.MAX_PARTICIPANTS,
                                    description="Comptes des professionnels destinataires")
    teams: list[TeamRef] = Field(default_factory=list, max_length=rules.MAX_PARTICIPANTS,
                                 description="Boîtes d'équipe destinataires")
    patient_id: uuid.UUID | None = Field(None, description="Patient dont parle la conversation (que vous suivez)")
    reason: str | None = Field(None, max_length=rules.MAX_REASON_CHARS,
                               description="Pourquoi les destinataires doivent voir ce patient (obligatoire avec "
                                           "un patient)")


class MessageIn(BaseModel):
    body: str = Field(..., max_length=rules.MAX_BODY_CHARS)


class ParticipantIn(BaseModel):
    user_id: uuid.UUID | None = None
    team: TeamRef | None = None
    reason: str | None = Field(None, max_length=rules.MAX_REASON_CHARS)


class ParticipantRead(BaseModel):
    id: uuid.UUID
    name: str
    is_team: bool
    user_id: uuid.UUID | None
    team_kind: str | None
    team_id: uuid.UUID | None
    added_at: IsoDateTime
    access_ends_at: IsoDateTime | None


class RevisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    body: str
    replaced_at: IsoDateTime


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    message_id: uuid.UUID
    display_name: str
    media_type: str
    size_bytes: int
    width: int | None
    height: int | None
    page_count: int | None
    created_at: IsoDateTime
    filed_document_id: uuid.UUID | None
    filed_at: IsoDateTime | None


class MessageRead(BaseModel):
    id: uuid.UUID
    thread_id: uuid.UUID
    seq: int
    author_id: uuid.UUID
    author: str
    body: str
    created_at: IsoDateTime
    edited_at: IsoDateTime | None
    withdrawn_at: IsoDateTime | None
    revisions: list[RevisionRead] = Field(default_factory=list)
    attachments: list[AttachmentRead] = Field(default_factory=list)
    read_by: list[str] = Field(default_factory=list, description="Qui l'a lu (hors son auteur)")


class ThreadSummary(BaseModel):
    id: uuid.UUID
    kind: str
    subject: str
    patient_id: uuid.UUID | None
    patient: str | None = Field(None, description="Nom du patient, si vous pouvez le voir")
    participants: list[str]
    last_message_at: IsoDateTime
    unread: int


class ThreadRead(BaseModel):
    id: uuid.UUID
    kind: str
    subject: str
    patient_id: uuid.UUID | None
    created_at: IsoDateTime
    last_message_at: IsoDateTime
    participants: list[ParticipantRead]
    messages: list[MessageRead]


class UnreadRead(BaseModel):
    unread: int
