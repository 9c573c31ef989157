"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 05:50:38.495401
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import seqctl.store.columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.Column("updated_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("paused_until", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.Column("pause_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("updated_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "sequences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("mailbox_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.Column("updated_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("created_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("value"),
    )
    op.create_table(
        "contact_tags",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.PrimaryKeyConstraint("contact_id", "tag"),
    )
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("current_step", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("step_due_at", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.Column("next_run_at", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.Column("waiting_on", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("leased_until", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("exit_reason", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("exit_detail", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("started_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.Column("last_ran_at", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.Column("finished_at", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.Column("created_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.Column("updated_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["sequences.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollments_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(
            "ix_enrollments_due",
            ["next_run_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('scheduled', 'active')"),
            postgresql_where=sa.text("status IN ('scheduled', 'active')"),
        )
        batch_op.create_index(batch_op.f("ix_enrollments_sequence_id"), ["sequence_id"], unique=False)
        batch_op.create_index(
            "uq_enrollments_open",
            ["sequence_id", "contact_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('scheduled', 'active', 'paused', 'failed')"),
            postgresql_where=sa.text("status IN ('scheduled', 'active', 'paused', 'failed')"),
        )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("occurred_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_contact_type", ["contact_id", "type"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_message_id"), ["message_id"], unique=False)

    op.create_table(
        "steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["sequences.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sequence_id", "step_id", name="uq_steps_sequence_step"),
    )
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_steps_sequence_id"), ["sequence_id"], unique=False)

    op.create_table(
        "executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("variant", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_executions_enrollment_id"), ["enrollment_id"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("mailbox_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("variant", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.Column("sent_at", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_id", "step_id", name="uq_messages_enrollment_step"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_mailbox_created", ["mailbox_key", "created_at"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("due_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.Column("created_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.Column("completed_at", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_id", "step_id", name="uq_tasks_enrollment_step"),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_status_owner", ["status", "owner"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_status_owner")

    op.drop_table("tasks")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_mailbox_created")

    op.drop_table("messages")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_executions_enrollment_id"))

    op.drop_table("executions")
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_steps_sequence_id"))

    op.drop_table("steps")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_message_id"))
        batch_op.drop_index("ix_events_contact_type")

    op.drop_table("events")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_enrollments_open",
            sqlite_where=sa.text("status IN ('scheduled', 'active', 'paused', 'failed')"),
            postgresql_where=sa.text("status IN ('scheduled', 'active', 'paused', 'failed')"),
        )
        batch_op.drop_index(batch_op.f("ix_enrollments_sequence_id"))
        batch_op.drop_index(
            "ix_enrollments_due",
            sqlite_where=sa.text("status IN ('scheduled', 'active')"),
            postgresql_where=sa.text("status IN ('scheduled', 'active')"),
        )
        batch_op.drop_index(batch_op.f("ix_enrollments_contact_id"))

    op.drop_table("enrollments")
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_tags_tag"))

    op.drop_table("contact_tags")
    op.drop_table("suppressions")
    op.drop_table("sequences")
    op.drop_table("mailboxes")
    op.drop_table("contacts")
