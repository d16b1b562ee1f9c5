"""seal clinical free text: the columns declared SealedText hold vault envelopes, existing rows encrypted

Revision ID: 20261207_0120
Revises: 20261207_0110
Create Date: 2026-12-07 01:20:00+00:00

Free text that can hold health data (tele-expertise question, clinical context, opinion, proposed act, reasons,
thread; telesurveillance comments; identity-merge reasons; break-the-glass reasons; audit reasons; documents'
names and titles) is stored as an envelope ``vault1:<kek id>:<wrapped data key>:<ciphertext>`` (see
``maillage.vault.columns``). The bounded columns among them become ``text`` (an envelope is longer than the
text). Upgrade encrypts every existing value, downgrade decrypts it, in batches by id, with the cipher that
``migrations/env.py`` puts in ``config.attributes["text_cipher"]`` (the key ring of ``maillage db upgrade``:
``MAILLAGE_VAULT_KEYS`` or the key directory). Values already sealed (upgrade) or already clear (downgrade) are
left as they are, so an interrupted run can be started again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "20261207_0120"
down_revision = "20261207_0110"
branch_labels = None
depends_on = None

PREFIX = "vault1:"
BATCH = 500

# table -> column -> the bounded type it had before (None: it was already text)
SEALED: dict[str, dict[str, sa.types.TypeEngine[Any] | None]] = {
    "teleexpertise_request": {"question": None, "clinical_context": None, "answer": None,
                              "act": sa.String(200), "closing_reason": None},
    "teleexpertise_message": {"body": None},
    "teleexpertise_event": {"reason": None},
    "teleexpertise_admission": {"reason": None},
    "monitoring_alert": {"comment": None},
    "monitoring_alert_event": {"comment": None},
    "identity_merge": {"reason": None, "unmerge_reason": None},
    "break_glass_access": {"reason": None, "review_comment": None},
    "audit_entry": {"reason": None},
    "document": {"display_name": sa.String(255), "title": sa.String(200)},
}


def _cipher() -> Any:
    cipher = context.config.attributes.get("text_cipher")
    if cipher is None:
        raise RuntimeError("this revision encrypts existing rows: run it through maillage db upgrade (migrations/env.py)")
    return cipher


def _key(table: str) -> str:
    return "seq" if table == "audit_entry" else "id"


SQLITE_AUDIT_NO_UPDATE = (
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'traces d''accès en ajout seul : UPDATE refusé sur audit_entry'); END"
)


def _convert(table: str, columns: list[str], change: Any) -> None:
    """Rewrite the values, lifting the audit trail's append-only trigger for the time of its own rewrite (the
    entries' hashes cover the clear text, which does not change: the chain still verifies)."""
    if table != "audit_entry":
        _rewrite(table, columns, change)
        return
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only" if postgres
               else "DROP TRIGGER audit_entry_no_update")
    _rewrite(table, columns, change)
    op.execute("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only" if postgres
               else SQLITE_AUDIT_NO_UPDATE)


def _rewrite(table: str, columns: list[str], change: Any) -> None:
    """Rewrite every non-null value of ``columns`` with ``change(scope, value)`` (None: leave it), by batches."""
    bind = op.get_bind()
    key = _key(table)
    t = sa.table(table, sa.column(key), *[sa.column(c, sa.Text()) for c in columns])
    last: Any = None
    while True:
        query = sa.select(t.c[key], *[t.c[c] for c in columns]).order_by(t.c[key]).limit(BATCH)
        if last is not None:
            query = query.where(t.c[key] > last)
        rows = bind.execute(query).all()
        if not rows:
            break
        for row in rows:
            values = {}
            for c in columns:
                value = getattr(row, c)
                if value is not None:
                    new = change(f"{table}.{c}", value)
                    if new is not None:
                        values[c] = new
            if values:
                bind.execute(sa.update(t).where(t.c[key] == row[0]).values(**values))
        last = rows[-1][0]


def upgrade() -> None:
    for table, columns in SEALED.items():
        bounded = [c for c, before in columns.items() if before is not None]
        if bounded:
            with op.batch_alter_table(table) as batch:
                for c in bounded:
                    batch.alter_column(c, existing_type=columns[c], type_=sa.Text())
    cipher = _cipher()
    for table, columns in SEALED.items():
        _convert(table, list(columns),
                 lambda scope, value: None if value.startswith(PREFIX) else cipher.seal(scope, value))


def downgrade() -> None:
    cipher = _cipher()
    for table, columns in SEALED.items():
        _convert(table, list(columns),
                 lambda scope, value: cipher.open(scope, value) if value.startswith(PREFIX) else None)
    for table, columns in SEALED.items():
        bounded = [c for c, before in columns.items() if before is not None]
        if bounded:
            with op.batch_alter_table(table) as batch:
                for c in bounded:
                    batch.alter_column(c, existing_type=sa.Text(), type_=columns[c])
