"""events: click URL and automated flag; IMAP sync cursors; messages by recipient

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:10:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import seqctl.store.columns

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("automated", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
    op.create_index("ix_messages_recipient_sent", "messages", ["recipient", "sent_at"])
    op.create_table(
        "inbox_cursors",
        sa.Column("mailbox_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("folder", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_key", "folder"),
    )


def downgrade() -> None:
    op.drop_table("inbox_cursors")
    op.drop_index("ix_messages_recipient_sent", table_name="messages")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("automated")
        batch.drop_column("url")
