"""billing page: the keyset indexes of the month's entries, and the professionals' declared yearly activity

Revision ID: 20261208_0100
Revises: 20261208_0400
Create Date: 2026-12-08 01:00:00+00:00

The billing page lists an establishment-month's entries by (act date, code, id) a page at a time, after or before a
position: ``ix_billing_entry_page`` and ``ix_billing_entry_page_status`` (with the status filter) serve it in index
order. ``billing_declared_activity`` holds each professional's whole yearly activity as declared to the billing
office, the denominator of the teleconsultation share (DOMAIN.md §2.1); a new declaration is a new row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261208_0100"
down_revision = "20261208_0400"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # From this revision the page serves the stored statement, refreshed by each decision; statements stored before
    # it were never refreshed that way and may be stale: dropped, each is computed again the first time it is read.
    op.execute("DELETE FROM billing_statement WHERE scope = 'establishment'")
    with op.batch_alter_table('billing_entry', schema=None) as batch_op:
        batch_op.create_index('ix_billing_entry_page', ['establishment_id', 'month', 'act_date', 'code', 'id'],
                              unique=False)
        batch_op.create_index('ix_billing_entry_page_status',
                              ['establishment_id', 'month', 'status', 'act_date', 'code', 'id'], unique=False)
    op.create_table('billing_declared_activity',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('total_acts', sa.Integer(), nullable=False),
    sa.Column('declared_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('declared_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint('total_acts >= 0', name=op.f('ck_billing_declared_activity_total_non_negative')),
    sa.ForeignKeyConstraint(['declared_by'], ['user_account.id'],
                            name=op.f('fk_billing_declared_activity_declared_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                            name=op.f('fk_billing_declared_activity_user_id_user_account'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_declared_activity'))
    )
    with op.batch_alter_table('billing_declared_activity', schema=None) as batch_op:
        batch_op.create_index('ix_billing_declared_activity_user_year', ['user_id', 'year', 'declared_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('billing_declared_activity', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_declared_activity_user_year')
    op.drop_table('billing_declared_activity')
    with op.batch_alter_table('billing_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_entry_page_status')
        batch_op.drop_index('ix_billing_entry_page')
