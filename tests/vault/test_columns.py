"""Sealed text columns (``maillage.vault.columns``): envelopes bound to their column, key rotation, the migration
that encrypts the rows written before it (and decrypts them on downgrade), on SQLite and PostgreSQL."""

from __future__ import annotations

import binascii
import datetime as dt
import uuid

import pytest
from sqlalchemy import Text, select, text, type_coerce

from maillage.exceptions import Conflict
from maillage.models.authz import BreakGlassAccess
from maillage.models.teleexpertise import TeleexpertiseMessage
from maillage.vault import columns, service
from maillage.vault.errors import CiphertextCorrupted
from tests.conftest import run_migrations
from tests.fixtures.factories import make_user
from tests.vault.conftest import FreshDatabase

BEFORE = "20261207_0110"  # the revision before 20261207_0120
REVISION = "20261207_0120"
SECRET = "Douleur thoracique depuis 3 jours, sous anticoagulants"


def break_glass_row(db, reason: str = SECRET) -> BreakGlassAccess:
    at = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    user = make_user(db, totp_secret=None)  # no vault value: only the column uses the key
    row = BreakGlassAccess(user_id=user.id, patient_id=uuid.uuid4(), reason=reason, starts_at=at,
                           expires_at=at + dt.timedelta(hours=1))
    db.add(row)
    db.flush()
    return row


def stored(db, column, row_id) -> str:
    table = column.table
    return db.scalar(select(type_coerce(column, Text())).where(table.c.id == row_id))


class TestSealedText:
    def test_the_database_holds_an_envelope_and_the_model_reads_the_text(self, db, keyring):
        row = break_glass_row(db)
        raw = stored(db, BreakGlassAccess.__table__.c.reason, row.id)
        assert raw.startswith(f"vault1:{keyring.active().id}:") and SECRET not in raw
        db.expire_all()
        assert db.get(BreakGlassAccess, row.id).reason == SECRET

    def test_two_equal_texts_give_two_different_envelopes(self, keyring):
        scope = "break_glass_access.reason"
        assert columns.seal_text(scope, SECRET) != columns.seal_text(scope, SECRET)

    def test_an_envelope_copied_into_another_column_does_not_open(self, keyring):
        envelope = columns.seal_text("break_glass_access.reason", SECRET)
        with pytest.raises(CiphertextCorrupted):
            columns.open_text("break_glass_access.review_comment", envelope)

    def test_a_changed_byte_of_the_ciphertext_is_refused(self, keyring):
        envelope = columns.seal_text("break_glass_access.reason", SECRET)
        head, _, body = envelope.rpartition(":")
        # Flip a bit of the decoded bytes (flipping a base64 character may only touch its padding bits).
        raw = bytearray(binascii.a2b_base64(body))
        raw[len(raw) // 2] ^= 0x01
        flipped = binascii.b2a_base64(bytes(raw), newline=False).decode("ascii")
        with pytest.raises(CiphertextCorrupted):
            columns.open_text("break_glass_access.reason", f"{head}:{flipped}")

    def test_clear_text_written_around_the_type_is_refused_not_shown(self, db, keyring):
        row = break_glass_row(db)
        db.execute(text("update break_glass_access set reason = :r where id = :i"),
                   {"r": "écrit en clair", "i": row.id.hex if db.get_bind().dialect.name == "sqlite" else row.id})
        db.expire_all()
        with pytest.raises(CiphertextCorrupted):
            db.get(BreakGlassAccess, row.id)

    def test_every_sealed_column_is_found_for_rotation(self):
        found = {f"{t.name}.{c.name}" for t, c in columns.sealed_columns()}
        assert {"teleexpertise_request.question", "teleexpertise_message.body", "monitoring_alert.comment",
                "audit_entry.reason", "document.title"} <= found


class TestRotation:
    def test_the_old_key_cannot_be_retired_while_a_column_value_uses_it(self, db, keyring):
        """The attack on a ring that only counted vault rows: retiring the key left the column unreadable."""
        old = keyring.active().id
        break_glass_row(db)
        keyring.add_active()
        with pytest.raises(Conflict, match="protège encore 1"):
            service.retire_key(keyring, db, old)
        assert service.retire_unused_keys(keyring, db) == []

    def test_rotation_rewraps_the_column_values_and_then_the_old_key_retires(self, db, keyring):
        old = keyring.active().id
        row = break_glass_row(db)
        before = stored(db, BreakGlassAccess.__table__.c.reason, row.id)
        report = service.rotate(db, keyring)
        after = stored(db, BreakGlassAccess.__table__.c.reason, row.id)
        assert report.by_previous_kek.get(old, 0) >= 1
        assert after.startswith(f"vault1:{report.active_kek_id}:")
        assert after.rsplit(":", 1)[1] == before.rsplit(":", 1)[1]  # the content is not re-encrypted
        assert old in service.retire_unused_keys(keyring, db)
        db.expire_all()
        assert db.get(BreakGlassAccess, row.id).reason == SECRET


class TestMigration:
    def test_upgrade_encrypts_the_rows_written_before_and_downgrade_decrypts_them(self, fresh_database: FreshDatabase,
                                                                                  keyring):
        engine = fresh_database.engine
        with engine.begin() as conn:
            run_migrations(conn, BEFORE)
        user, access, entry = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        with engine.begin() as conn:
            conn.execute(text("insert into user_account (id, username, display_name, role, status, password_hash, "
                              "password_changed_at, failed_logins, lockouts, must_change_password, "
                              "second_factor_failures, created_at) values (:i, 'u', 'U', 'physician', 'active', "
                              "'x', '2026-01-01', 0, 0, :f, 0, '2026-01-01')"), {"i": _id(conn, user), "f": False})
            conn.execute(text("insert into break_glass_access (id, user_id, patient_id, reason, starts_at, expires_at)"
                              " values (:i, :u, :p, :r, '2026-01-01 08:00', '2026-01-01 09:00')"),
                         {"i": _id(conn, access), "u": _id(conn, user), "p": _id(conn, uuid.uuid4()), "r": SECRET})
            conn.execute(text("insert into audit_entry (id, seq, occurred_at, action, object_type, break_glass, "
                              "reason, outcome, prev_hash, hash) values (:i, 1, '2026-01-01', 'read', 'patient', "
                              ":t, :r, 'success', :h, :h)"), {"i": _id(conn, entry), "t": True, "r": SECRET,
                                                               "h": "0" * 64})
        with engine.begin() as conn:
            run_migrations(conn, REVISION)
        with engine.connect() as conn:
            raw = {conn.scalar(text("select reason from break_glass_access")),
                   conn.scalar(text("select reason from audit_entry"))}
        assert all(v.startswith("vault1:") for v in raw)
        with engine.connect() as conn:
            assert conn.scalar(select(BreakGlassAccess.reason)) == SECRET
            assert conn.scalar(select(TeleexpertiseMessage.body)) is None  # an empty table stays empty
        # the audit trail stays append-only after the migration
        with engine.begin() as conn, pytest.raises(Exception, match="ajout seul"):
            conn.execute(text("update audit_entry set action = 'x'"))
        with engine.begin() as conn:
            run_migrations(conn, BEFORE, down=True)
        with engine.connect() as conn:
            assert conn.scalar(text("select reason from break_glass_access")) == SECRET
            assert conn.scalar(text("select reason from audit_entry")) == SECRET


def _id(conn, value: uuid.UUID):  # type: ignore[no-untyped-def]
    return value.hex if conn.dialect.name == "sqlite" else value
