"""The coordinator's board: per line and per requesting establishment, volume, response times, overdue and open
requests, orientations. Counts and delays only, no patient data; read from a snapshot the worker refreshes."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from maillage.exceptions import NotFound
from maillage.kit.clock import PARIS, now
from maillage.kit.ids import as_uuid
from maillage.models.directory import SpecialtyLine
from maillage.security.actor import Actor
from maillage.security.policy import Permission
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise import steps
from maillage.teleexpertise.deadlines import WATCHED
from maillage.teleexpertise.rules import Orientation


@dataclass(frozen=True)
class BoardRow:
    """Figures over the period: volume (requests submitted in the period and those still open), response times
    (submission to signature, nearest-rank median and 90th percentile, in hours), overdue and open now, orientations."""

    volume: int
    answered: int
    median_hours: float | None
    p90_hours: float | None
    overdue: int
    open: int
    orientations: dict[str, int]


@dataclass(frozen=True)
class EstablishmentBoard(BoardRow):
    """A requesting establishment's requests to a line (None: requesters attached to no establishment)."""

    establishment_id: uuid.UUID | None
    name: str


@dataclass(frozen=True)
class LineBoard(BoardRow):
    line: SpecialtyLine
    establishments: list[EstablishmentBoard] = field(default_factory=list)  # the busiest first


@dataclass(frozen=True)
class Coordination:
    days: int
    # Every line of the coordinator; only the ``detailed`` line carries its requesting establishments.
    lines: list[LineBoard]
    detailed: uuid.UUID | None
    # When the figures shown were computed (the oldest of the lines' snapshots); None without any line.
    computed_at: dt.datetime | None

    @property
    def computed_time(self) -> str:
        """The time of ``computed_at``, Paris time, as "HH:MM" (empty without it)."""
        return self.computed_at.astimezone(PARIS).strftime("%H:%M") if self.computed_at else ""


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _figures(f: repo.BoardFigures) -> dict[str, Any]:
    return {"volume": f.volume, "answered": f.answered, "median_hours": _hours(f.median_seconds),
            "p90_hours": _hours(f.p90_seconds), "overdue": f.overdue, "open": f.open,
            "orientations": {o.label: f.orientations[o.value] for o in Orientation if f.orientations.get(o.value)}}


UNKNOWN_ESTABLISHMENT = "Sans établissement de rattachement"
BOARD_DAYS = 90
# The worker recomputes the snapshot of every line this often (``tasks.refresh_board``); a page finding a line's
# snapshot missing or older than BOARD_STALE_AFTER (the worker stopped, a new line) recomputes that line itself.
BOARD_REFRESH_EVERY = dt.timedelta(minutes=5)
BOARD_STALE_AFTER = dt.timedelta(minutes=10)


def refresh_board(session: Session, line_ids: list[uuid.UUID] | None = None, *, days: int = BOARD_DAYS) -> int:
    """Recompute the board snapshot of these lines (every tele-expertise line by default) from the requests, now.
    Returns the number of lines recomputed. Counts and delays only: no patient data is read or written."""
    at = now()
    ids = repo.board_line_ids(session) if line_ids is None else line_ids
    repo.lock_board_snapshot(session)
    result = repo.board_figures(session, ids, at - dt.timedelta(days=days), at, WATCHED)
    repo.replace_board_snapshot(session, result, days, at)
    return len(ids)


def _stale_lines(rows: list[Row[Any]], line_ids: list[uuid.UUID],
                 at: dt.datetime) -> list[uuid.UUID]:
    fresh = {r.line_id for r in rows if r.whole_line and at - BOARD_STALE_AFTER <= r.computed_at <= at}
    return [line_id for line_id in line_ids if line_id not in fresh]


def _current_snapshot(session: Session, line_ids: list[uuid.UUID], days: int,
                      detailed: list[uuid.UUID]) -> list[Row[Any]]:
    """The snapshot rows of these lines (per establishment for the ``detailed`` ones), the missing or stale lines
    recomputed first (once, under the lock: a refresh that ran meanwhile is used as is)."""
    at = now()
    rows = repo.board_snapshot(session, line_ids, days, detailed)
    if not _stale_lines(rows, line_ids, at):
        return rows
    repo.lock_board_snapshot(session)
    stale = _stale_lines(repo.board_snapshot(session, line_ids, days, []), line_ids, at)
    if stale:
        refresh_board(session, stale, days=days)
    return repo.board_snapshot(session, line_ids, days, detailed)


def coordination(session: Session, actor: Actor, *, line_id: uuid.UUID | str | None = None,
                 days: int = BOARD_DAYS) -> Coordination:
    """The coordinator's board over the last ``days`` days plus the requests still open, for each line they belong to
    and, for one of them (``line_id``, by default the first), for each establishment that asked it (no patient data:
    counts and delays only). Read from the snapshot (one indexed query, a few dozen rows whatever the volume),
    recomputed here for the lines whose snapshot is missing or stale. A line the coordinator is not part of: 404."""
    steps.need(actor, Permission.TELEEXPERTISE_COORDINATE)
    lines = repo.lines_of_user(session, actor.user_id)
    detailed = as_uuid(line_id) if line_id is not None else (lines[0].id if lines else None)
    if detailed is not None and detailed not in {ln.id for ln in lines}:
        raise NotFound("Ligne de spécialité introuvable.")
    rows = _current_snapshot(session, [ln.id for ln in lines], days, [detailed] if detailed else [])
    names = repo.establishment_names(session, [r.establishment_id for r in rows if not r.whole_line])
    per_line: dict[uuid.UUID, repo.BoardFigures] = {}
    per_establishment: dict[uuid.UUID, list[EstablishmentBoard]] = {}
    for r in rows:
        if r.whole_line:
            per_line[r.line_id] = repo.figures_of(r)
        else:
            name = names.get(r.establishment_id, UNKNOWN_ESTABLISHMENT) if r.establishment_id else UNKNOWN_ESTABLISHMENT
            per_establishment.setdefault(r.line_id, []).append(
                EstablishmentBoard(establishment_id=r.establishment_id, name=name, **_figures(repo.figures_of(r))))
    boards = []
    for line in lines:
        establishments = sorted(per_establishment.get(line.id, []), key=lambda b: (-b.volume, b.name))
        boards.append(LineBoard(line=line, establishments=establishments,
                                **_figures(per_line.get(line.id, repo.BoardFigures()))))
    computed = [r.computed_at for r in rows if r.whole_line]
    return Coordination(days=days, lines=boards, detailed=detailed, computed_at=min(computed) if computed else None)


def board(session: Session, actor: Actor, *, days: int = BOARD_DAYS) -> list[LineBoard]:
    """The per-line figures of the coordinator's board (the first line with its requesting establishments)."""
    return coordination(session, actor, days=days).lines
