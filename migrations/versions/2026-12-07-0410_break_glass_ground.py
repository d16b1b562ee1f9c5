"""authz: the ground of an exceptional access (emergency, or joining an existing identity)

Revision ID: 20261207_0110
Revises: 20261207_0140
Create Date: 2026-12-07 01:10:00+00:00

Joining a patient record that already exists in the GHT (a creation whose strict traits matched it) no longer opens
a permanent care relationship: it opens a break-the-glass access with a written reason and a time limit, flagged in
the audit trail and listed for the administrator's review. ``ground`` tells the reviewer which kind it was:
``emergency`` (every access opened so far) or ``identity_attach``.

The care relationships the old join opened (``source_type = 'identity_proposal'``: anyone who knew the five strict
traits) end now; they stay in the table, marked ``identity_proposal_ended``, so the downgrade can reopen them and
the administrator can see who held one. Their holders keep the record only through a care act, or ask for the
exceptional access.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "20261207_0110"
down_revision = "20261207_0140"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("break_glass_access") as batch:
        batch.add_column(sa.Column("ground", sa.String(length=32), nullable=False, server_default="emergency"))
        batch.create_check_constraint("ck_break_glass_access_ground_known",
                                      "ground in ('emergency', 'identity_attach')")
    op.execute(sa.text("UPDATE care_relationship SET ends_at = :at, source_type = 'identity_proposal_ended' "
                       "WHERE source_type = 'identity_proposal' AND ends_at IS NULL AND starts_at < :at")
               .bindparams(sa.bindparam("at", value=_now(), type_=sa.DateTime(timezone=True))))


def _now() -> dt.datetime:
    at = dt.datetime.now(dt.UTC)
    return at if op.get_bind().dialect.name == "postgresql" else at.replace(tzinfo=None)


def downgrade() -> None:
    op.execute(sa.text("UPDATE care_relationship SET ends_at = NULL, source_type = 'identity_proposal' "
                       "WHERE source_type = 'identity_proposal_ended'"))
    with op.batch_alter_table("break_glass_access") as batch:
        batch.drop_constraint("ck_break_glass_access_ground_known", type_="check")
        batch.drop_column("ground")
