"""sequences: status (active, paused, archived) and when it last changed; steps a re-import
removed are kept, marked with when

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 14:20:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import seqctl.store.columns

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sequences") as batch:
        batch.add_column(
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("status_at", seqctl.store.columns.UTCDateTime(), nullable=True))
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("removed_at", seqctl.store.columns.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("removed_at")
    with op.batch_alter_table("sequences") as batch:
        batch.drop_column("status_at")
        batch.drop_column("status")
