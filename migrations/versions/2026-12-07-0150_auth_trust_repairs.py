"""auth: second-factor failures counted apart, one-time passwords, per-address lock-out

Revision ID: 20261207_0150
Revises: 20261128_2330
Create Date: 2026-12-07 01:50:00+00:00

- ``user_account.second_factor_failures`` / ``second_factor_locked_until``: wrong codes no longer share the
  password counter that a correct password resets.
- ``user_account.must_change_password`` / ``password_expires_at``: a one-time password (created account,
  administrator reset) is valid 24 h and must be replaced at the first sign-in.
- ``login_throttle``: consecutive failures and progressive lock-out of one account from one address.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0150"
down_revision = "20261128_2330"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("password_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("second_factor_failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("second_factor_locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(op.f("ck_user_account_second_factor_failures_non_negative"), "second_factor_failures >= 0")
    with op.batch_alter_table("user_account") as batch:
        batch.alter_column("must_change_password", server_default=None)
        batch.alter_column("second_factor_failures", server_default=None)
    op.create_table(
        "login_throttle",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_login_throttle_failures_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttle")),
        sa.UniqueConstraint("username", "address", name=op.f("uq_login_throttle_username_address")),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint(op.f("ck_user_account_second_factor_failures_non_negative"), type_="check")
        batch.drop_column("second_factor_locked_until")
        batch.drop_column("second_factor_failures")
        batch.drop_column("password_expires_at")
        batch.drop_column("must_change_password")
