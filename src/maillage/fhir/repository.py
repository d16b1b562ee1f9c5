"""Every query of the FHIR door: reads of the platform's own tables (no second copy), keyset-paged.

Patient-bound searches are scoped in SQL by ``authz.accessible_patients`` (the care relationships); the caller
audits what a page returned. Reads by id return the row, whose patient the caller then opens through ``authz``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from maillage.fhir.rules import DateBound, Sort
from maillage.models.directory import Establishment, Professional, SpecialtyLine
from maillage.models.fhir import FhirIdentifier
from maillage.models.monitoring import MonitoringEnrolment, MonitoringReading


def date_conditions(column: Any, bounds: list[DateBound]) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for bound in bounds:
        at = bound.at
        out.append({">=": column >= at, ">": column > at, "<": column < at, "<=": column <= at}[bound.op])
    return out


def _key_value(kind: str, raw: Any) -> Any:
    if kind == "datetime":
        return dt.datetime.fromisoformat(str(raw))
    if kind == "uuid":
        return uuid.UUID(str(raw))
    value = int(raw)
    if not 0 <= value < 2 ** 63:
        raise ValueError(raw)
    return value


def keyset_page(
    session: Session, stmt: Select[Any], *, sort: Sort, sort_column: InstrumentedAttribute[Any] | Any | None,
    sort_kind: str, id_column: InstrumentedAttribute[Any] | Any, id_kind: str, after: dict[str, Any] | None,
    count: int, keyed: Callable[[Any], Any] | None = None,
) -> tuple[Sequence[Any], dict[str, Any] | None]:
    """One page ordered by (sort column, id), after the position ``after``; and the position after its last row
    when more rows follow. The position names the sort, so a cursor cannot be replayed on another order.

    The rows are the entities ``stmt`` selects; with ``keyed``, they are its result rows (several entities, or
    plain columns), and ``keyed(row)`` is the object that holds the sort and id values."""
    label = ("-" if sort.descending else "") + sort.key
    if after is not None:
        try:
            last_id = _key_value(id_kind, after["i"])
            last_key = _key_value(sort_kind, after["k"]) if sort_column is not None else None
        except (KeyError, TypeError, ValueError) as exc:
            from maillage.fhir.rules import SearchProblem

            raise SearchProblem("Curseur de pagination invalide : repartez du premier lien de la recherche.") from exc
        if sort_column is None:
            stmt = stmt.where(id_column < last_id if sort.descending else id_column > last_id)
        elif sort.descending:
            stmt = stmt.where(or_(sort_column < last_key, and_(sort_column == last_key, id_column < last_id)))
        else:
            stmt = stmt.where(or_(sort_column > last_key, and_(sort_column == last_key, id_column > last_id)))
    columns = [c for c in (sort_column, id_column) if c is not None]
    stmt = stmt.order_by(*[c.desc() if sort.descending else c.asc() for c in columns]).limit(count + 1)
    rows = session.scalars(stmt).all() if keyed is None else session.execute(stmt).all()
    if len(rows) <= count:
        return rows, None
    rows = rows[:count]
    last = rows[-1] if keyed is None else keyed(rows[-1])
    position: dict[str, Any] = {"s": label, "i": str(getattr(last, id_column.key))}
    if sort_column is not None:
        position["k"] = getattr(last, sort_column.key).isoformat()
    return rows, position


def claim_identifiers(session: Session, resource_type: str, resource_id: str, created_by: uuid.UUID,
                      identifiers: list[tuple[str, str]]) -> str | None:
    """Record the client's identifiers of a resource about to be created; if one of them already names a resource of
    this type (created before, or at this very moment by a concurrent request: the unique key waits for it), that
    resource's id, and nothing is recorded."""
    for system, value in identifiers:
        existing = resource_by_identifier(session, resource_type, system, value)
        if existing is not None:
            return existing
    try:
        with session.begin_nested():
            for system, value in identifiers:
                session.add(FhirIdentifier(resource_type=resource_type, system=system, value=value,
                                           resource_id=resource_id, created_by=created_by))
            session.flush()
    except IntegrityError:
        for system, value in identifiers:
            existing = resource_by_identifier(session, resource_type, system, value)
            if existing is not None:
                return existing
        raise
    return None


def resource_by_identifier(session: Session, resource_type: str, system: str | None, value: str) -> str | None:
    stmt = select(FhirIdentifier.resource_id).where(FhirIdentifier.resource_type == resource_type,
                                                    FhirIdentifier.value == value)
    if system is not None:
        stmt = stmt.where(FhirIdentifier.system == system)
    return session.scalars(stmt.limit(1)).first()


def identifiers_of(session: Session, resource_type: str, resource_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    if not resource_ids:
        return out
    rows = session.execute(select(FhirIdentifier.resource_id, FhirIdentifier.system, FhirIdentifier.value).where(
        FhirIdentifier.resource_type == resource_type, FhirIdentifier.resource_id.in_(resource_ids)))
    for resource_id, system, value in rows:
        out.setdefault(resource_id, []).append((system, value))
    return out


def reading(session: Session, reading_id: int) -> MonitoringReading | None:
    return session.get(MonitoringReading, reading_id)


def enrolment(session: Session, enrolment_id: uuid.UUID) -> MonitoringEnrolment | None:
    return session.get(MonitoringEnrolment, enrolment_id)


def line(session: Session, line_id: uuid.UUID) -> SpecialtyLine | None:
    return session.get(SpecialtyLine, line_id)


def professional(session: Session, professional_id: uuid.UUID) -> Professional | None:
    return session.get(Professional, professional_id)


def establishment(session: Session, establishment_id: uuid.UUID) -> Establishment | None:
    return session.get(Establishment, establishment_id)
