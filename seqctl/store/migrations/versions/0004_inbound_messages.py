"""inbound messages read by inbox sync

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 13:00:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import seqctl.store.columns

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("mailbox_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=998), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("received_at", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.Column("recorded_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
