"""The room's quality figures: each browser samples its peer connection's ``getStats`` (round-trip time, packet
loss, jitter, the received video's resolution) every few seconds and sends the figures over the signalling socket
(message ``stats``); the server keeps them with the appointment, bounded, and the practitioner's appointment page
shows a summary once the consultation is over. Figures only: nothing of the media is recorded.

Bounds: a sample is kept only while the appointment is in consultation, at most one every ``MIN_INTERVAL`` per
participant role, and at most ``MAX_SAMPLES`` per appointment (beyond, the series stops growing: its first hours
are kept). A figure outside its plausible range is dropped, the rest of the sample kept.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from maillage.kit.clock import now
from maillage.models.teleconsultation import TeleconsultationQualitySample
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Status

MAX_SAMPLES = 1440  # two hours at one sample every 5 s from two participants
MIN_INTERVAL = dt.timedelta(seconds=2)
ROLES = ("practitioner", "patient", "guest")
# The plausible range of each figure: (low, high).
BOUNDS: dict[str, tuple[float, float]] = {"rtt_ms": (0, 60_000), "loss_pct": (0, 100), "jitter_ms": (0, 60_000),
                                          "width": (1, 8192), "height": (1, 8192)}


@dataclass(frozen=True)
class Sample:
    rtt_ms: float | None = None
    loss_pct: float | None = None
    jitter_ms: float | None = None
    width: int | None = None
    height: int | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.rtt_ms, self.loss_pct, self.jitter_ms, self.width, self.height))


def parse(data: dict[str, Any]) -> Sample | None:
    """The figures of a ``stats`` message that are numbers within their range; None if none is."""
    kept: dict[str, Any] = {}
    for name, (low, high) in BOUNDS.items():
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if low <= value <= high:
            kept[name] = int(value) if name in ("width", "height") else round(float(value), 2)
    sample = Sample(**kept)
    return None if sample.empty else sample


def keep(session: Session, appointment_id: uuid.UUID, role: str, sample: Sample,
         at: dt.datetime | None = None) -> bool:
    """Keep a sample of the room if the bounds allow it (see the module); whether it was kept."""
    at = at or now()
    appt = repo.appointment(session, appointment_id)
    if appt is None or appt.status != Status.IN_CONSULTATION or role not in ROLES:
        return False
    last = repo.last_quality_at(session, appointment_id, role)
    if last is not None and at - last < MIN_INTERVAL:
        return False
    if repo.quality_count(session, appointment_id) >= MAX_SAMPLES:
        return False
    session.add(TeleconsultationQualitySample(appointment_id=appointment_id, role=role, at=at, rtt_ms=sample.rtt_ms,
                                              loss_pct=sample.loss_pct, jitter_ms=sample.jitter_ms,
                                              width=sample.width, height=sample.height))
    session.flush()
    return True


def keep_in_own_transaction(sessions: sessionmaker[Session], appointment_id: uuid.UUID, role: str,
                            sample: Sample) -> bool:
    """``keep`` from the signalling socket: its own unit of work (blocking: run it in a thread)."""
    with sessions() as db:
        kept = keep(db, appointment_id, role, sample)
        db.commit()
        return kept


@dataclass(frozen=True)
class Summary:
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    rtt_median: float | None
    rtt_p95: float | None
    loss_mean: float | None
    loss_max: float | None
    jitter_median: float | None
    resolution: str | None  # the most frequent received resolution, "1280 × 720"


def _quantile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank quantile (the smallest value with at least q of the values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarise(samples: Sequence[TeleconsultationQualitySample]) -> Summary | None:
    if not samples:
        return None
    rtt = [s.rtt_ms for s in samples if s.rtt_ms is not None]
    loss = [s.loss_pct for s in samples if s.loss_pct is not None]
    jitter = [s.jitter_ms for s in samples if s.jitter_ms is not None]
    sizes = Counter((s.width, s.height) for s in samples if s.width and s.height)
    # Most frequent; a tie goes to the larger picture, so the summary does not depend on the rows' order.
    size = max(sizes.items(), key=lambda kv: (kv[1], kv[0][0] * kv[0][1], kv[0]))[0] if sizes else None
    return Summary(count=len(samples), first_at=min(s.at for s in samples), last_at=max(s.at for s in samples),
                   rtt_median=_quantile(rtt, 0.5), rtt_p95=_quantile(rtt, 0.95),
                   loss_mean=round(sum(loss) / len(loss), 2) if loss else None, loss_max=max(loss) if loss else None,
                   jitter_median=_quantile(jitter, 0.5),
                   resolution=f"{size[0]} × {size[1]}" if size else None)


def summary_of(session: Session, appointment_id: uuid.UUID) -> Summary | None:
    """The summary of an appointment's samples (the caller has checked who reads it)."""
    return summarise(repo.quality_samples(session, appointment_id))
