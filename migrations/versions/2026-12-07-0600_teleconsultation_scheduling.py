"""teleconsultation: rescheduling, the line coordinator, reminders, the report sent, follow-ups, the yearly share

Revision ID: 20261207_0600
Revises: 20261207_0500
Create Date: 2026-12-07 06:00:00+00:00

The appointment keeps the one it replaces (rescheduling), whether a line coordinator booked it, when its two
reminders and its report notices went out, and the follow-up the practitioner ordered (its note sealed). Notices
(in-app, one per appointment, recipient and kind), the appointment's timeline, and the practitioner's declared
in-person activity of a year (the yearly teleconsultation share's denominator). A line member may be its
coordinator; a professional may carry a conventional fee sector (TCG or TC).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0600"
down_revision = "20261207_0500"
branch_labels = None
depends_on = None

NOTICE_KINDS = "'reminder_day', 'reminder_hour', 'rescheduled', 'report_sent', 'follow_up', 'booked_for_you'"


def upgrade() -> None:
    with op.batch_alter_table("teleconsultation_appointment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rescheduled_from_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("booked_by_coordinator", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("reminder_day_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reminder_hour_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("report_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("follow_up_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("follow_up_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("follow_up_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            "follow_up_known",
            "follow_up_kind is null or follow_up_kind in ('teleconsultation', 'in_person', 'teleexpertise')",
        )
        batch_op.create_index("ix_teleconsultation_appointment_line_day", ["line_id", "starts_at"], unique=False)

    with op.batch_alter_table("specialty_line_member", schema=None) as batch_op:
        batch_op.drop_constraint("role_known", type_="check")
        batch_op.create_check_constraint("role_known", "role in ('answering', 'backup', 'coordinator')")

    with op.batch_alter_table("professional", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee_sector", sa.String(length=16), nullable=True))
        batch_op.create_check_constraint(
            "fee_sector_known", "fee_sector is null or fee_sector in ('sector_1', 'optam', 'sector_2')"
        )

    op.create_table(
        "teleconsultation_notice",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"kind in ({NOTICE_KINDS})", name=op.f("ck_teleconsultation_notice_kind_known")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["teleconsultation_appointment.id"],
            name=op.f("fk_teleconsultation_notice_appointment_id_teleconsultation_appointment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_teleconsultation_notice_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleconsultation_notice")),
        sa.UniqueConstraint(
            "appointment_id", "user_id", "kind", name=op.f("uq_teleconsultation_notice_appointment_id_user_id_kind")
        ),
    )
    with op.batch_alter_table("teleconsultation_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teleconsultation_notice_appointment_id"), ["appointment_id"], unique=False)
        batch_op.create_index("ix_teleconsultation_notice_user", ["user_id", "read_at", "created_at"], unique=False)

    op.create_table(
        "teleconsultation_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("other_appointment_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["user_account.id"],
            name=op.f("fk_teleconsultation_event_actor_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["teleconsultation_appointment.id"],
            name=op.f("fk_teleconsultation_event_appointment_id_teleconsultation_appointment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleconsultation_event")),
    )
    with op.batch_alter_table("teleconsultation_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teleconsultation_event_appointment_id"), ["appointment_id"], unique=False)

    op.create_table(
        "teleconsultation_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("in_person_count", sa.Integer(), nullable=False),
        sa.Column("other_teleconsultations", sa.Integer(), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("in_person_count >= 0", name=op.f("ck_teleconsultation_activity_count_non_negative")),
        sa.CheckConstraint(
            "other_teleconsultations >= 0", name=op.f("ck_teleconsultation_activity_other_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_teleconsultation_activity_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleconsultation_activity")),
        sa.UniqueConstraint("user_id", "year", name=op.f("uq_teleconsultation_activity_user_id_year")),
    )


def downgrade() -> None:
    op.drop_table("teleconsultation_activity")
    op.drop_table("teleconsultation_event")
    op.drop_table("teleconsultation_notice")
    with op.batch_alter_table("professional", schema=None) as batch_op:
        batch_op.drop_constraint("fee_sector_known", type_="check")
        batch_op.drop_column("fee_sector")
    with op.batch_alter_table("specialty_line_member", schema=None) as batch_op:
        batch_op.drop_constraint("role_known", type_="check")
        batch_op.create_check_constraint("role_known", "role in ('answering', 'backup')")
    with op.batch_alter_table("teleconsultation_appointment", schema=None) as batch_op:
        batch_op.drop_index("ix_teleconsultation_appointment_line_day")
        batch_op.drop_constraint("follow_up_known", type_="check")
        for column in (
            "follow_up_at",
            "follow_up_note",
            "follow_up_kind",
            "report_sent_at",
            "reminder_hour_sent_at",
            "reminder_day_sent_at",
            "booked_by_coordinator",
            "rescheduled_from_id",
        ):
            batch_op.drop_column(column)
