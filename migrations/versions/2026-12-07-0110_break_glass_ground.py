"""authz: the ground of an exceptional access (emergency, or joining an existing identity)

Revision ID: 20261207_0110
Revises: 20261128_2330
Create Date: 2026-12-07 01:10:00+00:00

Joining a patient record that already exists in the GHT (a creation whose strict traits matched it) no longer opens
a permanent care relationship: it opens a break-the-glass access with a written reason and a time limit, flagged in
the audit trail and listed for the administrator's review. ``ground`` tells the reviewer which kind it was:
``emergency`` (every access opened so far) or ``identity_attach``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0110"
down_revision = "20261128_2330"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("break_glass_access") as batch:
        batch.add_column(sa.Column("ground", sa.String(length=32), nullable=False, server_default="emergency"))
        batch.create_check_constraint("ck_break_glass_access_ground_known",
                                      "ground in ('emergency', 'identity_attach')")


def downgrade() -> None:
    with op.batch_alter_table("break_glass_access") as batch:
        batch.drop_constraint("ck_break_glass_access_ground_known", type_="check")
        batch.drop_column("ground")
