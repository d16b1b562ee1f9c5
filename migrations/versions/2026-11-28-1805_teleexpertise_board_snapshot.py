"""teleexpertise: the coordinator's board snapshot

Revision ID: 20261128_1805
Revises: 20261128_1655
Create Date: 2026-11-28 18:05:00+00:00

The board's figures per line and per line and requesting establishment, as last computed by the worker (every few
minutes) or on demand, so that the coordinator's page reads them with one indexed query whatever the volume.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261128_1805"
down_revision = "20261128_1655"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teleexpertise_board_snapshot",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("line_id", sa.Uuid(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("whole_line", sa.Boolean(), nullable=False),
        sa.Column("establishment_id", sa.Uuid(), nullable=True),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("median_seconds", sa.Float(), nullable=True),
        sa.Column("p90_seconds", sa.Float(), nullable=True),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("orientations", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["line_id"], ["specialty_line.id"],
                                name=op.f("fk_teleexpertise_board_snapshot_line_id_specialty_line"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleexpertise_board_snapshot")),
    )
    op.create_index("ix_teleexpertise_board_snapshot_line", "teleexpertise_board_snapshot",
                    ["line_id", "period_days"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_teleexpertise_board_snapshot_line", table_name="teleexpertise_board_snapshot")
    op.drop_table("teleexpertise_board_snapshot")
