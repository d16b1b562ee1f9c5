"""monitoring: fewer writes per ingested reading

Revision ID: 20261128_1750
Revises: 20261128_1406
Create Date: 2026-11-28 17:50:00+00:00

``monitoring_reading`` is a time-series table: its ``device_id`` and ``enrolment_id`` lose their foreign keys.
Ingestion resolves the device, the devices behind a gateway and the enrolment assigned at the time of each
reading in one lookup inside the batch's transaction and refuses any reading it cannot attribute; devices and
enrolments are never deleted (deactivated, ended), so the per-row referential checks only repeated that lookup.

``monitoring_alert`` goes from seven indexes to five: ``team_id`` (no query filters on it) goes; ``status,
severity`` and ``patient_id, opened_at`` (read by the worklist and "acknowledge all green", always for open
alerts) become one partial index on ``patient_id, opened_at`` of the open alerts only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261128_1750"
down_revision = "20261128_1406"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    with op.batch_alter_table("monitoring_reading", schema=None) as batch_op:
        batch_op.drop_constraint("fk_monitoring_reading_device_id_monitoring_device", type_="foreignkey")
        batch_op.drop_constraint("fk_monitoring_reading_enrolment_id_monitoring_enrolment", type_="foreignkey")
    op.drop_index("ix_monitoring_alert_status_severity", table_name="monitoring_alert")
    op.drop_index("ix_monitoring_alert_team_id", table_name="monitoring_alert")
    op.drop_index("ix_monitoring_alert_patient_opened", table_name="monitoring_alert")
    op.create_index("ix_monitoring_alert_open_patient", "monitoring_alert", ["patient_id", "opened_at"], unique=False,
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_monitoring_alert_open_patient", table_name="monitoring_alert")
    op.create_index("ix_monitoring_alert_patient_opened", "monitoring_alert", ["patient_id", "opened_at"],
                    unique=False)
    op.create_index("ix_monitoring_alert_team_id", "monitoring_alert", ["team_id"], unique=False)
    op.create_index("ix_monitoring_alert_status_severity", "monitoring_alert", ["status", "severity"], unique=False)
    with op.batch_alter_table("monitoring_reading", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_monitoring_reading_enrolment_id_monitoring_enrolment", "monitoring_enrolment",
                                    ["enrolment_id"], ["id"])
        batch_op.create_foreign_key("fk_monitoring_reading_device_id_monitoring_device", "monitoring_device",
                                    ["device_id"], ["id"])
