"""Every query of the audit trail. Writes are appends, anchors and the purge's delete; nothing updates."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import RowMapping, Table, delete, func, insert, or_, select, text
from sqlalchemy.orm import Session

from maillage.audit.rules import AuditFilters, ChainStart
from maillage.models.audit import AuditAnchor, AuditEntry, AuditEntryPatient
from maillage.models.auth import UserAccount
from maillage.models.directory import Establishment
from maillage.models.patient import IdentityMerge

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


_PG_LOCK_THEN_HEAD = (  # 1096107092 is AUDIT_LOCK_NAMESPACE (a test holds them equal)
    "SELECT pg_advisory_xact_lock(CAST(1096107092 AS bigint) * 4294967296 "
    "+ CAST(CAST(CAST('audit_entry' AS regclass) AS oid) AS bigint)); "
    "SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1"
)


def lock_chain_and_read_head(session: Session) -> tuple[int, str]:
    """``acquire_chain_lock`` then ``chain_head``: on PostgreSQL in one round trip, as two statements of one query
    string. Under READ COMMITTED each statement takes its own snapshot when it starts, so the head is read after
    the lock is granted and sees the previous holder's commit, exactly as when the two are sent one by one; the
    lock is held one round trip less (it is held until the commit, and every appender waits for it)."""
    if dialect_name(session) != "postgresql":
        acquire_chain_lock(session)
        return chain_head(session)
    driver = session.connection().connection.dbapi_connection
    assert driver is not None
    cursor: Any = driver.cursor()
    try:
        cursor.execute(_PG_LOCK_THEN_HEAD)  # no parameters: the simple query protocol, which allows two statements
        cursor.nextset()
        last = cursor.fetchone()
    finally:
        cursor.close()
    if last is not None:
        return int(last[0]), str(last[1])
    start = chain_start(session)
    return start.seq, start.hash


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


LISTED = cast(Table, AuditEntryPatient.__table__)


def insert_list_patients(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """The patients of list reads, ``{"entry_id", "patient_id"}``: one multi-row insert (executemany)."""
    session.connection().execute(insert(LISTED), list(rows))


def list_patients_of(session: Session, entry_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The patients each of these list reads returned, sorted."""
    out: dict[uuid.UUID, list[str]] = {}
    if not entry_ids:
        return out
    stmt = (select(LISTED.c.entry_id, LISTED.c.patient_id).where(LISTED.c.entry_id.in_(list(entry_ids)))
            .order_by(LISTED.c.entry_id, LISTED.c.patient_id))
    for entry_id, patient_id in session.execute(stmt):
        out.setdefault(entry_id, []).append(patient_id)
    return out


@contextmanager
def listed_by_entry(session: Session, batch_size: int = 5000) -> Iterator[Iterator[tuple[uuid.UUID, str]]]:
    """Every (entry id, patient id) of list reads, grouped by entry, streamed (for the verification)."""
    stmt = select(LISTED.c.entry_id, LISTED.c.patient_id).order_by(LISTED.c.entry_id, LISTED.c.patient_id)
    result = session.execute(stmt.execution_options(yield_per=batch_size))
    try:
        yield ((row[0], row[1]) for row in result)
    finally:
        result.close()


@contextmanager
def list_digests(session: Session, action: str, key: str,
                 batch_size: int = 5000) -> Iterator[Iterator[RowMapping]]:
    """Seq, id and details of the list reads (``action`` entries whose details hold ``key``), in seq order."""
    stmt = select(ENTRY.c.seq, ENTRY.c.id, ENTRY.c.details).where(ENTRY.c.action == action).order_by(ENTRY.c.seq)
    result = session.execute(stmt.execution_options(yield_per=batch_size))
    try:
        yield (row for row in result.mappings() if isinstance(row["details"], dict) and key in row["details"])
    finally:
        result.close()


def merged_into(session: Session, patient_id: str) -> list[str]:
    """The records merged, directly or through other merges, into this one (merges not undone), as audit ids."""
    try:
        kept = uuid.UUID(patient_id)
    except ValueError:
        return []
    found: list[str] = []
    seen = {kept}
    frontier = [kept]
    while frontier and len(seen) < 1000:
        rows = session.scalars(select(IdentityMerge.merged_patient_id).where(
            IdentityMerge.kept_patient_id.in_(frontier), IdentityMerge.unmerged_at.is_(None))).all()
        frontier = [r for r in rows if r not in seen]
        seen.update(frontier)
        found.extend(str(r) for r in frontier)
    return found


def actor_names(session: Session, actor_ids: Sequence[str]) -> dict[str, str]:
    """Display names of the accounts behind these audit actor ids (ids that are not accounts are left out)."""
    ids = _uuids(actor_ids)
    if not ids:
        return {}
    rows = session.execute(select(UserAccount.id, UserAccount.display_name).where(UserAccount.id.in_(ids)))
    return {str(i): name for i, name in rows}


def _uuids(raw_ids: Sequence[str | None]) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for raw in raw_ids:
        try:
            ids.add(uuid.UUID(str(raw)))
        except (TypeError, ValueError):
            continue
    return ids


def establishment_names(session: Session, establishment_ids: Sequence[str]) -> dict[str, str]:
    """Names of the establishments behind these audit establishment ids (unknown ids are left out)."""
    ids = _uuids(establishment_ids)
    if not ids:
        return {}
    rows = session.execute(select(Establishment.id, Establishment.name).where(Establishment.id.in_(ids)))
    return {str(i): name for i, name in rows}


MAX_MATCHED_ACTORS = 50


def accounts_matching(session: Session, query: str) -> list[str]:
    """Ids of the accounts whose username or display name contains ``query`` (case-insensitive), at most 50."""
    needle = query.strip().lower()
    if not needle:
        return []
    stmt = (select(UserAccount.id)
            .where(or_(func.lower(UserAccount.username).contains(needle, autoescape=True),
                       func.lower(UserAccount.display_name).contains(needle, autoescape=True)))
            .order_by(UserAccount.username).limit(MAX_MATCHED_ACTORS))
    return [str(i) for i in session.scalars(stmt)]


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


def patient_seen(patient_id: str, merged: Sequence[str] = ()) -> Any:
    """Entries about the patient (or a record merged into it), and list reads that returned one of them."""
    ids = [patient_id, *merged]
    listed = select(LISTED.c.entry_id).where(LISTED.c.patient_id.in_(ids))
    return or_(AuditEntry.patient_id.in_(ids), AuditEntry.id.in_(listed))


def _filtered(stmt: Any, filters: AuditFilters, merged: Sequence[str], actor_ids: Sequence[str]) -> Any:
    if filters.patient_id is not None:
        stmt = stmt.where(patient_seen(filters.patient_id, merged))
    if filters.actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id.in_([filters.actor_id, *actor_ids]))
    if filters.since is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEntry.occurred_at < filters.until)
    if filters.break_glass_only:
        stmt = stmt.where(AuditEntry.break_glass.is_(True))
    return stmt


def search(session: Session, filters: AuditFilters, merged: Sequence[str] = (),
           actor_ids: Sequence[str] = ()) -> list[AuditEntry]:
    """One page of entries, newest first; one row more than the page size tells whether a next page exists.

    By patient: the entries about them and the list reads that returned them, and the same for the records
    ``merged`` into theirs. By actor: the entries whose actor id is the one typed or one of ``actor_ids`` (the
    accounts whose name matched it).
    """
    stmt = _filtered(select(AuditEntry), filters, merged, actor_ids)
    stmt = stmt.order_by(AuditEntry.seq.desc()).offset(filters.offset).limit(filters.page_size + 1)
    return list(session.scalars(stmt))


def count(session: Session, filters: AuditFilters, merged: Sequence[str] = (), actor_ids: Sequence[str] = ()) -> int:
    """How many entries the filters select, all pages together."""
    return int(session.scalar(_filtered(select(func.count()).select_from(AuditEntry), filters, merged,
                                         actor_ids)) or 0)


def recent_break_glass(session: Session, since: dt.datetime, limit: int) -> list[AuditEntry]:
    stmt = (select(AuditEntry)
            .where(AuditEntry.break_glass.is_(True), AuditEntry.occurred_at >= since)
            .order_by(AuditEntry.seq.desc()).limit(limit))
    return list(session.scalars(stmt))
