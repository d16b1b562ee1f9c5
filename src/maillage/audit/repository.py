"""Every query of the audit trail. Writes are appends, anchors and the purge's delete; nothing updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import RowMapping, Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from maillage.audit.rules import AuditFilters, ChainStart
from maillage.models.audit import AuditAnchor, AuditEntry

ENTRY = cast(Table, AuditEntry.__table__)
ENTRY_COLUMNS = [ENTRY.c[name] for name in (
    "id", "seq", "occurred_at", "actor_id", "actor_role", "establishment_id", "action", "object_type",
    "object_id", "patient_id", "purpose", "break_glass", "reason", "outcome", "request_id", "address",
    "details", "prev_hash", "hash", "key_id",
)]

# PostgreSQL advisory lock key: this namespace in the high 32 bits, the audit table's oid in the low 32,
# so private schemas (tests, several installations in one database) do not wait on each other.
AUDIT_LOCK_NAMESPACE = 0x41554454  # "AUDT"


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def acquire_chain_lock(session: Session) -> None:
    """Serialise appends to the chain until this transaction ends (commit or rollback releases it).

    PostgreSQL: a transaction-level advisory lock. SQLite: the database write lock, taken by a write
    statement that touches no row, *before* the head is read (a read first, then a write, would fail with
    SQLITE_BUSY_SNAPSHOT as soon as another writer committed in between).
    """
    dialect = dialect_name(session)
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:ns AS bigint) * 4294967296 "
                 "+ CAST(CAST(CAST('audit_entry' AS regclass) AS oid) AS bigint))"),
            {"ns": AUDIT_LOCK_NAMESPACE},
        )
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_anchor SET id = id WHERE 1 = 0"))


def chain_start(session: Session) -> ChainStart:
    """The anchor of the latest purge, or the genesis."""
    anchor = session.execute(
        select(AuditAnchor.id, AuditAnchor.through_seq, AuditAnchor.through_hash)
        .order_by(AuditAnchor.through_seq.desc()).limit(1)
    ).first()
    if anchor is None:
        return ChainStart()
    return ChainStart(seq=int(anchor.through_seq), hash=str(anchor.through_hash), anchor_id=int(anchor.id))


def chain_head(session: Session) -> tuple[int, str]:
    """Seq and hash of the last entry; the anchor's (or the genesis) when a purge left no entry."""
    last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    if last is not None:
        # A purge always leaves its own entry after its anchor: the last entry is the head.
        return int(last.seq), str(last.hash)
    start = chain_start(session)
    return start.seq, start.hash


def insert_entries(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    session.connection().execute(insert(ENTRY), list(rows))


@contextmanager
def chain_rows(session: Session, *, after_seq: int | None = None,
               batch_size: int = 5000) -> Iterator[Iterator[RowMapping]]:
    """Entries in seq order, streamed (server-side cursor on PostgreSQL); the cursor closes with the block."""
    stmt = select(*ENTRY_COLUMNS).order_by(ENTRY.c.seq)
    if after_seq is not None:
        stmt = stmt.where(ENTRY.c.seq > after_seq)
    result = session.execute(stmt.execution_options(yield_per=batch_size))
    try:
        yield iter(result.mappings())
    finally:
        result.close()


@contextmanager
def rows_between(session: Session, since: dt.datetime, until: dt.datetime,
                 batch_size: int = 2000) -> Iterator[Iterator[RowMapping]]:
    """Entries that occurred in [since, until), in chain order, streamed."""
    stmt = (select(*ENTRY_COLUMNS)
            .where(ENTRY.c.occurred_at >= since, ENTRY.c.occurred_at < until)
            .order_by(ENTRY.c.seq))
    result = session.execute(stmt.execution_options(yield_per=batch_size))
    try:
        yield iter(result.mappings())
    finally:
        result.close()


def count_entries(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(ENTRY)).scalar_one())


def insert_anchor(session: Session, *, created_at: dt.datetime, through_seq: int, through_hash: str,
                  purged_count: int, cutoff: dt.datetime, retention_days: int) -> int:
    anchor = AuditAnchor(created_at=created_at, through_seq=through_seq, through_hash=through_hash,
                         purged_count=purged_count, cutoff=cutoff, retention_days=retention_days)
    session.add(anchor)
    session.flush()
    return int(anchor.id)


def delete_through(session: Session, through_seq: int) -> int:
    """Delete the entries up to ``through_seq``: the purge, the one delete path of the application.

    The database lets it through only for entries covered by an anchor, and on PostgreSQL only while the
    transaction-local setting ``maillage.audit_purge`` is on.
    """
    postgres = dialect_name(session) == "postgresql"
    if postgres:
        session.execute(text("SELECT set_config('maillage.audit_purge', 'on', true)"))
    result = session.execute(delete(AuditEntry).where(AuditEntry.seq <= through_seq))
    if postgres:
        session.execute(text("SELECT set_config('maillage.audit_purge', 'off', true)"))
    return int(getattr(result, "rowcount", 0) or 0)


def search(session: Session, filters: AuditFilters) -> list[AuditEntry]:
    """One page of entries, newest first; one row more than the page size tells whether a next page exists."""
    stmt = select(AuditEntry)
    if filters.patient_id is not None:
        stmt = stmt.where(AuditEntry.patient_id == filters.patient_id)
    if filters.actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == filters.actor_id)
    if filters.since is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEntry.occurred_at < filters.until)
    if filters.break_glass_only:
        stmt = stmt.where(AuditEntry.break_glass.is_(True))
    stmt = stmt.order_by(AuditEntry.seq.desc()).offset(filters.offset).limit(filters.page_size + 1)
    return list(session.scalars(stmt))


def recent_break_glass(session: Session, since: dt.datetime, limit: int) -> list[AuditEntry]:
    stmt = (select(AuditEntry)
            .where(AuditEntry.break_glass.is_(True), AuditEntry.occurred_at >= since)
            .order_by(AuditEntry.seq.desc()).limit(limit))
    return list(session.scalars(stmt))

