"""What the FHIR door keeps of its own: the business identifiers clients give the resources they create.

A conditional create (``If-None-Exist: identifier=system|value``) must create one resource however many times, and
however concurrently, it is sent: the unique key on (type, system, value) is what makes the second sender find the
first one's resource instead of creating a twin. The resource itself lives in its capability's tables.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id


class FhirIdentifier(Base):
    __tablename__ = "fhir_identifier"
    __table_args__ = (UniqueConstraint("resource_type", "system", "value", name="uq_fhir_identifier_key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    resource_type: Mapped[str] = mapped_column(String(40))
    system: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)  # the account or service token that created it
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
