"""bounce reasons on events and inbound messages (with the address a report concerns and
an out-of-office's return date); mailboxes held until an operator resumes them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:50:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import seqctl.store.columns

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True))
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True))
        batch.add_column(sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch.add_column(sa.Column("returns_on", sa.Date(), nullable=True))
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("held_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("held_at", seqctl.store.columns.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("held_at")
        batch.drop_column("held_reason")
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("returns_on")
        batch.drop_column("address")
        batch.drop_column("reason")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("reason")
