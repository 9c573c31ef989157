"""mailbox_auth: a mailbox's OAuth tokens (sealed), their expiry and state

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 15:40:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import seqctl.store.columns

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_auth",
        sa.Column("mailbox_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("access_expires_at", seqctl.store.columns.UTCDateTime(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_key"),
    )


def downgrade() -> None:
    op.drop_table("mailbox_auth")
