"""A mailbox's OAuth authorisation as stored: sealed tokens, expiry, state. `locked` is
what makes one refresh per mailbox at a time across processes and hosts: a row lock on
Postgres; on SQLite the write transaction it runs in is already the only writer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from seqctl.states import AuthState
from seqctl.store.db import insert_for
from seqctl.store.tables import MailboxAuthRow, table_of

A = table_of(MailboxAuthRow)
AUTHORISED, EXPIRED = AuthState.AUTHORISED, AuthState.EXPIRED


@dataclass(frozen=True)
class MailboxAuth:
    mailbox_key: str
    method: str
    account: str | None
    sealed: str
    access_expires_at: datetime | None
    state: str
    reason: str | None
    updated_at: datetime


_COLUMNS = [A.c.mailbox_key, A.c.method, A.c.account, A.c.sealed, A.c.access_expires_at, A.c.state, A.c.reason,
            A.c.updated_at]  # fmt: skip


def get(tx: Connection, mailbox_key: str) -> MailboxAuth | None:
    row = tx.execute(select(*_COLUMNS).where(A.c.mailbox_key == mailbox_key)).first()
    return MailboxAuth(*row) if row else None


def locked(tx: Connection, mailbox_key: str) -> MailboxAuth | None:
    """The row, held until the transaction ends (call it inside `Database.write()`)."""
    query = select(*_COLUMNS).where(A.c.mailbox_key == mailbox_key)
    if tx.dialect.name == "postgresql":
        query = query.with_for_update()
    row = tx.execute(query).first()
    return MailboxAuth(*row) if row else None


def every(tx: Connection) -> list[MailboxAuth]:
    return [MailboxAuth(*row) for row in tx.execute(select(*_COLUMNS).order_by(A.c.mailbox_key))]


def save(
    tx: Connection,
    mailbox_key: str,
    *,
    method: str,
    account: str | None,
    sealed: str,
    access_expires_at: datetime | None,
    now: datetime,
) -> None:
    """Store (or replace) the mailbox's tokens; it is authorised again."""
    values = {
        "method": method, "account": account, "sealed": sealed, "access_expires_at": access_expires_at,
        "state": AUTHORISED, "reason": None, "updated_at": now,
    }  # fmt: skip
    statement = insert_for(tx.dialect.name, A).values(mailbox_key=mailbox_key, **values)
    tx.execute(statement.on_conflict_do_update(index_elements=[A.c.mailbox_key], set_=values))


def mark_expired(tx: Connection, mailbox_key: str, reason: str, now: datetime) -> bool:
    """The provider refused a refresh: keep the row (its account), say why it stopped."""
    result = tx.execute(
        update(A).where(A.c.mailbox_key == mailbox_key).values(state=EXPIRED, reason=reason, updated_at=now)
    )
    return bool(result.rowcount)


def forget(tx: Connection, mailbox_key: str) -> bool:
    return bool(tx.execute(delete(A).where(A.c.mailbox_key == mailbox_key)).rowcount)


def forget_access(tx: Connection, mailbox_key: str) -> None:
    """The server refused the access token: the next use renews it (the refresh token stays)."""
    tx.execute(update(A).where(A.c.mailbox_key == mailbox_key).values(access_expires_at=None))
