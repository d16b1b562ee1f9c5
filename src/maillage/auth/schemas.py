"""Pydantic in/out models of the auth API."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field


class MeRead(BaseModel):
    user_id: uuid.UUID
    username: str
    display_name: str
    role: str
    role_label: str
    establishment_ids: list[uuid.UUID]
    auth_method: str
    scopes: list[str]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    expires_in_days: int = Field(default=90, ge=1, le=3650)


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenIssued(BaseModel):
    id: uuid.UUID
    token: str = Field(description="Le secret, affiché une seule fois.")
    scopes: list[str]
    expires_at: dt.datetime
