"""Every query of telesurveillance. Lists of patient data are scoped by the actor's care relationships."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ARRAY, Select, String, Text, Uuid, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from maillage.kit.clock import PARIS
from maillage.kit.sealed import SealedText, text_cipher
from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
from maillage.models.monitoring import (
    OPEN_ALERT,
    MonitoringAlert,
    MonitoringAlertEvent,
    MonitoringDevice,
    MonitoringDeviceAssignment,
    MonitoringEnrolment,
    MonitoringForfait,
    MonitoringNotification,
    MonitoringPause,
    MonitoringReading,
    MonitoringRuleState,
    MonitoringTeam,
    MonitoringTeamMember,
)
from maillage.models.prediction import PredictionScore

ENROLMENT_SOURCE = "monitoring_enrolment"


# -- Teams --------------------------------------------------------------------------------------------------


def get_team(session: Session, team_id: uuid.UUID) -> MonitoringTeam | None:
    return session.get(MonitoringTeam, team_id)


def team_by_name(session: Session, establishment_id: uuid.UUID, name: str) -> MonitoringTeam | None:
    return session.scalar(select(MonitoringTeam).where(MonitoringTeam.establishment_id == establishment_id,
                                                       MonitoringTeam.name == name))


def membership(session: Session, team_id: uuid.UUID, user_id: uuid.UUID) -> MonitoringTeamMember | None:
    return session.scalar(select(MonitoringTeamMember).where(MonitoringTeamMember.team_id == team_id,
                                                             MonitoringTeamMember.user_id == user_id))


def members(session: Session, team_id: uuid.UUID) -> list[tuple[MonitoringTeamMember, UserAccount]]:
    rows = session.execute(
        select(MonitoringTeamMember, UserAccount)
        .join(UserAccount, UserAccount.id == MonitoringTeamMember.user_id)
        .where(MonitoringTeamMember.team_id == team_id)
        .order_by(UserAccount.display_name)
    ).all()
    return [(m, u) for m, u in rows]


def teams_of(session: Session, user_id: uuid.UUID) -> list[MonitoringTeam]:
    """The teams the user is a member of, by name."""
    return list(session.scalars(
        select(MonitoringTeam).join(MonitoringTeamMember, MonitoringTeamMember.team_id == MonitoringTeam.id)
        .where(MonitoringTeamMember.user_id == user_id).order_by(MonitoringTeam.name)
    ))


def user_by_id(session: Session, user_id: uuid.UUID) -> UserAccount | None:
    return session.get(UserAccount, user_id)


# -- Devices ------------------------------------------------------------------------------------------------


def device_by_identifier(session: Session, identifier: str) -> MonitoringDevice | None:
    return session.scalar(select(MonitoringDevice).where(MonitoringDevice.identifier == identifier))


def current_assignment(session: Session, device_id: uuid.UUID) -> MonitoringDeviceAssignment | None:
    return session.scalar(select(MonitoringDeviceAssignment)
                          .where(MonitoringDeviceAssignment.active_device_id == device_id))


def devices_of_enrolment(session: Session, enrolment_id: uuid.UUID,
                         current_only: bool = True) -> list[MonitoringDevice]:
    stmt = (select(MonitoringDevice)
            .join(MonitoringDeviceAssignment, MonitoringDeviceAssignment.device_id == MonitoringDevice.id)
            .where(MonitoringDeviceAssignment.enrolment_id == enrolment_id))
    if current_only:
        stmt = stmt.where(MonitoringDeviceAssignment.active_device_id.is_not(None))
    return list(session.scalars(stmt.order_by(MonitoringDevice.identifier)))


def team_devices(session: Session, team_ids: Sequence[uuid.UUID],
                 ) -> list[tuple[MonitoringDevice, MonitoringEnrolment | None]]:
    """The active devices of these teams, each with the enrolment it is lent to now (None when free)."""
    if not team_ids:
        return []
    a = MonitoringDeviceAssignment
    rows = session.execute(
        select(MonitoringDevice, MonitoringEnrolment)
        .outerjoin(a, a.active_device_id == MonitoringDevice.id)
        .outerjoin(MonitoringEnrolment, MonitoringEnrolment.id == a.enrolment_id)
        .where(MonitoringDevice.team_id.in_(list(team_ids)), MonitoringDevice.active.is_(True))
        .order_by(MonitoringDevice.label, MonitoringDevice.identifier)
    ).all()
    return [(d, e) for d, e in rows]


def current_assignments_of_enrolment(session: Session, enrolment_id: uuid.UUID) -> list[MonitoringDeviceAssignment]:
    return list(session.scalars(select(MonitoringDeviceAssignment).where(
        MonitoringDeviceAssignment.enrolment_id == enrolment_id,
        MonitoringDeviceAssignment.active_device_id.is_not(None))))


# -- Enrolments ---------------------------------------------------------------------------------------------


def get_enrolment(session: Session, enrolment_id: uuid.UUID) -> MonitoringEnrolment | None:
    return session.get(MonitoringEnrolment, enrolment_id)


def lock_enrolment(session: Session, enrolment_id: uuid.UUID) -> MonitoringEnrolment | None:
    return session.scalar(select(MonitoringEnrolment).where(MonitoringEnrolment.id == enrolment_id)
                          .with_for_update())


def open_enrolment(session: Session, patient_id: uuid.UUID, programme: str) -> MonitoringEnrolment | None:
    return session.scalar(select(MonitoringEnrolment).where(
        MonitoringEnrolment.patient_id == patient_id, MonitoringEnrolment.programme == programme,
        MonitoringEnrolment.status != "ended"))


def enrolments_visible(session: Session, scope: Select[tuple[uuid.UUID]], *, include_ended: bool = False,
                       limit: int = 500) -> list[MonitoringEnrolment]:
    stmt = select(MonitoringEnrolment).where(MonitoringEnrolment.patient_id.in_(scope))
    if not include_ended:
        stmt = stmt.where(MonitoringEnrolment.status != "ended")
    return list(session.scalars(stmt.order_by(MonitoringEnrolment.starts_on.desc()).limit(limit)))


def enrolments_to_bill(session: Session, first: dt.date, last: dt.date) -> list[MonitoringEnrolment]:
    return list(session.scalars(select(MonitoringEnrolment).where(
        MonitoringEnrolment.starts_on <= last, MonitoringEnrolment.ends_on >= first,
    ).order_by(MonitoringEnrolment.id)))


def expired_enrolments(session: Session, today: dt.date, limit: int = 1000) -> list[MonitoringEnrolment]:
    return list(session.scalars(select(MonitoringEnrolment).where(
        MonitoringEnrolment.status != "ended", MonitoringEnrolment.ends_on < today).limit(limit)))


def pauses(session: Session, enrolment_id: uuid.UUID) -> list[MonitoringPause]:
    return list(session.scalars(select(MonitoringPause).where(MonitoringPause.enrolment_id == enrolment_id)
                                .order_by(MonitoringPause.starts_at)))


def open_pause(session: Session, enrolment_id: uuid.UUID) -> MonitoringPause | None:
    return session.scalar(select(MonitoringPause).where(MonitoringPause.enrolment_id == enrolment_id,
                                                        MonitoringPause.ends_at.is_(None)))


def care_team(session: Session, enrolment_id: uuid.UUID, at: dt.datetime) -> list[tuple[UserAccount, str]]:
    """The care team's members now, with their kind of relationship's user role."""
    rows = session.execute(
        select(UserAccount).join(CareRelationship, CareRelationship.user_id == UserAccount.id).where(
            CareRelationship.source_type == ENROLMENT_SOURCE, CareRelationship.source_id == str(enrolment_id),
            CareRelationship.kind == "care_team", CareRelationship.starts_at <= at,
            (CareRelationship.ends_at.is_(None)) | (CareRelationship.ends_at > at),
        ).order_by(UserAccount.display_name)
    ).scalars().all()
    return [(u, u.role) for u in rows]


# -- Rule state ---------------------------------------------------------------------------------------------


def lock_states(session: Session, enrolment_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, MonitoringRuleState]:
    """Lock the rule states of these enrolments, in id order (no deadlock between concurrent batches)."""
    ids = sorted(set(enrolment_ids))
    if not ids:
        return {}
    rows = session.scalars(select(MonitoringRuleState).where(MonitoringRuleState.enrolment_id.in_(ids))
                           .order_by(MonitoringRuleState.enrolment_id).with_for_update()
                           .execution_options(populate_existing=True))
    return {r.enrolment_id: r for r in rows}


def states_due_for_silence(session: Session, at: dt.datetime, limit: int) -> list[uuid.UUID]:
    return list(session.scalars(
        select(MonitoringRuleState.enrolment_id)
        .join(MonitoringEnrolment, MonitoringEnrolment.id == MonitoringRuleState.enrolment_id)
        .where(MonitoringRuleState.silence_due_at <= at, MonitoringEnrolment.status == "active")
        .order_by(MonitoringRuleState.silence_due_at).limit(limit)
    ))


def enrolments_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, MonitoringEnrolment]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {e.id: e for e in session.scalars(select(MonitoringEnrolment).where(MonitoringEnrolment.id.in_(wanted)))}


# -- Readings -----------------------------------------------------------------------------------------------


def insert_readings(session: Session, rows: Sequence[dict[str, Any]]) -> set[tuple[uuid.UUID, str]]:
    """Insert readings, skipping any (device, external id) already stored; return the keys inserted."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    table: Any = MonitoringReading.__table__
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["device_id", "external_id"])
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["device_id", "external_id"])
    stmt = stmt.returning(table.c.device_id, table.c.external_id)
    result = session.execute(stmt, list(rows))
    return {(r[0], r[1]) for r in result}


def series(session: Session, patient_id: uuid.UUID, measures: Sequence[str], since: dt.datetime,
           until: dt.datetime, limit: int = 20_000) -> list[tuple[str, dt.datetime, float]]:
    rows = session.execute(
        select(MonitoringReading.measure, MonitoringReading.taken_at, MonitoringReading.value)
        .where(MonitoringReading.patient_id == patient_id, MonitoringReading.measure.in_(list(measures)),
               MonitoringReading.taken_at >= since, MonitoringReading.taken_at <= until)
        .order_by(MonitoringReading.taken_at).limit(limit)
    ).all()
    return [(m, t, v) for m, t, v in rows]


def days_with_data(session: Session, enrolment_id: uuid.UUID, patient_id: uuid.UUID, measure: str, first: dt.date,
                   last: dt.date) -> list[dt.date]:
    """The Paris days from ``first`` to ``last`` with a reading of ``measure`` attributed to the enrolment.

    Read through the patient's curve index (patient, measure, time), the days' bounds turned into instants: the
    reading table has no index of its own for adherence, which would cost an entry per ingested reading."""
    since = dt.datetime.combine(first, dt.time(0), tzinfo=PARIS)
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=PARIS)
    return list(session.scalars(
        select(MonitoringReading.local_day).distinct()
        .where(MonitoringReading.patient_id == patient_id, MonitoringReading.measure == measure,
               MonitoringReading.taken_at >= since, MonitoringReading.taken_at < until,
               MonitoringReading.enrolment_id == enrolment_id,
               MonitoringReading.local_day >= first, MonitoringReading.local_day <= last)
    ))


# -- Alerts -------------------------------------------------------------------------------------------------


def open_alerts_for(session: Session,
                    enrolment_ids: Iterable[uuid.UUID]) -> dict[tuple[uuid.UUID, str], MonitoringAlert]:
    ids = list(set(enrolment_ids))
    if not ids:
        return {}
    rows = session.scalars(select(MonitoringAlert).where(MonitoringAlert.enrolment_id.in_(ids),
                                                         MonitoringAlert.status == "open")
                           .execution_options(populate_existing=True))
    return {(a.enrolment_id, a.condition): a for a in rows}


def get_alert(session: Session, alert_id: uuid.UUID, *, lock: bool = False) -> MonitoringAlert | None:
    # Ingestion writes alerts with Core statements: never trust a copy already in the session.
    stmt = select(MonitoringAlert).where(MonitoringAlert.id == alert_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def worklist(session: Session, scope: Select[tuple[uuid.UUID]], limit: int = 500) -> list[MonitoringAlert]:
    """Open alerts of the patients in scope: red first, then orange, then missing data, then green.

    ``OPEN_ALERT`` is the partial index's own predicate, written as is (not a bound parameter) so that both engines
    prove the index applies, prepared statement or not."""
    return list(session.scalars(
        select(MonitoringAlert).where(OPEN_ALERT, MonitoringAlert.patient_id.in_(scope))
        .order_by(MonitoringAlert.opened_at).limit(limit).execution_options(populate_existing=True)
    ))


@dataclass(frozen=True)
class ShownScore:
    """What the worklist shows of a risk score: the band and the model, never the factors (read when opened)."""

    patient_id: uuid.UUID
    model_id: uuid.UUID
    probability: float
    band: str


def worklist_scored(session: Session, scope: Select[tuple[uuid.UUID]],
                    limit: int = 500) -> list[tuple[MonitoringAlert, ShownScore | None]]:
    """``worklist`` with the latest risk score of each alert's enrolment in the same statement: an outer join on the
    score's primary key (one row per enrolment), four columns, no factors."""
    rows = session.execute(
        select(MonitoringAlert, PredictionScore.patient_id, PredictionScore.model_id, PredictionScore.probability,
               PredictionScore.band)
        .outerjoin(PredictionScore, PredictionScore.enrolment_id == MonitoringAlert.enrolment_id)
        .where(OPEN_ALERT, MonitoringAlert.patient_id.in_(scope))
        .order_by(MonitoringAlert.opened_at).limit(limit).execution_options(populate_existing=True))
    return [(alert, None if model_id is None else ShownScore(patient_id, model_id, float(probability), band))
            for alert, patient_id, model_id, probability, band in rows]


def score_of(session: Session, enrolment_id: uuid.UUID) -> PredictionScore | None:
    """The latest risk score of an enrolment, with its factors (written by ``analytics.predict``'s scoring job)."""
    return session.get(PredictionScore, enrolment_id)


def open_greens(session: Session, scope: Select[tuple[uuid.UUID]], lock: bool = True) -> list[MonitoringAlert]:
    stmt = select(MonitoringAlert).where(OPEN_ALERT, MonitoringAlert.severity == "green",
                                         MonitoringAlert.patient_id.in_(scope))
    if lock:
        stmt = stmt.with_for_update()
    return list(session.scalars(stmt.order_by(MonitoringAlert.id).execution_options(populate_existing=True)))


def alerts_of_enrolment(session: Session, enrolment_id: uuid.UUID, limit: int = 200) -> list[MonitoringAlert]:
    return list(session.scalars(select(MonitoringAlert).where(MonitoringAlert.enrolment_id == enrolment_id)
                                .order_by(MonitoringAlert.opened_at.desc()).limit(limit)
                                .execution_options(populate_existing=True)))


def events_of_alerts(session: Session, alert_ids: Sequence[uuid.UUID]) -> list[MonitoringAlertEvent]:
    if not alert_ids:
        return []
    return list(session.scalars(select(MonitoringAlertEvent).where(MonitoringAlertEvent.alert_id.in_(alert_ids))
                                .order_by(MonitoringAlertEvent.at)))


def change_mark(session: Session) -> str:
    """A cheap fingerprint of the alert table: the latest change and the number of open alerts (indexed)."""
    latest = session.scalar(select(func.max(MonitoringAlert.updated_at)))
    return latest.isoformat() if latest else ""


def notifications_for(session: Session, user_id: uuid.UUID,
                      scope: Select[tuple[uuid.UUID]]) -> list[tuple[MonitoringNotification, MonitoringAlert]]:
    rows = session.execute(
        select(MonitoringNotification, MonitoringAlert)
        .join(MonitoringAlert, MonitoringAlert.id == MonitoringNotification.alert_id)
        .where(MonitoringNotification.user_id == user_id, MonitoringNotification.read_at.is_(None),
               MonitoringAlert.patient_id.in_(scope))
        .order_by(MonitoringNotification.created_at.desc()).limit(100)
    ).all()
    return [(n, a) for n, a in rows]


# -- Forfaits ----------------------------------------------------------------------------------------------


def forfait_exists(session: Session, enrolment_id: uuid.UUID, month: dt.date) -> bool:
    return session.scalar(select(MonitoringForfait.id).where(MonitoringForfait.enrolment_id == enrolment_id,
                                                             MonitoringForfait.month == month)) is not None


def forfaits_of(session: Session, enrolment_id: uuid.UUID) -> list[MonitoringForfait]:
    return list(session.scalars(select(MonitoringForfait).where(MonitoringForfait.enrolment_id == enrolment_id)
                                .order_by(MonitoringForfait.month)))


# -- Bulk paths of ingestion (Core, no ORM objects; PostgreSQL writes whole arrays with unnest) ----------------


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _pg_binary(session: Session, sql: str, params: dict[str, Any], returning: bool = False) -> list[tuple[Any, ...]]:
    """Run ``sql`` on the session's own connection and transaction; ``%(name)b`` placeholders send whole arrays in
    psycopg's binary format, without per-element text quoting."""
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(sql, params, binary=True)
        return list(cursor.fetchall()) if returning else []


class DeviceRow(NamedTuple):
    id: uuid.UUID
    identifier: str
    gateway_id: uuid.UUID | None
    active: bool


class AssignmentRow(NamedTuple):
    """An assignment of a device with what the rule engine needs of its enrolment (an ``EnrolmentLike``)."""

    device_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    id: uuid.UUID
    patient_id: uuid.UUID
    team_id: uuid.UUID
    programme: str
    status: str
    references_text: str | None
    overrides_text: str | None
    watch_from: dt.datetime


def devices_with_assignments(session: Session,
                             identifiers: Iterable[str]) -> tuple[dict[str, Any], dict[uuid.UUID, list[Any]]]:
    """The devices named by ``identifiers`` and every assignment of each (with its enrolment), oldest first.

    PostgreSQL: one statement, the identifiers sent as one binary array. Elsewhere: two ORM-free queries."""
    wanted = list(set(identifiers))
    if not wanted:
        return {}, {}
    if not _postgres(session):
        found = device_rows(session, wanted)
        by_device: dict[uuid.UUID, list[Any]] = {}
        for row in assignment_rows(session, [d.id for d in found.values()]):
            by_device.setdefault(row.device_id, []).append(row)
        return found, by_device
    rows = _pg_binary(
        session,
        "SELECT d.id, d.identifier, d.gateway_id, d.active, a.starts_at, a.ends_at, e.id, e.patient_id, e.team_id, "
        "e.programme, e.status, e.reference_values::text, e.overrides::text, e.watch_from "
        "FROM monitoring_device AS d LEFT JOIN monitoring_device_assignment AS a ON a.device_id = d.id "
        "LEFT JOIN monitoring_enrolment AS e ON e.id = a.enrolment_id "
        "WHERE d.identifier = ANY(%(ids)b::text[]) ORDER BY a.starts_at",
        {"ids": wanted}, returning=True)
    devices: dict[str, Any] = {}
    assignments: dict[uuid.UUID, list[Any]] = {}
    for r in rows:
        if r[1] not in devices:
            devices[r[1]] = DeviceRow(r[0], r[1], r[2], r[3])
        if r[6] is not None:
            assignments.setdefault(r[0], []).append(AssignmentRow(r[0], *r[4:]))
    return devices, assignments


def device_rows(session: Session, identifiers: Iterable[str]) -> dict[str, Any]:
    wanted = list(set(identifiers))
    if not wanted:
        return {}
    t = MonitoringDevice.__table__.c
    where = t.identifier == func.any(bindparam("ids", wanted, type_=ARRAY(String))) if _postgres(session) \
        else t.identifier.in_(wanted)
    rows = session.execute(select(t.id, t.identifier, t.gateway_id, t.active).where(where))
    return {r.identifier: r for r in rows}


def _ids_match(session: Session, column: Any, ids: Sequence[uuid.UUID]) -> Any:
    """``column = ANY(:array)`` on PostgreSQL (one parameter, a short statement), ``IN`` elsewhere."""
    if _postgres(session):
        return column == func.any(bindparam("ids", list(ids), type_=ARRAY(Uuid)))
    return column.in_(list(ids))


def assignment_rows(session: Session, device_ids: Iterable[uuid.UUID]) -> list[Any]:
    """Each assignment of these devices with what the rule engine needs of its enrolment (settings as JSON text,
    which is also the key of the resolved rules' cache)."""
    ids = list(set(device_ids))
    if not ids:
        return []
    a, e = MonitoringDeviceAssignment.__table__.c, MonitoringEnrolment.__table__.c
    return list(session.execute(
        select(a.device_id, a.starts_at, a.ends_at, e.id, e.patient_id, e.team_id, e.programme, e.status,
               cast(e.reference_values, Text).label("references_text"),
               cast(e.overrides, Text).label("overrides_text"), e.watch_from)
        .join_from(MonitoringDeviceAssignment, MonitoringEnrolment, a.enrolment_id == e.id)
        .where(_ids_match(session, a.device_id, ids)).order_by(a.starts_at)
    ))


def lock_state_rows(session: Session, enrolment_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    ids = sorted(set(enrolment_ids), key=lambda u: u.int)  # UUID order, compared as integers (fast)
    if not ids:
        return {}
    if _postgres(session):
        found = _pg_binary(session, "SELECT enrolment_id, state::text FROM monitoring_rule_state "
                                    "WHERE enrolment_id = ANY(%(ids)b::uuid[]) ORDER BY enrolment_id FOR UPDATE",
                           {"ids": ids}, returning=True)
        return {r[0]: orjson.loads(r[1]) for r in found}
    t = MonitoringRuleState.__table__.c
    rows = session.execute(select(t.enrolment_id, t.state).where(_ids_match(session, t.enrolment_id, ids))
                           .order_by(t.enrolment_id).with_for_update())
    return {r.enrolment_id: r.state for r in rows}


def save_state_rows(session: Session, rows: Sequence[tuple[uuid.UUID, dict[str, Any], Any, Any]]) -> None:
    """(enrolment id, state, silence due at, updated at) for each state, in one statement on PostgreSQL."""
    if not rows:
        return
    if _postgres(session):
        _pg_binary(session,
                   # LEAST: an earlier mark is kept (the scheduled check re-reads the state and moves it later),
                   # so most updates leave the indexed column alone and stay heap-only.
                   "UPDATE monitoring_rule_state AS s SET state = v.state, "
                   "silence_due_at = LEAST(s.silence_due_at, v.due), updated_at = v.at "
                   "FROM unnest(%(ids)b::uuid[], %(states)b::text[]::jsonb[], %(dues)b::timestamptz[], "
                   "%(ats)b::timestamptz[]) AS v(id, state, due, at) WHERE s.enrolment_id = v.id",
                   {"ids": [r[0] for r in rows], "states": [orjson.dumps(r[1]).decode() for r in rows],
                    "dues": [r[2] for r in rows], "ats": [r[3] for r in rows]})
        return
    t: Any = MonitoringRuleState.__table__
    session.execute(update(t).where(t.c.enrolment_id == bindparam("b_id"))
                    .values(state=bindparam("b_state"), silence_due_at=bindparam("b_due"),
                            updated_at=bindparam("b_at")),
                    [{"b_id": r[0], "b_state": r[1], "b_due": r[2], "b_at": r[3]} for r in rows])


READING_COLUMNS = ("device_id", "external_id", "enrolment_id", "patient_id", "measure", "value", "unit",
                   "original_value", "original_unit", "taken_at", "local_day", "received_at", "status")
_READING_TYPES = ("uuid", "text", "uuid", "uuid", "text", "float8", "text", "float8", "text", "timestamptz", "date",
                  "timestamptz", "text")


def insert_readings_bulk(session: Session, rows: Sequence[dict[str, Any]]) -> set[tuple[uuid.UUID, str]]:
    """Insert readings, skipping any (device, external id) already stored; return the keys inserted."""
    if not rows:
        return set()
    if not _postgres(session):
        return insert_readings(session, rows)
    arrays = ", ".join(f"%({c})b::{t}[]" for c, t in zip(READING_COLUMNS, _READING_TYPES, strict=True))
    result = _pg_binary(
        session,
        f"INSERT INTO monitoring_reading ({', '.join(READING_COLUMNS)}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        "ON CONFLICT (device_id, external_id) DO NOTHING RETURNING device_id, external_id",
        {c: [r[c] for r in rows] for c in READING_COLUMNS}, returning=True)
    return {(r[0], r[1]) for r in result}


@dataclass
class OpenAlertRow:
    id: uuid.UUID
    occurrences: int
    last_seen_at: dt.datetime


def open_alert_rows(session: Session, enrolment_ids: Iterable[uuid.UUID]) -> dict[tuple[uuid.UUID, str], OpenAlertRow]:
    ids = list(set(enrolment_ids))
    if not ids:
        return {}
    if _postgres(session):
        # ``open_key IS NOT NULL`` says "open" (a CHECK constraint ties them) and is decided inside the index on
        # (enrolment_id, open_key): closed alerts are never fetched. ``status = 'open'`` would also match the
        # predicate of the worklist's partial index, which the planner, with statistics taken while the table was
        # small, ANDed whole (every open alert of the territory) with the enrolment lookups.
        found = _pg_binary(session, "SELECT id, enrolment_id, condition, occurrences, last_seen_at "
                                    "FROM monitoring_alert WHERE enrolment_id = ANY(%(ids)b::uuid[]) "
                                    "AND open_key IS NOT NULL", {"ids": ids}, returning=True)
        return {(r[1], r[2]): OpenAlertRow(r[0], r[3], r[4]) for r in found}
    t = MonitoringAlert.__table__.c
    rows = session.execute(select(t.id, t.enrolment_id, t.condition, t.occurrences, t.last_seen_at)
                           .where(_ids_match(session, t.enrolment_id, ids), t.status == "open"))
    return {(r.enrolment_id, r.condition): OpenAlertRow(r.id, r.occurrences, r.last_seen_at) for r in rows}


@dataclass
class AlertWrites:
    """A batch's alert changes: closes of open alerts first, then new alerts, updates, and the timeline."""

    inserts: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    updates: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    closes: list[uuid.UUID] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


ALERT_INSERT_COLUMNS = ("id", "enrolment_id", "patient_id", "team_id", "condition", "severity", "silence", "status",
                        "open_key", "message", "source", "measure", "value", "reading_key", "occurrences",
                        "opened_at", "last_seen_at", "updated_at", "closed_at", "close_reason")
_ALERT_TYPES = ("uuid", "uuid", "uuid", "uuid", "text", "text", "bool", "text", "text", "text", "text", "text",
                "float8", "text", "int4", "timestamptz", "timestamptz", "timestamptz", "timestamptz", "text")
EVENT_COLUMNS = ("id", "alert_id", "at", "kind", "actor_id", "comment")
_EVENT_TYPES = ("uuid", "uuid", "timestamptz", "text", "uuid", "text")


def _unnest_insert_sql(table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[dict[str, Any]],
                       prefix: str = "") -> tuple[str, dict[str, Any]]:
    arrays = ", ".join(f"%({prefix}{c})b::{t}[]" for c, t in zip(columns, types, strict=True))
    sealed = _sealed_scopes(table)  # raw SQL passes around the column type: seal here

    def value(column: str, row: dict[str, Any]) -> Any:
        scope = sealed.get(column)
        raw = row[column]
        return text_cipher().seal(scope, raw) if scope is not None and raw is not None else raw

    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})",  # noqa: S608
            {f"{prefix}{c}": [value(c, r) for r in rows] for c in columns})


def _sealed_scopes(table: str) -> dict[str, str]:
    """The ``SealedText`` columns of one of this package's tables, by name."""
    model_table = {"monitoring_alert": MonitoringAlert.__table__,
                   "monitoring_alert_event": MonitoringAlertEvent.__table__}.get(table)
    if model_table is None:
        return {}
    return {c.name: c.type.scope for c in model_table.columns if isinstance(c.type, SealedText)}


def _unnest_insert(session: Session, table: str, columns: Sequence[str], types: Sequence[str],
                   rows: Sequence[dict[str, Any]]) -> None:
    _pg_binary(session, *_unnest_insert_sql(table, columns, types, rows))


def write_alerts(session: Session, writes: AlertWrites, at: dt.datetime) -> None:
    """Apply the alert changes of a batch in a handful of statements."""
    pg = _postgres(session)
    table: Any = MonitoringAlert.__table__
    inserts = list(writes.inserts.values())
    # The events are ``cleared`` ones (an opening is the alert row itself). PostgreSQL: their insert carries, in a
    # data-modifying WITH, either the closes (one round trip for a cleared alert) or, when alerts are opened in the
    # same batch, the new alerts (one opened and cleared within the batch has its event: the foreign-key check sees
    # the new rows at the end of the statement); then the closes go first, alone (a condition cleared and raised
    # again in one batch frees its open_key before the new alert takes it).
    fold = pg and bool(writes.events) and bool(inserts or writes.closes)
    fold_closes = fold and not inserts
    if writes.closes and not fold_closes:
        session.execute(update(table).where(table.c.id.in_(writes.closes)).values(
            status="closed", open_key=None, closed_at=at, close_reason="cleared", updated_at=at))
    if inserts and not fold:
        if pg:
            _unnest_insert(session, "monitoring_alert", ALERT_INSERT_COLUMNS, _ALERT_TYPES, inserts)
        else:
            session.execute(insert(table), inserts)
    updates = list(writes.updates.values())
    if updates:
        if pg:
            _pg_binary(
                session,
                "UPDATE monitoring_alert AS a SET occurrences = v.occ, last_seen_at = v.seen, message = v.msg, "
                "value = v.val, reading_key = v.rk, updated_at = v.at FROM unnest(%(ids)b::uuid[], "
                "%(occ)b::int4[], %(seen)b::timestamptz[], %(msg)b::text[], %(val)b::float8[], "
                "%(rk)b::text[], %(at)b::timestamptz[]) AS v(id, occ, seen, msg, val, rk, at) "
                "WHERE a.id = v.id",
                {"ids": [u["id"] for u in updates], "occ": [u["occurrences"] for u in updates],
                 "seen": [u["last_seen_at"] for u in updates], "msg": [u["message"] for u in updates],
                 "val": [u["value"] for u in updates], "rk": [u["reading_key"] for u in updates],
                 "at": [at] * len(updates)})
        else:
            session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
                occurrences=bindparam("b_occ"), last_seen_at=bindparam("b_seen"), message=bindparam("b_msg"),
                value=bindparam("b_val"), reading_key=bindparam("b_rk"), updated_at=bindparam("b_at")),
                [{"b_id": u["id"], "b_occ": u["occurrences"], "b_seen": u["last_seen_at"], "b_msg": u["message"],
                  "b_val": u["value"], "b_rk": u["reading_key"], "b_at": at} for u in updates])
    if writes.events:
        if fold:
            events_sql, params = _unnest_insert_sql("monitoring_alert_event", EVENT_COLUMNS, _EVENT_TYPES,
                                                    writes.events, prefix="e_")
            if fold_closes:
                before = ("UPDATE monitoring_alert SET status = 'closed', open_key = NULL, closed_at = %(c_at)s, "
                          "close_reason = 'cleared', updated_at = %(c_at)s WHERE id = ANY(%(c_ids)b::uuid[])")
                params.update(c_at=at, c_ids=list(writes.closes))
            else:
                before, alerts_params = _unnest_insert_sql("monitoring_alert", ALERT_INSERT_COLUMNS, _ALERT_TYPES,
                                                           inserts, prefix="a_")
                params.update(alerts_params)
            _pg_binary(session, f"WITH alert_writes AS ({before}) {events_sql}", params)
        elif pg:
            _unnest_insert(session, "monitoring_alert_event", EVENT_COLUMNS, _EVENT_TYPES, writes.events)
        else:
            events_table: Any = MonitoringAlertEvent.__table__
            session.execute(insert(events_table), writes.events)
