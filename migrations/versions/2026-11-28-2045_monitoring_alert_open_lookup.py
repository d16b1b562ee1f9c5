"""monitoring: the open alerts of an enrolment read without its closed ones

Revision ID: 20261128_2045
Revises: 20261128_1810
Create Date: 2026-11-28 20:45:00+00:00

Ingestion reads, for every enrolment of a batch, its open alerts. The index on ``enrolment_id`` alone made that read
fetch every alert the enrolment ever had and discard the closed ones (a patient with daily readings has a closed
green alert a day: 365 a year). The index becomes ``(enrolment_id, open_key)``: ``open_key IS NOT NULL`` (open,
by the table's CHECK constraint) is decided in the index, and only open alerts are fetched. It still serves the
patient page's history and the enrolment's cascade (leading column). No index is added: the same count per alert.
"""

from __future__ import annotations

from alembic import op

revision = "20261128_2045"
down_revision = "20261128_1810"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_monitoring_alert_enrolment_id", table_name="monitoring_alert")
    op.create_index("ix_monitoring_alert_enrolment_open_key", "monitoring_alert", ["enrolment_id", "open_key"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_monitoring_alert_enrolment_open_key", table_name="monitoring_alert")
    op.create_index("ix_monitoring_alert_enrolment_id", "monitoring_alert", ["enrolment_id"], unique=False)
