"""Request counters shared by every serve process (the API rate limit of maillage.web.limits)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.db import Base


class RateWindow(Base):
    """Requests counted in one fixed one-minute window for one key (an address or an account), shared by every
    serve process through the database (maillage.web.limits)."""

    __tablename__ = "rate_window"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
