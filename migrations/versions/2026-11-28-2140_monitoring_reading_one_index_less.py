"""monitoring: one index less per ingested reading

Revision ID: 20261128_2140
Revises: 20261128_2045
Create Date: 2026-11-28 21:40:00+00:00

Adherence (the days with a reading of an enrolment) is read through the patient's curve index (patient, measure,
time) with the days' bounds turned into instants; the index on (enrolment_id, local_day), which only it read, goes:
one entry less to write per ingested reading. The warehouse extraction reads the whole table either way.
"""

from __future__ import annotations

from alembic import op

revision = "20261128_2140"
down_revision = "20261128_2045"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_monitoring_reading_enrolment_day", table_name="monitoring_reading")


def downgrade() -> None:
    op.create_index("ix_monitoring_reading_enrolment_day", "monitoring_reading", ["enrolment_id", "local_day"],
                    unique=False)
