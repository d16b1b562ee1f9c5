"""mail delivery ledger

Revision ID: 20261128_1650
Revises: 20261128_1400
Create Date: 2026-11-28 16:50:00+00:00

Emails sent (or skipped) once per key: the ledger behind idempotent notification emails (maillage/outbox).
A branch of its own from the security core (it refers to user accounts only).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261128_1650"
down_revision = "20261128_1400"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("message_id", sa.String(length=250), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status in ('sent', 'skipped')", name=op.f("ck_mail_delivery_status_known")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_mail_delivery_user_id_user_account"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_delivery")),
        sa.UniqueConstraint("key", name="uq_mail_delivery_key"),
    )
    with op.batch_alter_table("mail_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_mail_delivery_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_delivery_user_id")
    op.drop_table("mail_delivery")
