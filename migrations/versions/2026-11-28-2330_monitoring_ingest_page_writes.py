"""monitoring: fewer page writes per ingested reading

Revision ID: 20261128_2330
Revises: 20261128_2140
Create Date: 2026-11-28 23:30:00+00:00

- The alert's foreign key to its enrolment goes, as the reading's went: each new alert (a green "received" for a
  patient's first reading of the day) ran a referential check that looked the enrolment up and locked its row,
  dirtying a page of the enrolment table: about a third of the alert's insert. Alerts are written by ingestion and
  the scheduled check from an enrolment they have just read, and enrolments are never deleted (they end).
- The alert's unique key becomes ``(enrolment_id, open_key)``, the index ingestion already reads the open alerts
  through, and the unique index on ``open_key`` alone goes: ``open_key`` is "enrolment:condition", so both say one
  open alert per patient and condition, and no query looks an alert up by ``open_key`` alone. One index entry less
  to write for each new alert and each close.
- The rule state table keeps a third of each page free (``fillfactor`` 70, PostgreSQL): a state is rewritten at
  every batch that brings its patient a reading, and with full pages most new versions went to another page, so
  each update also wrote an entry in both of the table's indexes. With room on the page, the update stays on it
  (heap-only) and writes no index entry.
"""

from __future__ import annotations

from alembic import op

revision = "20261128_2330"
down_revision = "20261128_2140"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitoring_alert") as batch:
        batch.drop_constraint("fk_monitoring_alert_enrolment_id_monitoring_enrolment", type_="foreignkey")
        batch.drop_constraint("uq_monitoring_alert_open_key", type_="unique")
        batch.drop_index("ix_monitoring_alert_enrolment_open_key")
        batch.create_index("ix_monitoring_alert_enrolment_open_key", ["enrolment_id", "open_key"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        # Applies to the pages written from now on; the table's existing pages are not rewritten (no lock held).
        op.execute("ALTER TABLE monitoring_rule_state SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE monitoring_rule_state RESET (fillfactor)")
    with op.batch_alter_table("monitoring_alert") as batch:
        batch.drop_index("ix_monitoring_alert_enrolment_open_key")
        batch.create_index("ix_monitoring_alert_enrolment_open_key", ["enrolment_id", "open_key"], unique=False)
        batch.create_unique_constraint("uq_monitoring_alert_open_key", ["open_key"])
        batch.create_foreign_key("fk_monitoring_alert_enrolment_id_monitoring_enrolment", "monitoring_enrolment",
                                 ["enrolment_id"], ["id"], ondelete="CASCADE")
