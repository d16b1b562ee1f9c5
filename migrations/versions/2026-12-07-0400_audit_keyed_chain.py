"""audit: a keyed chain (HMAC-SHA256), the key id of each entry

Revision ID: 20261207_0140
Revises: 20261207_0170
Create Date: 2026-12-07 01:40:00+00:00

- ``audit_entry.key_id`` (nullable): the id of the audit key whose HMAC-SHA256 is the entry's ``hash``. Entries
  written before this revision keep ``NULL`` and their unkeyed SHA-256 (docs/adr/0004-audit-hash-chain.md, "keyed
  epoch"): they still verify, and the first keyed entry starts the keyed epoch, recorded by the signed checkpoints
  kept outside the database.
- Added in place (``ALTER TABLE ... ADD COLUMN``), on SQLite too: a nullable column needs no rebuild, and a batch
  rebuild would drop the append-only triggers of 20261128_1401. Downgrade drops the column the same way (SQLite
  3.35+); the keyed entries then no longer verify (their key id was part of what was hashed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0140"
down_revision = "20261207_0170"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_entry", sa.Column("key_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_entry", "key_id")
