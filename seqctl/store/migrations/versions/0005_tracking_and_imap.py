"""events: click URL and automated flag; IMAP sync cursors; indexes for messages by
recipient and inbound messages by Message-ID; contacts' registrable domain

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:10:00
"""

from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
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
    op.create_index("ix_inbound_mailbox_message", "inbound_messages", ["mailbox_key", "message_id"])
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("company", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch.create_index("ix_contacts_company", ["company"], unique=False)
    _backfill_companies()
    op.create_table(
        "inbox_cursors",
        sa.Column("mailbox_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("folder", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", seqctl.store.columns.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_key", "folder"),
    )


def _company_of(suffixes: Any, email: str) -> str | None:
    """The rule as it stood for this migration (the registrable domain per the Public
    Suffix List), written here so that later changes to the application's rule never
    change what this migration did."""
    domain = email.rpartition("@")[2].strip().strip(".").lower()
    if not domain or "." not in domain:
        return None
    found = suffixes.privatesuffix(domain)
    return str(found) if found else None


def _backfill_companies() -> None:
    from publicsuffixlist import PublicSuffixList

    suffixes = PublicSuffixList()
    conn = op.get_bind()
    contacts = sa.table("contacts", sa.column("id", sa.Integer), sa.column("email", sa.String), sa.column("company", sa.String))
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(contacts.c.id, contacts.c.email).where(contacts.c.id > last_id).order_by(contacts.c.id).limit(5000)
        ).all()
        if not rows:
            return
        conn.execute(
            contacts.update().where(contacts.c.id == sa.bindparam("b_id")).values(company=sa.bindparam("b_company")),
            [{"b_id": row.id, "b_company": _company_of(suffixes, row.email)} for row in rows],
        )
        last_id = rows[-1].id


def downgrade() -> None:
    op.drop_table("inbox_cursors")
    op.drop_index("ix_messages_recipient_sent", table_name="messages")
    op.drop_index("ix_inbound_mailbox_message", table_name="inbound_messages")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ix_contacts_company")
        batch.drop_column("company")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("automated")
        batch.drop_column("url")
