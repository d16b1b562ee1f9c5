"""The audit service: entries written at commit under the chain lock, rollbacks, denials, verification,
tampering, purges and concurrent writers, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import Uuid, bindparam, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from maillage.audit import rules, service
from maillage.audit.rules import BreakKind
from maillage.exceptions import Conflict, ValidationFailed
from maillage.kit import clock
from maillage.kit.db import PortableJSON, UTCDateTime
from maillage.models.audit import AuditAnchor, AuditEntry, AuditEntryPatient
from maillage.models.patient import IdentityMerge, Patient
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.roles import Role
from tests.audit.conftest import TEST_KEYS
from tests.conftest import postgresql_only, run_migrations

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
# What a forger who knows the format but not the audit key has to use instead.
GUESSED_KEY = b"\x00" * 32


def seqs(session):
    return list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))


class TestRecord:
    """With the shared fixture: sessions whose commits are savepoints of a rolled-back test transaction."""

    def test_an_entry_is_written_at_commit_with_every_field(self, db):
        service.record(db, action="read", object_type="observation", object_id="obs-1", patient_id="p-1",
                       actor_id="u-1", actor_role="physician", establishment_id="e-1", purpose="care",
                       context=AuditContext(request_id="req-0001", address="10.0.0.8"),
                       details={"count": 2})
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert service.pending_count(db) == 1
        db.commit()
        entry = db.scalars(select(AuditEntry)).one()
        assert (entry.seq, entry.action, entry.object_type, entry.object_id, entry.patient_id, entry.actor_id,
                entry.actor_role, entry.establishment_id, entry.purpose, entry.outcome, entry.request_id,
                entry.address, entry.details, entry.break_glass) == (
            1, "read", "observation", "obs-1", "p-1", "u-1", "physician", "e-1", "care", "success", "req-0001",
            "10.0.0.8", {"count": 2}, False)
        assert entry.prev_hash == rules.GENESIS_HASH
        assert entry.key_id == "test-2026"
        assert entry.hash == rules.entry_hash({c: getattr(entry, c) for c in rules.KEYED_CHAIN_FIELDS},
                                              TEST_KEYS.chain_keys["test-2026"])
        assert service.pending_count(db) == 0

    def test_several_commits_make_one_verified_chain(self, db):
        for i in range(3):
            service.record(db, action="read", object_type="patient", patient_id=f"p-{i}")
            service.record(db, action="update", object_type="patient", patient_id=f"p-{i}")
            db.commit()
        assert seqs(db) == [1, 2, 3, 4, 5, 6]
        report = service.verify_chain(db)
        assert report.ok and report.checked == 6 and report.head_seq == 6

    def test_takes_the_actor_fields_of_an_actor(self, db):
        actor = Actor(user_id=uuid.uuid4(), username="dr", display_name="Dr", role=Role.PHYSICIAN,
                      current_establishment_id=uuid.uuid4())
        service.record(db, action="read", object_type="patient", **actor.audit_fields)  # type: ignore[arg-type]
        db.commit()
        entry = db.scalars(select(AuditEntry)).one()
        assert (entry.actor_id, entry.actor_role, entry.establishment_id) == (
            str(actor.user_id), "physician", str(actor.current_establishment_id))

    def test_entries_of_a_rolled_back_transaction_vanish(self, db):
        service.record(db, action="read", object_type="patient", patient_id="gone")
        db.rollback()
        service.record(db, action="read", object_type="patient", patient_id="kept")
        db.commit()
        assert db.scalars(select(AuditEntry.patient_id)).all() == ["kept"]

    def test_entries_of_a_rolled_back_savepoint_vanish_and_the_others_stay(self, db):
        service.record(db, action="read", object_type="patient", patient_id="before")
        savepoint = db.begin_nested()
        service.record(db, action="update", object_type="patient", patient_id="inside")
        savepoint.rollback()
        with db.begin_nested():
            service.record(db, action="update", object_type="patient", patient_id="released")
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == 0, "written before the outer commit"
        db.commit()
        assert db.scalars(select(AuditEntry.patient_id).order_by(AuditEntry.seq)).all() == ["before", "released"]

    def test_a_break_the_glass_entry_needs_a_reason(self, db):
        with pytest.raises(ValidationFailed):
            service.record(db, action="read", object_type="patient", break_glass=True)
        service.record(db, action="read", object_type="patient", break_glass=True, reason="Détresse respiratoire")
        db.commit()
        assert db.scalars(select(AuditEntry.reason)).one() == "Détresse respiratoire"

    def test_bad_input_from_code_is_refused_before_anything_is_buffered(self, db):
        for kwargs in ({"action": "Lire"}, {"outcome": "ok"}, {"details": {"name": "Dupont"}},
                       {"patient_id": "x" * 65}, {"object_type": ""}):
            with pytest.raises((ValueError, TypeError)):
                service.record(db, **{"action": "read", "object_type": "patient", **kwargs})
        assert service.pending_count(db) == 0

    def test_the_application_cannot_update_or_delete_an_entry(self, db, backend):
        """Append-only: triggers refuse UPDATE and DELETE outside the purge (PostgreSQL and SQLite)."""
        service.record(db, action="read", object_type="patient")
        db.commit()
        with pytest.raises(DBAPIError, match="ajout seul"):
            db.execute(update(AuditEntry).values(patient_id="changed"))
        db.rollback()
        with pytest.raises(DBAPIError, match="ajout seul"):
            db.execute(delete(AuditEntry))
        db.rollback()
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == 1


class TestRecordOnCommittedDatabases:
    def test_a_plain_session_writes_a_verified_chain_across_commits(self, chain_db):
        for n in (1, 3, 2):
            chain_db.record(n)
        assert [r[0] for r in chain_db.rows("SELECT seq FROM audit_entry ORDER BY seq")] == [1, 2, 3, 4, 5, 6]
        report = chain_db.verify()
        assert report.ok and report.checked == 6

    def test_a_rolled_back_transaction_leaves_no_entry(self, chain_db):
        with chain_db.sessions() as session:
            service.record(session, action="read", object_type="patient")
            session.rollback()
        with chain_db.sessions() as session:
            service.record(session, action="read", object_type="patient")
        # closed without commit
        assert chain_db.scalar("SELECT count(*) FROM audit_entry") == 0


class TestRecordDenied:
    def test_a_denial_survives_the_rollback_of_the_callers_transaction(self, chain_db):
        with chain_db.sessions() as session:
            service.record(session, action="read", object_type="patient", patient_id="p-1")
            service.record_denied(chain_db.sessions, action="read", object_type="patient", patient_id="p-1",
                                  actor_id="u-9", actor_role="nurse")
            session.rollback()
        rows = chain_db.rows("SELECT outcome, actor_id FROM audit_entry")
        assert [tuple(r) for r in rows] == [("denied", "u-9")]
        assert chain_db.verify().ok

    def test_records_failures_too_but_never_successes(self, chain_db):
        service.record_denied(chain_db.sessions, action="login", object_type="user_account", outcome="failure")
        assert chain_db.scalar("SELECT outcome FROM audit_entry") == "failure"
        with pytest.raises(ValueError):
            service.record_denied(chain_db.sessions, action="read", object_type="patient", outcome="success")


class TestVerifyChain:
    def test_an_empty_trail_is_intact(self, chain_db):
        report = chain_db.verify()
        assert report.ok and report.checked == 0 and report.head_seq is None

    def test_a_modified_field_names_the_modified_entry(self, chain_db):
        chain_db.record(5)
        chain_db.as_dba("UPDATE audit_entry SET patient_id = 'patient-2' WHERE seq = 3")
        broken = chain_db.verify().broken
        assert broken is not None
        assert (broken.kind, broken.seq, broken.entry_id) == (BreakKind.MODIFIED, 3, chain_db.entry_id(3))

    def test_a_modified_entry_whose_hash_is_recomputed_without_the_key_is_named(self, chain_db):
        chain_db.record(5)
        with chain_db.sessions() as s:
            row = s.execute(select(AuditEntry.__table__).where(AuditEntry.seq == 3)).mappings().one()
        forged = {**row, "outcome": "denied"}
        chain_db.as_dba("UPDATE audit_entry SET outcome = 'denied', hash = :h WHERE seq = 3",
                        h=rules.entry_hash(forged, GUESSED_KEY))
        broken = chain_db.verify().broken
        assert broken is not None
        assert (broken.kind, broken.seq, broken.entry_id) == (BreakKind.MODIFIED, 3, chain_db.entry_id(3))

    def test_a_deleted_middle_entry_is_a_gap_named_at_the_next_entry(self, chain_db):
        chain_db.record(5)
        chain_db.as_dba("DELETE FROM audit_entry WHERE seq = 3")
        broken = chain_db.verify().broken
        assert broken is not None
        assert (broken.kind, broken.seq, broken.expected_seq, broken.entry_id) == (
            BreakKind.MISSING, 4, 3, chain_db.entry_id(4))
        assert "le numéro 3 était attendu, 4 trouvé" in broken.message

    def test_a_deletion_hidden_by_renumbering_is_still_caught(self, chain_db):
        chain_db.record(5)
        old_fourth = chain_db.entry_id(4)
        chain_db.as_dba("DELETE FROM audit_entry WHERE seq = 3",
                        "UPDATE audit_entry SET seq = seq + 1000000 WHERE seq > 3",
                        "UPDATE audit_entry SET seq = seq - 1000001 WHERE seq > 1000000")
        broken = chain_db.verify().broken
        assert broken is not None
        assert (broken.kind, broken.seq, broken.entry_id) == (BreakKind.RELINKED, 3, old_fourth)

    def test_two_swapped_entries_are_caught_at_the_first_position(self, chain_db):
        chain_db.record(5)
        second, third = chain_db.entry_id(2), chain_db.entry_id(3)
        chain_db.as_dba("UPDATE audit_entry SET seq = 1000002 WHERE seq = 2",
                        "UPDATE audit_entry SET seq = 2 WHERE seq = 3",
                        "UPDATE audit_entry SET seq = 3 WHERE seq = 1000002")
        broken = chain_db.verify().broken
        assert broken is not None
        assert (broken.kind, broken.seq, broken.entry_id) == (BreakKind.RELINKED, 2, third)
        assert second != third

    def test_a_forged_entry_inserted_between_two_is_caught_at_the_forged_entry(self, chain_db):
        """The forger knows the format and links the inserted entry right, but cannot seal it without the key."""
        chain_db.record(5)
        with chain_db.sessions() as s:
            second = s.execute(select(AuditEntry.__table__).where(AuditEntry.seq == 2)).mappings().one()
        forged = {**second, "id": uuid.uuid4(), "seq": 3, "prev_hash": second["hash"], "patient_id": "alibi"}
        forged["hash"] = rules.entry_hash(forged, GUESSED_KEY)
        chain_db.as_dba("UPDATE audit_entry SET seq = seq + 1000000 WHERE seq >= 3",
                        "UPDATE audit_entry SET seq = seq - 999999 WHERE seq > 1000000")
        with chain_db.engine.begin() as conn:
            conn.execute(AuditEntry.__table__.insert(), [forged])
        broken = chain_db.verify().broken
        assert broken is not None
        assert (broken.kind, broken.seq, broken.entry_id) == (BreakKind.MODIFIED, 3, str(forged["id"]))

    def test_an_entry_appended_out_of_order_is_named(self, chain_db):
        chain_db.record(5)
        with chain_db.sessions() as s:
            second = s.execute(select(AuditEntry.__table__).where(AuditEntry.seq == 2)).mappings().one()
        forged = {**second, "id": uuid.uuid4(), "seq": 6, "prev_hash": second["hash"]}
        forged["hash"] = rules.entry_hash(forged, GUESSED_KEY)
        with chain_db.engine.begin() as conn:
            conn.execute(AuditEntry.__table__.insert(), [forged])
        broken = chain_db.verify().broken
        assert broken is not None
        assert (broken.kind, broken.seq, broken.entry_id) == (BreakKind.RELINKED, 6, str(forged["id"]))

    def test_verification_streams_in_batches_smaller_than_the_trail(self, chain_db):
        chain_db.record(250)
        with chain_db.sessions() as session:
            report = service.verify_chain(session, batch_size=100)
        assert report.ok and report.checked == 250


class TestPurge:
    def _old_and_new(self, chain_db, old=4, new=3):
        with clock.frozen(START) as c:
            chain_db.record(old)
            c.advance(dt.timedelta(days=200))
            chain_db.record(new)
            return c.now

    def _purge(self, chain_db, days=183, **kw):
        with chain_db.sessions() as session:
            result = service.purge(session, retention_days=days, actor_id="os:admin", actor_role="cli", **kw)
            session.commit()
        return result

    def test_deletes_entries_older_than_the_retention_and_keeps_the_chain_verifiable(self, chain_db):
        at = self._old_and_new(chain_db)
        with clock.frozen(at):
            result = self._purge(chain_db)
        assert (result.purged, result.through_seq) == (4, 4)
        assert [r[0] for r in chain_db.rows("SELECT seq FROM audit_entry ORDER BY seq")] == [5, 6, 7, 8]
        anchor = chain_db.rows("SELECT id, through_seq, purged_count, retention_days FROM audit_anchor")
        assert [tuple(r) for r in anchor] == [(result.anchor_id, 4, 4, 183)]
        report = chain_db.verify()
        assert report.ok and report.checked == 4 and report.start.anchor_id == result.anchor_id
        purge_entry = chain_db.rows("SELECT action, object_type, object_id, actor_id FROM audit_entry WHERE seq = 8")
        assert tuple(purge_entry[0]) == ("purge", "audit_anchor", str(result.anchor_id), "os:admin")
        chain_db.record(2)
        assert chain_db.verify().ok

    def test_nothing_old_enough_means_nothing_purged_and_no_anchor(self, chain_db):
        chain_db.record(3)
        assert self._purge(chain_db).purged == 0
        assert chain_db.scalar("SELECT count(*) FROM audit_anchor") == 0
        assert chain_db.scalar("SELECT count(*) FROM audit_entry") == 3

    def test_a_second_purge_starts_from_the_first_anchor(self, chain_db):
        with clock.frozen(START) as c:
            chain_db.record(2)
            c.advance(dt.timedelta(days=100))
            chain_db.record(2)
            c.advance(dt.timedelta(days=100))
            assert self._purge(chain_db).purged == 2
            c.advance(dt.timedelta(days=100))
            second = self._purge(chain_db)
            assert (second.purged, second.through_seq) == (2, 4)
            assert chain_db.verify().ok
            c.advance(dt.timedelta(days=200))
            third = self._purge(chain_db)
        assert (third.purged, third.through_seq) == (2, 6)   # the entries of the first two purges
        report = chain_db.verify()
        assert report.ok and report.start.anchor_id == third.anchor_id and report.checked == 1

    def test_purging_every_entry_continues_the_chain_from_the_anchor(self, chain_db):
        with clock.frozen(START) as c:
            chain_db.record(3)
            c.advance(dt.timedelta(days=400))
            result = self._purge(chain_db)
            chain_db.record(1)
        assert result.purged == 3
        assert [r[0] for r in chain_db.rows("SELECT seq FROM audit_entry ORDER BY seq")] == [4, 5]
        assert chain_db.verify().ok

    def test_only_the_oldest_uninterrupted_run_is_purged(self, chain_db):
        """An entry committed later but recorded earlier never lets a younger one before it be purged."""
        with clock.frozen(START) as c:
            chain_db.record(1)
            c.advance(dt.timedelta(days=100))
            chain_db.record(1)
            c.advance(dt.timedelta(days=-99))
            chain_db.record(1)   # occurred on day 1, third in the chain
            c.advance(dt.timedelta(days=99 + 84))   # day 184
            result = self._purge(chain_db)
        assert result.purged == 1
        assert [r[0] for r in chain_db.rows("SELECT seq FROM audit_entry ORDER BY seq")] == [2, 3, 4]

    def test_a_retention_under_six_months_is_refused_unless_forced(self, chain_db):
        at = self._old_and_new(chain_db)
        with clock.frozen(at), chain_db.sessions() as session, pytest.raises(ValidationFailed, match="183"):
            service.purge(session, retention_days=30)
        with clock.frozen(at):
            assert self._purge(chain_db, days=30, force=True).purged == 4

    def test_a_broken_prefix_is_never_purged(self, chain_db):
        at = self._old_and_new(chain_db)
        chain_db.as_dba("UPDATE audit_entry SET actor_id = 'someone' WHERE seq = 2")
        with clock.frozen(at), chain_db.sessions() as session, pytest.raises(Conflict, match="n° 2"):
            service.purge(session, retention_days=183)
        assert chain_db.scalar("SELECT count(*) FROM audit_entry") == 7
        assert chain_db.scalar("SELECT count(*) FROM audit_anchor") == 0

    def test_deleting_the_first_entry_after_the_anchor_is_detected(self, chain_db):
        at = self._old_and_new(chain_db)
        with clock.frozen(at):
            self._purge(chain_db)
        chain_db.as_dba("DELETE FROM audit_entry WHERE seq = 5")
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.seq) == (BreakKind.MISSING, 6)

    def test_deleting_the_anchor_is_detected(self, chain_db):
        at = self._old_and_new(chain_db)
        with clock.frozen(at):
            self._purge(chain_db)
        chain_db.as_dba("DELETE FROM audit_anchor")
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.seq, broken.expected_seq) == (BreakKind.MISSING, 5, 1)

    def test_a_forged_anchor_that_hides_deleted_entries_is_detected(self, chain_db):
        chain_db.record(5)
        third_hash = chain_db.scalar("SELECT hash FROM audit_entry WHERE seq = 3")
        chain_db.as_dba("DELETE FROM audit_entry WHERE seq <= 3",
                        "INSERT INTO audit_anchor (created_at, through_seq, through_hash, purged_count, cutoff, "
                        "retention_days) VALUES (:at, 3, :h, 3, :at, 183)", at=START, h=third_hash)
        report = chain_db.verify()
        assert report.checked == 2
        assert report.broken is not None and report.broken.kind == BreakKind.UNCONFIRMED_ANCHOR
        assert "n'est confirmée par aucune entrée" in report.broken.message

    def test_an_entry_slipped_in_before_the_anchor_is_detected(self, chain_db):
        at = self._old_and_new(chain_db)
        with clock.frozen(at):
            self._purge(chain_db)
        with chain_db.sessions() as s:
            fifth = s.execute(select(AuditEntry.__table__).where(AuditEntry.seq == 5)).mappings().one()
        forged = {**fifth, "id": uuid.uuid4(), "seq": 2}
        with chain_db.engine.begin() as conn:
            conn.execute(AuditEntry.__table__.insert(), [forged])
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.seq) == (BreakKind.UNEXPECTED, 2)

    def test_the_application_still_cannot_delete_entries_outside_a_purge(self, chain_db):
        at = self._old_and_new(chain_db)
        with clock.frozen(at):
            self._purge(chain_db)
        with chain_db.sessions() as session, pytest.raises(DBAPIError, match="ajout seul"):
            session.execute(delete(AuditEntry).where(AuditEntry.seq == 6))
        with chain_db.sessions() as session, pytest.raises(DBAPIError, match="ajout seul"):
            session.execute(delete(AuditAnchor))


class TestConcurrentWriters:
    def _hammer(self, chain_db, threads, commits):
        errors: list[BaseException] = []
        barrier = threading.Barrier(threads)

        def write(worker: int) -> None:
            try:
                barrier.wait(10)
                for i in range(commits):
                    with chain_db.sessions() as session:
                        service.record(session, action="read", object_type="patient", patient_id=f"w{worker}-{i}")
                        if i % 3 == 0:
                            service.record(session, action="update", object_type="patient",
                                           patient_id=f"w{worker}-{i}")
                        session.commit()
            except BaseException as exc:  # reported below, with the thread's number
                errors.append(exc)

        workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(120)
        assert not errors, errors
        expected = threads * (commits + len(range(0, commits, 3)))
        got = [r[0] for r in chain_db.rows("SELECT seq FROM audit_entry ORDER BY seq")]
        assert got == list(range(1, expected + 1)), "seq must be consecutive and unique"
        report = chain_db.verify()
        assert report.ok and report.checked == expected

    def test_two_writers_on_postgresql_make_one_valid_chain(self, pg_chain_url):
        from maillage.kit.db import make_engine, make_sessionmaker
        from tests.audit.conftest import ChainDb

        engine = make_engine(pg_chain_url)
        try:
            self._hammer(ChainDb("postgresql", pg_chain_url, engine, make_sessionmaker(engine)), 2, 200)
        finally:
            engine.dispose()

    def test_two_writers_on_sqlite_make_one_valid_chain(self, sqlite_chain_url):
        from maillage.kit.db import make_engine, make_sessionmaker
        from tests.audit.conftest import ChainDb

        engine = make_engine(sqlite_chain_url)
        try:
            self._hammer(ChainDb("sqlite", sqlite_chain_url, engine, make_sessionmaker(engine)), 2, 100)
        finally:
            engine.dispose()


class TestListReads:
    """A list read names the patients it returned: rows of audit_entry_patient written with the entry at commit,
    covered by the chain through the digest in the entry's hashed details, append-only like the trail."""

    def _listed(self, session):
        return sorted((str(e), p) for e, p in session.execute(
            select(AuditEntryPatient.entry_id, AuditEntryPatient.patient_id)))

    def test_the_patients_are_written_with_the_entry_at_commit(self, db):
        service.record(db, action="search", object_type="patient", actor_id="u-1", details={"count": 3},
                       list_patients=["p-2", "p-1", "p-2"])
        assert self._listed(db) == []
        db.commit()
        entry = db.scalars(select(AuditEntry)).one()
        assert entry.details == {"count": 3, "patients": 2,
                                 "patients_sha256": rules.list_patients_digest(("p-1", "p-2"))}
        assert self._listed(db) == [(str(entry.id), "p-1"), (str(entry.id), "p-2")]
        assert entry.hash == rules.entry_hash({c: getattr(entry, c) for c in rules.KEYED_CHAIN_FIELDS},
                                              TEST_KEYS.chain_keys["test-2026"])
        assert service.verify_chain(db).ok and service.verify_list_patients(db) == []

    def test_an_empty_list_is_traced_as_such_without_rows(self, db):
        service.record(db, action="search", object_type="patient", list_patients=[])
        db.commit()
        entry = db.scalars(select(AuditEntry)).one()
        assert entry.details is not None and entry.details["patients"] == 0
        assert self._listed(db) == [] and service.verify_list_patients(db) == []

    def test_the_patients_of_a_rolled_back_savepoint_vanish_with_its_entry(self, db):
        service.record(db, action="search", object_type="patient", list_patients=["p-1"])
        with db.begin_nested() as nested:
            service.record(db, action="search", object_type="patient", list_patients=["p-2"])
            nested.rollback()
        db.commit()
        assert [p for _, p in self._listed(db)] == ["p-1"]

    def test_bad_patients_are_refused_before_anything_is_buffered(self, db):
        for kwargs in ({"list_patients": "p-1"}, {"list_patients": [""]}, {"list_patients": ["x" * 65]},
                       {"list_patients": ["p-1"], "details": {"patients": 1}},
                       {"list_patients": ["p-1"], "action": "read"}):
            with pytest.raises((ValueError, TypeError)):
                service.record(db, **{"action": "search", "object_type": "patient", **kwargs})
        assert service.pending_count(db) == 0

    def test_the_application_cannot_update_or_delete_a_listed_patient(self, db, backend):
        service.record(db, action="search", object_type="patient", list_patients=["p-1"])
        db.commit()
        with pytest.raises(DBAPIError, match="ajout seul"):
            db.execute(update(AuditEntryPatient).values(patient_id="someone-else"))
        db.rollback()
        with pytest.raises(DBAPIError, match="ajout seul"):
            db.execute(delete(AuditEntryPatient))
        db.rollback()
        assert [p for _, p in self._listed(db)] == ["p-1"]

    def test_a_row_added_around_the_triggers_is_caught_by_the_verification(self, chain_db):
        """A DBA who adds a patient to a list (to frame a colleague) changes no entry: the digest catches it."""
        chain_db.record(1, action="search", object_type="patient", patient_id=None, list_patients=["p-1", "p-2"])
        chain_db.record(1)
        with chain_db.sessions() as session:
            assert service.verify_list_patients(session) == []
        # The ids as stored (text without dashes on SQLite, uuid on PostgreSQL).
        listed, plain = (chain_db.scalar("SELECT id FROM audit_entry WHERE seq = :s", s=n) for n in (1, 2))
        chain_db.as_dba("INSERT INTO audit_entry_patient (patient_id, entry_id) VALUES ('p-3', :e)", e=listed)
        chain_db.as_dba("INSERT INTO audit_entry_patient (patient_id, entry_id) VALUES ('p-9', :e)", e=plain)
        with chain_db.sessions() as session:
            found = service.verify_list_patients(session)
        assert [(m.seq, m.expected, m.found) for m in found] == [(1, 2, 3), (None, None, 1)]
        assert chain_db.verify().ok, "the chain itself is intact: only the list's rows were touched"

    def test_a_row_removed_around_the_triggers_is_caught_by_the_verification(self, chain_db):
        """A DBA who hides that a list showed a patient (deletes the row) is caught too, even the last row."""
        chain_db.record(1, action="search", object_type="patient", patient_id=None, list_patients=["p-1", "p-2"])
        chain_db.record(1, action="search", object_type="patient", patient_id=None, list_patients=["p-3"])
        chain_db.as_dba("DELETE FROM audit_entry_patient WHERE patient_id IN ('p-2', 'p-3')")
        with chain_db.sessions() as session:
            found = service.verify_list_patients(session, batch_size=1)
        assert [(m.seq, m.expected, m.found) for m in found] == [(1, 2, 1), (2, 1, 0)]

    def test_a_purge_takes_the_patients_of_the_purged_lists_and_leaves_the_rest_verifiable(self, chain_db):
        with clock.frozen(START) as c:
            chain_db.record(2, action="search", object_type="patient", patient_id=None, list_patients=["p-1"])
            c.advance(dt.timedelta(days=200))
            chain_db.record(1, action="search", object_type="patient", patient_id=None, list_patients=["p-1"])
            with chain_db.sessions() as session:
                result = service.purge(session, retention_days=183, actor_id="os:admin", actor_role="cli")
                session.commit()
        assert result.purged == 2
        assert chain_db.scalar("SELECT count(*) FROM audit_entry_patient") == 1
        assert chain_db.verify().ok
        with chain_db.sessions() as session:
            assert service.verify_list_patients(session) == []
        with chain_db.sessions() as session, pytest.raises(DBAPIError, match="ajout seul"):
            session.execute(delete(AuditEntryPatient))


class TestSearchTrail:
    def _admin(self):
        return Actor(user_id=uuid.uuid4(), username="admin", display_name="Admin", role=Role.ADMINISTRATOR)

    def test_filters_newest_first_and_traces_the_search(self, db):
        with clock.frozen(START) as c:
            for patient in ("p-1", "p-2", "p-1"):
                service.record(db, action="read", object_type="patient", patient_id=patient, actor_id="u-1")
                c.advance(dt.timedelta(hours=1))
            service.record(db, action="read", object_type="patient", patient_id="p-1", actor_id="u-2",
                           break_glass=True, reason="Arrêt cardiaque")
            db.commit()
            admin = self._admin()
            result = service.search_trail(db, rules.parse_filters(patient="p-1"), actor=admin)
            assert [e.seq for e in result.entries] == [4, 3, 1]
            assert [e.reason for e in result.break_glass_review] == ["Arrêt cardiaque"]
            by_actor = service.search_trail(db, rules.parse_filters(actor="u-1"), actor=admin)
            assert [e.seq for e in by_actor.entries] == [3, 2, 1]
            glass_only = service.search_trail(db, rules.parse_filters(break_glass="1"), actor=admin)
            assert [e.seq for e in glass_only.entries] == [4]
            db.commit()
        searches = db.scalars(select(AuditEntry).where(AuditEntry.action == "search")).all()
        assert len(searches) == 3
        assert (searches[0].object_type, searches[0].patient_id, searches[0].actor_id, searches[0].details) == (
            "audit", "p-1", str(admin.user_id),
            {"filter_actor_id": None, "break_glass_only": False, "page": 1, "results": 3})

    def test_by_patient_finds_the_list_reads_that_returned_them_and_only_those(self, db):
        service.record(db, action="search", object_type="patient", actor_id="u-1", list_patients=["p-1", "p-2"])
        service.record(db, action="search", object_type="patient", actor_id="u-2", list_patients=["p-2"])
        service.record(db, action="read", object_type="patient", patient_id="p-1", actor_id="u-3")
        db.commit()
        result = service.search_trail(db, rules.parse_filters(patient="p-1"), actor=self._admin())
        assert [(e.seq, e.actor_id) for e in result.entries] == [(3, "u-3"), (1, "u-1")]
        assert result.list_patients == {result.entries[1].id: ["p-1", "p-2"]}

    def test_by_patient_follows_identity_merges_to_the_merged_records(self, db):
        """The survivor's "who saw" includes the entries of the records merged into it (not undone)."""
        kept, merged, unmerged = (str(uuid.uuid4()) for _ in range(3))
        service.record(db, action="search", object_type="patient", actor_id="u-1", list_patients=[merged])
        service.record(db, action="read", object_type="patient", patient_id=unmerged, actor_id="u-2")
        db.commit()
        patients = [Patient(id=uuid.UUID(pid), birth_name="TEST", given_names="Anne", birth_date=dt.date(1970, 1, 1),
                            sex="F", birthplace="75056", birth_name_norm="TEST", first_given_name_norm="ANNE",
                            duplicate_key=pid, identity_status="PROV", identity_attributes=[])
                    for pid in (kept, merged, unmerged)]
        db.add_all(patients)
        db.flush()
        db.add_all([IdentityMerge(kept_patient_id=uuid.UUID(kept), merged_patient_id=uuid.UUID(merged), reason="x"),
                    IdentityMerge(kept_patient_id=uuid.UUID(kept), merged_patient_id=uuid.UUID(unmerged), reason="x",
                                  unmerged_at=clock.now())])
        db.commit()
        result = service.search_trail(db, rules.parse_filters(patient=kept), actor=self._admin())
        assert ([e.actor_id for e in result.entries], result.merged_ids) == (["u-1"], [merged])
        db.commit()
        traced = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "audit")).one()
        assert traced.details is not None and traced.details["merged_records"] == 1

    def test_pages_have_the_requested_size_and_say_whether_more_follow(self, db):
        for i in range(5):
            service.record(db, action="read", object_type="patient", patient_id=f"p-{i}")
        db.commit()
        admin = self._admin()
        first = service.search_trail(db, rules.parse_filters(size="2"), actor=admin)
        last = service.search_trail(db, rules.parse_filters(size="2", page="3"), actor=admin)
        assert ([e.seq for e in first.entries], first.has_next) == ([5, 4], True)
        assert ([e.seq for e in last.entries], last.has_next) == ([1], False)

    def test_dates_select_paris_days(self, db):
        with clock.frozen(dt.datetime(2026, 7, 1, 21, 30, tzinfo=dt.UTC)) as c:   # 23:30 in Paris, 1 July
            service.record(db, action="read", object_type="patient", patient_id="late")
            c.advance(dt.timedelta(hours=1))                                          # 00:30 in Paris, 2 July
            service.record(db, action="read", object_type="patient", patient_id="next-day")
            db.commit()
        found = service.search_trail(db, rules.parse_filters(since="2026-07-01", until="2026-07-01"),
                                     actor=self._admin())
        assert [e.patient_id for e in found.entries] == ["late"]


@postgresql_only  # advisory locks are PostgreSQL's
def test_the_chain_lock_is_per_table_on_postgresql(db, backend):
    """Private schemas do not wait on each other: the lock key carries the table's oid."""
    service.record(db, action="read", object_type="patient")
    db.commit()
    keys = db.execute(text("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")).all()
    oid = db.execute(text("SELECT CAST(CAST('audit_entry' AS regclass) AS oid)")).scalar()
    assert [int(k[0]) for k in keys] == [int(oid)]


# -- the attacker with write access to the database (docs/security.md), against the keyed chain -----------------

FORMULAS = ("unkeyed", "guessed_key", "sha256_keeping_the_key_id")


def rewrite_from(chain_db, k: int, formula: str, change: dict | None = None) -> None:
    """Edit entry ``k``, then recompute its hash and every following one, relinked, with ``formula``:

    - ``unkeyed``: the pre-key formula (SHA-256), the entries relabelled as written before the key;
    - ``guessed_key``: the keyed formula under a key the attacker made up;
    - ``sha256_keeping_the_key_id``: SHA-256 over the keyed canonical form.
    """
    rows = chain_db.rows_from(k)
    rows[0].update(change or {"outcome": "denied", "patient_id": "alibi"})
    prev = rows[0]["prev_hash"]
    for row in rows:
        row["prev_hash"] = prev
        if formula == "unkeyed":
            row["key_id"] = None
            row["hash"] = rules.entry_hash(row)
        elif formula == "guessed_key":
            row["hash"] = rules.entry_hash(row, GUESSED_KEY)
        else:
            row["hash"] = rules.chain_hash(prev, rules.canonical_json(row))
        prev = row["hash"]
    chain_db.overwrite(rows)


def delete_newest(chain_db, n: int) -> None:
    head = chain_db.scalar("SELECT max(seq) FROM audit_entry")
    chain_db.as_dba("DELETE FROM audit_entry WHERE seq > :s", s=head - n)


class TestVerifyAgainstAnAttackerOfTheDatabase:
    @pytest.mark.parametrize("formula", FORMULAS)
    def test_an_edit_with_every_following_hash_recomputed_is_named_without_any_checkpoint(self, chain_db, formula):
        chain_db.record(6)
        rewrite_from(chain_db, 3, formula)
        broken = chain_db.verify().broken
        assert broken is not None
        expected = BreakKind.UNKEYED if formula == "unkeyed" else BreakKind.MODIFIED
        assert (broken.kind, broken.seq, broken.entry_id) == (expected, 3, chain_db.entry_id(3))

    @pytest.mark.parametrize("k", [1, 4, 6])
    @pytest.mark.parametrize("formula", FORMULAS)
    def test_a_rewrite_from_any_point_before_the_last_checkpoint_is_named_at_that_point(self, chain_db, checkpoints,
                                                                                         formula, k):
        chain_db.record(6)
        assert chain_db.checkpoint().written is not None
        rewrite_from(chain_db, k, formula)
        broken = chain_db.verify().broken
        assert broken is not None
        expected = BreakKind.UNKEYED if formula == "unkeyed" else BreakKind.MODIFIED
        assert (broken.kind, broken.seq) == (expected, k)
        assert checkpoints.records[0]["keyed_since"] == 1

    def test_a_rewrite_of_the_whole_chain_unkeyed_passes_for_a_pre_key_chain_until_a_checkpoint_says_otherwise(
            self, chain_db):
        """The limit, stated: with no checkpoint, an unkeyed chain from the genesis cannot be told from a chain
        written before the key. The first checkpoint records where the keyed epoch began."""
        chain_db.record(4)
        rewrite_from(chain_db, 1, "unkeyed")
        assert chain_db.verify().ok
        chain_db.as_dba("DELETE FROM audit_entry")
        chain_db.record(4)
        chain_db.checkpoint()
        rewrite_from(chain_db, 1, "unkeyed")
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.seq, broken.expected_seq) == (BreakKind.UNKEYED, 1, 1)

    @pytest.mark.parametrize("n", [1, 3, 6])
    def test_deleting_the_newest_entries_back_past_the_last_checkpoint_is_detected(self, chain_db, n):
        chain_db.record(6)
        chain_db.checkpoint()
        chain_db.record(2)
        delete_newest(chain_db, 2 + n)
        report = chain_db.verify()
        assert report.broken is not None
        assert (report.broken.kind, report.broken.seq, report.broken.expected_seq, report.broken.checkpoint) == (
            BreakKind.TRUNCATED, 6 - n, 6, 1)
        assert "entrées les plus récentes supprimées" in report.broken.message

    def test_entries_deleted_then_regrown_past_the_checkpoint_are_detected(self, chain_db):
        """A restored backup, or a deletion hidden by letting the application write the same number again."""
        chain_db.record(6)
        chain_db.checkpoint()
        delete_newest(chain_db, 3)
        chain_db.record(3)
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.seq, broken.checkpoint) == (
            BreakKind.CHECKPOINT_MISMATCH, 6, 1)

    def test_the_entries_after_the_last_checkpoint_are_the_window_of_an_undetected_truncation(self, chain_db):
        chain_db.record(6)
        chain_db.checkpoint()
        chain_db.record(2)
        report = chain_db.verify()
        assert report.ok and report.last_checkpoint is not None and report.after_last_checkpoint == 2
        delete_newest(chain_db, 2)
        report = chain_db.verify()
        assert report.ok and report.after_last_checkpoint == 0

    def test_an_entry_sealed_by_an_unknown_key_is_named(self, chain_db):
        chain_db.record(3)
        chain_db.as_dba("UPDATE audit_entry SET key_id = 'attacker' WHERE seq = 2")
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.seq) == (BreakKind.UNKNOWN_KEY, 2)
        assert "« attacker »" in broken.message

    def test_a_checkpoint_forged_with_another_key_is_refused(self, chain_db, checkpoints):
        chain_db.record(3)
        chain_db.checkpoint()
        record = checkpoints.records[0]
        forged = rules.Checkpoint(n=1, at=record["at"], seq=2, hash=chain_db.rows_from(2)[0]["hash"],
                                  keyed_since=1, key_id="test-2026", prev=rules.CHECKPOINT_GENESIS)
        checkpoints.records[0] = dataclasses.replace(forged, sig=rules.checkpoint_signature(GUESSED_KEY,
                                                                                            forged)).record()
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.checkpoint) == (BreakKind.CHECKPOINT_LOG, 1)
        assert "signature invalide" in broken.message

    def test_a_checkpoint_removed_from_the_middle_of_the_register_is_detected(self, chain_db, checkpoints):
        for _ in range(3):
            chain_db.record(2)
            chain_db.checkpoint()
        del checkpoints.records[1]
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.checkpoint) == (BreakKind.CHECKPOINT_LOG, 2)

    def test_checkpoints_at_purged_entries_still_hold_the_chain(self, chain_db):
        with clock.frozen(START) as c:
            chain_db.record(4)
            chain_db.checkpoint()
            c.advance(dt.timedelta(days=200))
            chain_db.record(2)
            with chain_db.sessions() as session:
                assert service.purge(session, retention_days=183).through_seq == 4
                session.commit()
            report = chain_db.verify()
            assert report.ok and report.checked == 3 and report.start.seq == 4
            assert chain_db.checkpoint().written is not None
            chain_db.as_dba("UPDATE audit_anchor SET through_hash = :h", h="f" * 64)
            broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.seq) == (BreakKind.RELINKED, 5)


class TestWriteCheckpoint:
    def test_an_empty_chain_has_nothing_to_sign(self, chain_db, checkpoints):
        result = chain_db.checkpoint()
        assert result.written is None and result.last is None and checkpoints.records == []

    def test_signs_the_head_then_writes_nothing_until_it_moves(self, chain_db, checkpoints):
        chain_db.record(3)
        first = chain_db.checkpoint()
        assert first.written is not None and first.checked == 3
        assert (first.written.n, first.written.seq, first.written.keyed_since) == (1, 3, 1)
        assert first.written.hash == chain_db.rows_from(3)[0]["hash"]
        assert chain_db.checkpoint().written is None
        chain_db.record(2)
        second = chain_db.checkpoint()
        assert second.written is not None and second.checked == 3   # the pinned entry again, and the two new
        assert (second.written.n, second.written.seq, second.written.prev) == (2, 5, first.written.sig)
        assert [r["n"] for r in checkpoints.records] == [1, 2]
        report = chain_db.verify()
        assert report.ok and report.checkpoints == 2 and report.last_checkpoint == second.written

    def test_refuses_to_sign_a_chain_edited_since_the_last_checkpoint(self, chain_db, checkpoints):
        chain_db.record(3)
        chain_db.checkpoint()
        chain_db.record(3)
        rewrite_from(chain_db, 5, "guessed_key")
        with pytest.raises(Conflict, match=r"Point de contrôle refusé .* n° 5"):
            chain_db.checkpoint()
        assert len(checkpoints.records) == 1

    def test_refuses_to_sign_a_chain_cut_below_the_last_checkpoint(self, chain_db, checkpoints):
        chain_db.record(3)
        chain_db.checkpoint()
        delete_newest(chain_db, 1)
        with pytest.raises(Conflict, match="s'arrête au numéro 2"):
            chain_db.checkpoint()
        assert len(checkpoints.records) == 1

    def test_refuses_to_sign_after_an_altered_register(self, chain_db, checkpoints):
        chain_db.record(3)
        chain_db.checkpoint()
        checkpoints.records[0]["seq"] = 2
        chain_db.record(1)
        with pytest.raises(Conflict, match="registre des points de contrôle altéré"):
            chain_db.checkpoint()


class TestUpgradeFromAnUnkeyedChain:
    """A trail written before the key (20261128_2330 and earlier) keeps verifying; the keyed epoch follows it."""

    def _legacy_chain(self, chain_db, count: int) -> None:
        """Back to the revision before the key, entries written there with the old (unkeyed) code, and up again."""
        with chain_db.engine.begin() as conn:
            run_migrations(conn, "20261128_2330", down=True)
        rows, prev = [], rules.GENESIS_HASH
        for seq in range(1, count + 1):
            row = {"id": uuid.uuid4(), "seq": seq, "occurred_at": START + dt.timedelta(minutes=seq),
                   "actor_id": "user-1", "actor_role": "physician", "establishment_id": None, "action": "read",
                   "object_type": "observation", "object_id": f"obs-{seq}", "patient_id": "patient-1",
                   "purpose": "care", "break_glass": False, "reason": None, "outcome": "success",
                   "request_id": f"req-{seq}", "address": "10.0.0.1", "details": {"count": seq},
                   "prev_hash": prev}
            row["hash"] = prev = rules.chain_hash(prev, rules.canonical_json(row))
            rows.append(row)
        with chain_db.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_entry (id, seq, occurred_at, actor_id, actor_role, "
                              "establishment_id, action, object_type, object_id, patient_id, purpose, break_glass, "
                              "reason, outcome, request_id, address, details, prev_hash, hash) VALUES (:id, :seq, "
                              ":occurred_at, :actor_id, :actor_role, :establishment_id, :action, :object_type, "
                              ":object_id, :patient_id, :purpose, :break_glass, :reason, :outcome, :request_id, "
                              ":address, :details, :prev_hash, :hash)").bindparams(
                bindparam("id", type_=Uuid()), bindparam("occurred_at", type_=UTCDateTime()),
                bindparam("details", type_=PortableJSON)), rows)
        with chain_db.engine.begin() as conn:
            run_migrations(conn)
        chain_db.engine.dispose()  # SQLite: forget the table's old shape

    def test_the_old_entries_verify_and_the_keyed_epoch_starts_after_them(self, chain_db):
        self._legacy_chain(chain_db, 3)
        assert chain_db.verify().ok and chain_db.verify().keyed_since is None
        chain_db.record(2)
        report = chain_db.verify()
        assert report.ok and report.checked == 5 and report.keyed_since == 4
        assert [r["key_id"] for r in chain_db.rows_from(1)] == [None, None, None, "test-2026", "test-2026"]
        assert chain_db.checkpoint().written.keyed_since == 4

    @pytest.mark.parametrize("formula", FORMULAS)
    def test_an_old_entry_edited_and_the_chain_recomputed_is_detected(self, chain_db, formula):
        self._legacy_chain(chain_db, 3)
        chain_db.record(2)
        chain_db.checkpoint()
        rewrite_from(chain_db, 2, formula)
        broken = chain_db.verify().broken
        assert broken is not None
        # 2 and 3 recompute as old entries do; 4, the first keyed entry, can be neither sealed nor left unkeyed.
        if formula == "unkeyed":
            assert (broken.kind, broken.seq, broken.expected_seq) == (BreakKind.UNKEYED, 4, 4)
        else:
            assert (broken.kind, broken.seq) == (BreakKind.MODIFIED, 4)

    def test_old_entries_edited_with_the_keyed_entries_left_alone_break_the_first_keyed_link(self, chain_db):
        self._legacy_chain(chain_db, 3)
        chain_db.record(2)
        rows = chain_db.rows_from(2)[:2]
        rows[0]["outcome"] = "denied"
        prev = rows[0]["prev_hash"]
        for row in rows:
            row["prev_hash"] = prev
            row["hash"] = prev = rules.entry_hash(row)
        chain_db.overwrite(rows)
        broken = chain_db.verify().broken
        assert broken is not None and (broken.kind, broken.seq) == (BreakKind.RELINKED, 4)
