"""Pydantic out-models of the document API (uploads arrive as multipart, not JSON)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict


class DocumentRead(BaseModel):
    """What may be said of a document without its content."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    owner_type: str
    owner_id: str
    display_name: str
    title: str | None
    media_type: str
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    page_count: int | None
    purpose: str
    uploaded_by: uuid.UUID
    uploaded_at: dt.datetime
    type_code: str
    act_date: dt.date
    author_id: uuid.UUID
    source: str
    origin_type: str | None
    origin_id: str | None
    status: str
    series_id: uuid.UUID
    version: int
    replaces_id: uuid.UUID | None
    confidentiality: str
    legal_hold: bool
