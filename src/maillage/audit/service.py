"""Use cases of the audit trail: record (same transaction), record a denial (own transaction), verify the
chain against its signed checkpoints, write a checkpoint, search it for the administrator, export it as FHIR,
purge it under the retention rule.

How ``record`` reaches the database (docs/adr/0004-audit-hash-chain.md): the entry is buffered in
``session.info``; a ``before_commit`` listener on every ``Session`` writes the buffered entries at commit
time, under a short chain lock, with consecutive ``seq`` numbers and their hashes (HMAC-SHA256 under the
active audit key, ``maillage.audit.keys``). A transaction that
rolls back takes its entries with it; entries recorded inside a savepoint that rolls back are dropped.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from maillage.audit import repository, rules
from maillage.audit.checkpoints import CheckpointStore, get_checkpoint_store
from maillage.audit.keys import AuditKeys, get_audit_keys
from maillage.audit.rules import AuditFilters, BreakKind, ChainBreak, ChainStart, Checkpoint
from maillage.exceptions import Conflict
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.models.audit import AuditEntry
from maillage.security.actor import Actor
from maillage.security.context import AuditContext

log = get_logger("maillage.audit")

PENDING_KEY = "maillage.audit.pending"
DetailValue = str | int | bool | None
BREAK_GLASS_REVIEW_DAYS = 30
BREAK_GLASS_REVIEW_LIMIT = 20


@dataclass
class _Pending:
    transaction: SessionTransaction | None
    row: dict[str, Any]
    patients: tuple[str, ...] = ()


# -- record -------------------------------------------------------------------------------------------


def record(
    session: Session,
    *,
    action: str,
    object_type: str,
    object_id: str | None = None,
    patient_id: str | None = None,
    actor_id: str | None = None,
    actor_role: str | None = None,
    establishment_id: str | None = None,
    purpose: str | None = None,
    outcome: str = "success",
    break_glass: bool = False,
    reason: str | None = None,
    context: AuditContext | None = None,
    details: dict[str, DetailValue] | None = None,
    list_patients: Iterable[str | uuid.UUID] | None = None,
) -> None:
    """Add an audit entry to the session's transaction: it is written when, and only if, that transaction commits.

    ``list_patients``: the patients a list read returned (a search, "my patients", a worklist). Each becomes a
    row of ``audit_entry_patient`` written with the entry, and the entry's hashed details hold their count and
    digest, so "who saw this patient" finds the list and the chain covers it.
    """
    context = context or AuditContext()
    patients: tuple[str, ...] = ()
    checked_details: Mapping[str, object] | None = details
    if list_patients is not None:
        if action != rules.LIST_ACTION:
            raise ValueError(f"audit list patients belong to a list read (action {rules.LIST_ACTION!r})")
        patients = rules.check_list_patients(list_patients)
        checked_details = rules.list_details(details, patients)
    if not isinstance(break_glass, bool):
        raise TypeError("break_glass must be a bool")
    object_type_clean = rules.clean_text("object_type", object_type)
    if object_type_clean is None:
        raise ValueError("audit object_type is required")
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "occurred_at": now(),
        "actor_id": rules.clean_text("actor_id", actor_id),
        "actor_role": rules.clean_text("actor_role", actor_role),
        "establishment_id": rules.clean_text("establishment_id", establishment_id),
        "action": rules.check_action(action),
        "object_type": object_type_clean,
        "object_id": rules.clean_text("object_id", object_id),
        "patient_id": rules.clean_text("patient_id", patient_id),
        "purpose": rules.clean_text("purpose", purpose),
        "break_glass": break_glass,
        "reason": rules.check_reason(break_glass, reason),
        "outcome": rules.check_outcome(outcome),
        "request_id": rules.clean_text("request_id", context.request_id),
        "address": rules.clean_text("address", context.address),
        "details": rules.check_details(checked_details),
    }
    if not session.in_transaction():
        session.begin()
    marker = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(PENDING_KEY, []).append(_Pending(marker, row, patients))


def record_denied(
    sessions: Callable[[], Session],
    *,
    action: str,
    object_type: str,
    object_id: str | None = None,
    patient_id: str | None = None,
    actor_id: str | None = None,
    actor_role: str | None = None,
    establishment_id: str | None = None,
    purpose: str | None = None,
    outcome: str = "denied",
    break_glass: bool = False,
    reason: str | None = None,
    context: AuditContext | None = None,
    details: dict[str, DetailValue] | None = None,
) -> None:
    """Record a refused or failed attempt in its own transaction, committed at once.

    For attempts whose own transaction will roll back (a 403, a failed login). On SQLite, call it before the
    caller's transaction has written anything: a transaction that has written holds the database lock.
    """
    if rules.check_outcome(outcome) == rules.Outcome.SUCCESS:
        raise ValueError("record_denied records denials and failures; use record() for successes")
    with sessions() as session:
        record(session, action=action, object_type=object_type, object_id=object_id, patient_id=patient_id,
               actor_id=actor_id, actor_role=actor_role, establishment_id=establishment_id, purpose=purpose,
               outcome=outcome, break_glass=break_glass, reason=reason, context=context, details=details)
        session.commit()


def pending_count(session: Session) -> int:
    """Entries recorded in this session and not yet written (for tests and diagnostics)."""
    return len(session.info.get(PENDING_KEY) or [])


def append_to_chain(session: Session, rows: list[dict[str, Any]]) -> None:
    """Give ``rows`` their place in the chain, seal them with the active audit key and insert them.

    Holds the chain lock until the transaction ends. One HMAC-SHA256 per entry, with a key already in memory.
    """
    key = get_audit_keys().active
    seq, prev = repository.lock_chain_and_read_head(session)
    for row in rows:
        seq += 1
        row["seq"] = seq
        row["prev_hash"] = prev
        row["key_id"] = key.id
        row["hash"] = prev = rules.keyed_chain_hash(key.chain_key, prev, rules.canonical_json(row))
    repository.insert_entries(session, rows)


def _write_pending(session: Session) -> None:
    pending: list[_Pending] | None = session.info.get(PENDING_KEY)
    if not pending or session.get_nested_transaction() is not None:
        # Nothing to write, or a savepoint is being released: its entries wait for the outer commit.
        return
    # The caller's own changes first, outside the chain lock (they may fail on their own constraints).
    session.flush()
    rows = [item.row for item in pending]
    listed = [{"entry_id": item.row["id"], "patient_id": pid} for item in pending for pid in item.patients]
    session.info[PENDING_KEY] = []
    append_to_chain(session, rows)
    if listed:
        repository.insert_list_patients(session, listed)


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    current = transaction
    while current is not None:
        if current is ended:
            return True
        current = current.parent
    return False


def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[_Pending] | None = session.info.get(PENDING_KEY)
    if not pending:
        return
    if previous_transaction.parent is None:
        session.info[PENDING_KEY] = []
        return
    session.info[PENDING_KEY] = [item for item in pending if not _within(item.transaction, previous_transaction)]


def _drop_at_end(session: Session, transaction: SessionTransaction) -> None:
    # The root transaction is over (committed, rolled back or closed): whatever was not written is void.
    if transaction.parent is None and session.info.get(PENDING_KEY):
        session.info[PENDING_KEY] = []


def _install_listeners() -> None:
    for name, listener in (("before_commit", _write_pending), ("after_soft_rollback", _drop_rolled_back),
                           ("after_transaction_end", _drop_at_end)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


_install_listeners()


# -- verify -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Walk:
    checked: int
    head_seq: int | None
    head_hash: str | None
    keyed_since: int | None
    broken: ChainBreak | None


def _walk(session: Session, *, expected_seq: int, expected_prev: str | None, keys: AuditKeys,
          keyed_since: int | None, pins: dict[int, list[Checkpoint]], batch_size: int,
          anchor: ChainStart | None = None) -> _Walk:
    """Check every entry from ``expected_seq`` on: its place, its link, its seal, and the checkpoints that pin it.

    ``expected_prev`` None accepts the first entry's own ``prev_hash`` and reads from ``expected_seq`` on (a walk
    that starts at a pinned entry); otherwise every row is read, so that one slipped in below the anchor shows.
    ``anchor`` asks for the purge entry that confirms it. Stops at the first fault.
    """
    chain_keys = keys.chain_keys
    confirmed = anchor is None or anchor.anchor_id is None
    checked = 0
    head_seq: int | None = None
    head_hash: str | None = None
    broken: ChainBreak | None = None
    after_seq = expected_seq - 1 if expected_prev is None else None
    with repository.chain_rows(session, after_seq=after_seq, batch_size=batch_size) as rows:
        for row in rows:
            prev = row["prev_hash"] if expected_prev is None else expected_prev
            broken = rules.check_link(row, expected_seq, prev, chain_keys, keyed_since)
            if broken is None:
                for checkpoint in pins.get(expected_seq, ()):
                    if checkpoint.hash != row["hash"]:
                        broken = ChainBreak(BreakKind.CHECKPOINT_MISMATCH, expected_seq, str(row["id"]),
                                            checkpoint=checkpoint.n)
                        break
            if broken is not None:
                break
            if keyed_since is None and row["key_id"] is not None:
                keyed_since = expected_seq
            if not confirmed and anchor is not None and rules.confirms_anchor(row, anchor):
                confirmed = True
            checked += 1
            head_seq, head_hash = expected_seq, str(row["hash"])
            expected_seq, expected_prev = expected_seq + 1, head_hash
    if broken is None and not confirmed and anchor is not None:
        broken = ChainBreak(BreakKind.UNCONFIRMED_ANCHOR, None, None, expected_seq=anchor.seq,
                            anchor_id=anchor.anchor_id)
    return _Walk(checked, head_seq, head_hash, keyed_since, broken)


def _pins(checkpoints: list[Checkpoint]) -> dict[int, list[Checkpoint]]:
    pins: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        pins.setdefault(checkpoint.seq, []).append(checkpoint)
    return pins


def _recorded_keyed_since(checkpoints: list[Checkpoint]) -> int | None:
    """The seq of the first keyed entry, as the first checkpoint that saw one recorded it."""
    return next((c.keyed_since for c in checkpoints if c.keyed_since is not None), None)


def _check_against_checkpoints(start: ChainStart, end: int, checkpoints: list[Checkpoint]) -> ChainBreak | None:
    """What the walk cannot see: a checkpoint at the purge anchor, and a head (``end``) older than the last
    checkpoint."""
    for checkpoint in checkpoints:
        if checkpoint.seq == start.seq and start.seq > 0 and checkpoint.hash != start.hash:
            return ChainBreak(BreakKind.CHECKPOINT_MISMATCH, start.seq, None, checkpoint=checkpoint.n)
    if checkpoints:
        last = checkpoints[-1]
        if end < last.seq:
            return ChainBreak(BreakKind.TRUNCATED, end, None, expected_seq=last.seq, checkpoint=last.n)
    return None


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    start: ChainStart
    head_seq: int | None
    head_hash: str | None
    broken: ChainBreak | None
    keyed_since: int | None = None
    checkpoints: int = 0
    last_checkpoint: Checkpoint | None = None
    store: str = ""

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def after_last_checkpoint(self) -> int:
        """Entries written after the last checkpoint: their deletion from the tail would go unnoticed."""
        head = self.head_seq if self.head_seq is not None else self.start.seq
        return head - (self.last_checkpoint.seq if self.last_checkpoint else 0)


def verify_chain(session: Session, *, batch_size: int = 5000, keys: AuditKeys | None = None,
                 store: CheckpointStore | None = None) -> VerifyReport:
    """Walk every entry in seq order from the anchor of the last purge (or the genesis), recompute each seal, and
    hold the chain against the signed checkpoints kept outside the database.

    Detects an entry edited (even with every following hash recomputed, without the audit key), a chain rewritten
    from any point before the last checkpoint, keyed entries rewritten unkeyed, and entries deleted from the tail
    up to the last checkpoint. Stops at the first fault. Streams the entries, so memory stays flat.
    """
    keys = keys or get_audit_keys()
    store = store if store is not None else get_checkpoint_store()
    checkpoints, register_fault = rules.check_checkpoints(store.read(), keys.checkpoint_keys)
    start = repository.chain_start(session)
    walk = _walk(session, expected_seq=start.seq + 1, expected_prev=start.hash, keys=keys,
                 keyed_since=_recorded_keyed_since(checkpoints), pins=_pins(checkpoints), batch_size=batch_size,
                 anchor=start)
    end = walk.head_seq if walk.head_seq is not None else start.seq
    broken = walk.broken or _check_against_checkpoints(start, end, checkpoints) or register_fault
    return VerifyReport(walk.checked, start, walk.head_seq, walk.head_hash, broken, keyed_since=walk.keyed_since,
                        checkpoints=len(checkpoints), last_checkpoint=checkpoints[-1] if checkpoints else None,
                        store=store.location)


# -- checkpoints --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointResult:
    written: Checkpoint | None   # None: the chain is empty or its head has not moved since the last checkpoint
    last: Checkpoint | None      # the newest checkpoint of the register after the call
    checked: int                 # entries verified before signing
    store: str


def write_checkpoint(session: Session, *, keys: AuditKeys | None = None, store: CheckpointStore | None = None,
                     batch_size: int = 5000) -> CheckpointResult:
    """Verify the entries written since the last checkpoint, then sign the head and append it to the store.

    Refuses (``Conflict``) when the register or the chain is broken: signing a tampered head would launder it.
    Idempotent: nothing is written while the head stays where the last checkpoint left it.
    """
    keys = keys or get_audit_keys()
    store = store if store is not None else get_checkpoint_store()
    records = store.read()
    checkpoints, register_fault = rules.check_checkpoints(records, keys.checkpoint_keys)
    if register_fault is not None:
        log.error("audit.checkpoint_refused", kind=register_fault.kind.value, checkpoint=register_fault.checkpoint)
        raise Conflict(f"Point de contrôle refusé : {register_fault.message}.")
    last = checkpoints[-1] if checkpoints else None
    start = repository.chain_start(session)
    keyed_since = _recorded_keyed_since(checkpoints)
    if last is not None and last.seq > start.seq:
        # Only what is new since the last checkpoint: its entry, still sealed and still the one it pinned, and after.
        walk = _walk(session, expected_seq=last.seq, expected_prev=None, keys=keys, keyed_since=keyed_since,
                     pins={last.seq: [last]}, batch_size=batch_size)
    else:
        walk = _walk(session, expected_seq=start.seq + 1, expected_prev=start.hash, keys=keys,
                     keyed_since=keyed_since, pins=_pins(checkpoints), batch_size=batch_size, anchor=start)
    end = walk.head_seq if walk.head_seq is not None else repository.chain_head(session)[0]
    broken = walk.broken or _check_against_checkpoints(start, end, checkpoints)
    if broken is not None:
        log.error("audit.checkpoint_refused", kind=broken.kind.value, seq=broken.seq)
        raise Conflict(f"Point de contrôle refusé : la chaîne d'audit est rompue ({broken.message}).")
    head_seq = walk.head_seq if walk.head_seq is not None else start.seq
    head_hash = walk.head_hash if walk.head_hash is not None else start.hash
    if head_seq == 0 or (last is not None and (last.seq, last.hash) == (head_seq, head_hash)):
        return CheckpointResult(None, last, walk.checked, store.location)
    checkpoint = Checkpoint(n=len(checkpoints) + 1, at=rules.format_timestamp(now()), seq=head_seq, hash=head_hash,
                            keyed_since=walk.keyed_since, key_id=keys.active.id,
                            prev=last.sig if last is not None else rules.CHECKPOINT_GENESIS)
    checkpoint = replace(checkpoint, sig=rules.checkpoint_signature(keys.active.checkpoint_key, checkpoint))
    store.append(checkpoint.record(), expected_count=len(records))
    log.info("audit.checkpoint_written", checkpoint=checkpoint.n, seq=head_seq)
    return CheckpointResult(checkpoint, checkpoint, walk.checked, store.location)


# -- purge --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeResult:
    purged: int
    cutoff: dt.datetime
    anchor_id: int | None = None
    through_seq: int | None = None


def purge(
    session: Session,
    *,
    retention_days: int,
    force: bool = False,
    actor_id: str | None = None,
    actor_role: str | None = None,
    context: AuditContext | None = None,
    batch_size: int = 5000,
) -> PurgeResult:
    """Delete the oldest entries, those older than the retention, and anchor the chain where they end.

    Deletes the longest prefix of the chain whose entries all occurred before the cutoff, after checking that
    prefix (a broken chain is evidence: it is never purged). Writes an anchor (last purged seq and hash)
    and a ``purge`` entry in the chain that confirms the anchor. Refuses a retention under six months
    unless forced.
    """
    rules.check_retention(retention_days, force=force)
    at = now()
    cutoff = rules.retention_cutoff(at, retention_days)
    chain_keys = get_audit_keys().chain_keys
    repository.acquire_chain_lock(session)
    start = repository.chain_start(session)
    expected_seq, expected_prev = start.seq + 1, start.hash
    keyed_since: int | None = None
    count = 0
    with repository.chain_rows(session, batch_size=batch_size) as rows:
        for row in rows:
            if row["occurred_at"] >= cutoff:
                break
            broken = rules.check_link(row, expected_seq, expected_prev, chain_keys, keyed_since)
            if keyed_since is None and row["key_id"] is not None:
                keyed_since = expected_seq
            if broken is not None:
                log.error("audit.purge_refused", seq=broken.seq, kind=broken.kind.value)
                raise Conflict(f"Purge refusée : la chaîne d'audit est rompue ({broken.message}). "
                               "Les entrées sont conservées comme preuve.")
            count += 1
            expected_seq, expected_prev = expected_seq + 1, str(row["hash"])
    if count == 0:
        return PurgeResult(0, cutoff)
    through_seq, through_hash = expected_seq - 1, expected_prev
    anchor_id = repository.insert_anchor(session, created_at=at, through_seq=through_seq, through_hash=through_hash,
                                         purged_count=count, cutoff=cutoff, retention_days=retention_days)
    deleted = repository.delete_through(session, through_seq)
    if deleted != count:
        raise Conflict("Purge interrompue : le nombre d'entrées supprimées ne correspond pas à la vérification.")
    record(session, action="purge", object_type="audit_anchor", object_id=str(anchor_id), actor_id=actor_id,
           actor_role=actor_role, context=context,
           details={"through_seq": through_seq, "through_hash": through_hash, "purged": count,
                    "retention_days": retention_days})
    log.info("audit.purged", purged=count, through_seq=through_seq, anchor_id=anchor_id)
    return PurgeResult(count, cutoff, anchor_id, through_seq)


# -- administrator's page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    filters: AuditFilters
    entries: list[AuditEntry]
    has_next: bool
    break_glass_review: list[AuditEntry] = field(default_factory=list)
    # Names of the accounts behind the actor ids shown, by id.
    actor_names: dict[str, str] = field(default_factory=dict)
    # The records merged into the filtered patient's: their entries are shown too.
    merged_ids: list[str] = field(default_factory=list)
    # For each list read shown (by entry id): the patients it returned.
    list_patients: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    # How many entries the filters select, all pages together.
    total: int = 0
    # Names of the establishments behind the establishment ids shown, by id.
    establishment_names: dict[str, str] = field(default_factory=dict)

    @property
    def first_number(self) -> int:
        """The rank of the page's first entry among all the selected ones (0 when there is none)."""
        return self.filters.offset + 1 if self.entries else 0

    @property
    def last_number(self) -> int:
        return self.filters.offset + len(self.entries)

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total // self.filters.page_size))


def search_trail(session: Session, filters: AuditFilters, *, actor: Actor,
                 context: AuditContext | None = None) -> SearchResult:
    """One page of the trail for the administrator, and the recent break-the-glass accesses to review.

    Filtered by patient, it answers "who saw this patient": the entries about them, the list reads (searches,
    "my patients", worklists) that returned them, and the same for the records merged into theirs.
    Looking at the trail is itself traced (action ``search`` on ``audit``).
    """
    merged = repository.merged_into(session, filters.patient_id) if filters.patient_id is not None else []
    # The actor filter takes an id, a username or part of a display name.
    accounts = repository.accounts_matching(session, filters.actor_id) if filters.actor_id is not None else []
    found = repository.search(session, filters, merged, accounts)
    total = repository.count(session, filters, merged, accounts)
    review = repository.recent_break_glass(session, now() - dt.timedelta(days=BREAK_GLASS_REVIEW_DAYS),
                                           BREAK_GLASS_REVIEW_LIMIT)
    entries = found[: filters.page_size]
    names = repository.actor_names(session, [e.actor_id for e in [*entries, *review] if e.actor_id])
    lists = [e.id for e in entries
             if e.action == rules.LIST_ACTION and e.details and rules.LIST_DIGEST_KEY in e.details]
    listed = repository.list_patients_of(session, lists)
    places = repository.establishment_names(session, [e.establishment_id for e in entries if e.establishment_id])
    who = actor.audit_fields
    details: dict[str, DetailValue] = {"filter_actor_id": filters.actor_id,
                                       "break_glass_only": filters.break_glass_only,
                                       "page": filters.page, "results": len(entries)}
    if merged:
        details["merged_records"] = len(merged)
    if filters.actor_id is not None:
        details["filter_actor_accounts"] = len(accounts)
    record(session, action="search", object_type="audit", patient_id=filters.patient_id,
           actor_id=who["actor_id"], actor_role=who["actor_role"], establishment_id=who["establishment_id"],
           context=context, details=details)
    return SearchResult(filters, entries, len(found) > filters.page_size, review, names, merged, listed, total,
                        places)


def account_names(session: Session, actor_ids: Iterable[str]) -> dict[str, str]:
    """Display names of the accounts behind these ids (for the pages that show who did what)."""
    return repository.actor_names(session, [i for i in actor_ids if i])


# -- the patients of list reads -----------------------------------------------------------------------


@dataclass(frozen=True)
class ListMismatch:
    """A list read whose stored patients do not match the digest its hashed entry holds (or rows without entry)."""

    entry_id: uuid.UUID
    seq: int | None
    expected: int | None
    found: int


def verify_list_patients(session: Session, *, batch_size: int = 5000) -> list[ListMismatch]:
    """Check ``audit_entry_patient`` against the chain: each list read's rows hash to the digest of its entry.

    The entries' own hashes are checked by ``verify_chain``; this finds patient rows added, removed or moved
    around the triggers (a row inserted for an entry that listed no patient, or a row missing). Streams both
    sides, so memory holds one entry's patients at a time (plus the ids of list reads checked).
    """
    expected: dict[uuid.UUID, tuple[int, int, str]] = {}
    with repository.list_digests(session, rules.LIST_ACTION, rules.LIST_DIGEST_KEY, batch_size=batch_size) as rows:
        for row in rows:
            details = row["details"]
            expected[row["id"]] = (int(row["seq"]), int(details.get(rules.LIST_PATIENTS_KEY) or 0),
                                   str(details[rules.LIST_DIGEST_KEY]))
    mismatches: list[ListMismatch] = []
    seen: set[uuid.UUID] = set()

    def check(entry_id: uuid.UUID, patients: list[str]) -> None:
        seen.add(entry_id)
        want = expected.get(entry_id)
        if want is None:
            mismatches.append(ListMismatch(entry_id, None, None, len(patients)))
        elif rules.list_patients_digest(tuple(patients)) != want[2] or len(patients) != want[1]:
            mismatches.append(ListMismatch(entry_id, want[0], want[1], len(patients)))

    with repository.listed_by_entry(session, batch_size=batch_size) as pairs:
        current: uuid.UUID | None = None
        group: list[str] = []
        for entry_id, patient_id in pairs:
            if entry_id != current:
                if current is not None:
                    check(current, group)
                current, group = entry_id, []
            group.append(patient_id)
        if current is not None:
            check(current, group)
    for entry_id, (seq, count, digest) in expected.items():
        if entry_id not in seen and digest != rules.list_patients_digest(()):
            mismatches.append(ListMismatch(entry_id, seq, count, 0))
    return sorted(mismatches, key=lambda m: (m.seq is None, m.seq or 0))


# -- export -------------------------------------------------------------------------------------------


def _with_list_patients(session: Session, rows: Iterable[Mapping[Any, Any]],
                        chunk: int = 500) -> Iterator[Mapping[Any, Any]]:
    """The entries, each list read with the patients it returned under ``list_patients`` (one query per chunk)."""
    batch: list[Mapping[Any, Any]] = []

    def flush() -> Iterator[Mapping[Any, Any]]:
        lists = [r["id"] for r in batch if r["action"] == rules.LIST_ACTION and isinstance(r["details"], dict)
                 and rules.LIST_DIGEST_KEY in r["details"]]
        listed = repository.list_patients_of(session, lists)
        for r in batch:
            yield {**r, "list_patients": listed.get(r["id"], [])} if r["id"] in listed else r

    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            yield from flush()
            batch = []
    yield from flush()


def export_fhir(session: Session, since: dt.datetime, until: dt.datetime, out: IO[str], *,
                actor_id: str | None = None, actor_role: str | None = None,
                context: AuditContext | None = None) -> int:
    """Write the entries that occurred in [since, until) as a FHIR R4 (R4B models) Bundle of AuditEvents.

    Returns the number of entries written; the export is itself traced.
    """
    from maillage.audit import fhir

    if since >= until:
        raise Conflict("La période d'export est vide : la date de début doit précéder la date de fin.")
    with repository.rows_between(session, since, until) as rows:
        count = fhir.write_bundle(_with_list_patients(session, rows), out, timestamp=now())
    record(session, action="export", object_type="audit", actor_id=actor_id, actor_role=actor_role,
           context=context, details={"format": "fhir_r4_bundle", "entries": count,
                                     "since": rules.format_timestamp(since), "until": rules.format_timestamp(until)})
    return count

