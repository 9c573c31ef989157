"""Inbound messages an inbox sync has read (see `services.inbox`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from seqctl.store.db import insert_for
from seqctl.store.tables import ContactRow, InboundRow, InboxCursorRow, table_of

IN = table_of(InboundRow)
CONTACTS = table_of(ContactRow)
CUR = table_of(InboxCursorRow)


def known(tx: Connection, source_keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(source_keys), 500):
        chunk = source_keys[start : start + 500]
        found.update(tx.execute(select(IN.c.source_key).where(IN.c.source_key.in_(chunk))).scalars())
    return found


def _claim_statement(dialect: str) -> Any:
    return insert_for(dialect, IN).on_conflict_do_nothing(index_elements=["source_key"]).returning(IN.c.id)


# Built once per dialect: a sync claims every message, and building it is most of the cost.
_CLAIM: dict[str, Any] = {}


def claim(tx: Connection, *, now: datetime, source_key: str, **values: Any) -> bool:
    """Record a message as read; False when a sync recorded it already (or is recording it
    now: on Postgres the insert waits for that transaction, then does nothing)."""
    dialect = tx.dialect.name
    if dialect not in _CLAIM:
        _CLAIM[dialect] = _claim_statement(dialect)
    row: dict[str, Any] = {column.name: None for column in IN.c if column.name not in ("id", "contact_id")}
    row.update(recorded_at=now, source_key=source_key, outcome="reading", **values)
    return tx.execute(_CLAIM[dialect], row).first() is not None


def settle(tx: Connection, source_key: str, *, contact_id: int | None, outcome: str) -> None:
    tx.execute(update(IN).where(IN.c.source_key == source_key).values(contact_id=contact_id, outcome=outcome))


def listing(
    tx: Connection, *, unmatched_only: bool = False, mailbox_key: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest messages read, newest first, with the matched contact's address."""
    query = select(
        IN.c.id, IN.c.mailbox_key.label("mailbox"), IN.c.kind, IN.c.detail.label("bounce"), IN.c.reason,
        IN.c.address, IN.c.returns_on, CONTACTS.c.email.label("contact"), IN.c.sender, IN.c.subject,
        IN.c.outcome, IN.c.received_at, IN.c.recorded_at, IN.c.message_id,
    ).select_from(IN.outerjoin(CONTACTS, CONTACTS.c.id == IN.c.contact_id))
    if unmatched_only:
        query = query.where(IN.c.contact_id.is_(None))
    if mailbox_key is not None:
        query = query.where(IN.c.mailbox_key == mailbox_key)
    rows = tx.execute(query.order_by(IN.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


_RECORDED = select(IN.c.message_id).where(
    IN.c.message_id == bindparam("message_id"), IN.c.mailbox_key == bindparam("mailbox_key")
)
_RECORDED_UNSET_MAILBOX = select(IN.c.message_id).where(
    IN.c.message_id == bindparam("message_id"), IN.c.mailbox_key.is_(None)
)


def recorded(tx: Connection, mailbox_key: str | None, message_id: str) -> bool:
    """Whether a sync of this mailbox has recorded this Message-ID already."""
    statement = _RECORDED if mailbox_key is not None else _RECORDED_UNSET_MAILBOX
    return tx.execute(statement, {"message_id": message_id, "mailbox_key": mailbox_key}).first() is not None


def cursor(tx: Connection, mailbox_key: str, folder: str) -> tuple[int, int] | None:
    """(uidvalidity, last_uid) of the folder's last sync, if any."""
    row = tx.execute(
        select(CUR.c.uidvalidity, CUR.c.last_uid).where(CUR.c.mailbox_key == mailbox_key, CUR.c.folder == folder)
    ).first()
    return (row.uidvalidity, row.last_uid) if row else None


def move_cursor(
    tx: Connection, mailbox_key: str, folder: str, *, uidvalidity: int, last_uid: int, now: datetime
) -> None:
    where = (CUR.c.mailbox_key == mailbox_key) & (CUR.c.folder == folder)
    values = {"uidvalidity": uidvalidity, "last_uid": last_uid, "updated_at": now}
    if tx.execute(update(CUR).where(where).values(**values)).rowcount == 0:
        tx.execute(insert(CUR).values(mailbox_key=mailbox_key, folder=folder, **values))
