"""The notification outbox and its targets: rows written with the change that caused
them, claimed with a lease by whichever process delivers (so two never deliver one at
the same moment), settled under the claim's token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from seqctl.states import NotificationStatus
from seqctl.store.catalog import upsert_definition
from seqctl.store.tables import NotificationRow, NotifyTargetRow, table_of

N = table_of(NotificationRow)
T = table_of(NotifyTargetRow)
PENDING, DELIVERED, FAILED = NotificationStatus.PENDING, NotificationStatus.DELIVERED, NotificationStatus.FAILED


@dataclass(frozen=True)
class Notification:
    id: int
    webhook_id: str
    target_key: str
    event: str
    sequence_key: str | None
    enrollment_id: int | None
    data: dict[str, Any]
    occurred_at: datetime
    attempts: int
    give_up_at: datetime
    lease_token: str | None


_COLUMNS = [N.c.id, N.c.webhook_id, N.c.target_key, N.c.event, N.c.sequence_key, N.c.enrollment_id, N.c.data,
            N.c.occurred_at, N.c.attempts, N.c.give_up_at, N.c.lease_token]  # fmt: skip


def targets(tx: Connection) -> dict[str, dict[str, Any]]:
    return {row.key: row.definition for row in tx.execute(select(T.c.key, T.c.definition))}


def upsert_target(tx: Connection, key: str, definition: dict[str, Any], now: datetime) -> str:
    return upsert_definition(tx, T, key, definition, now)


def new_webhook_id() -> str:
    return "msg_" + secrets.token_hex(16)


def add(tx: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert notifications: each row has target_key, event, sequence_key, enrollment_id,
    data, occurred_at, next_attempt_at and give_up_at."""
    if rows:
        tx.execute(insert(N), [{"webhook_id": new_webhook_id(), "status": PENDING, "attempts": 0, **r} for r in rows])


def claim(tx: Connection, *, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
    """Lease up to `limit` due notifications, oldest first: their next attempt moves to the
    lease's end (a dead deliverer's claim falls due again by itself) and they get a new
    token that fences every later write of an earlier claimant."""
    due = select(N.c.id).where(N.c.status == PENDING, N.c.next_attempt_at <= now).order_by(N.c.next_attempt_at, N.c.id)
    due = due.limit(limit)
    if tx.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    token = secrets.token_hex(8)
    tx.execute(
        update(N).where(N.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=lease_until, leased_until=lease_until, lease_token=token)
    )  # fmt: skip
    rows = tx.execute(select(*_COLUMNS).where(N.c.lease_token == token).order_by(N.c.id))
    return [Notification(*row) for row in rows]


def _held(notification: Notification) -> Any:
    return (N.c.id == notification.id) & (N.c.lease_token == notification.lease_token) & (N.c.status == PENDING)


def delivered(tx: Connection, notification: Notification, now: datetime) -> bool:
    result = tx.execute(update(N).where(_held(notification)).values(
        status=DELIVERED, delivered_at=now, attempts=N.c.attempts + 1, leased_until=None, lease_token=None,
        last_error=None,
    ))  # fmt: skip
    return bool(result.rowcount)


def failed_attempt(tx: Connection, notification: Notification, *, error: str, next_at: datetime | None) -> bool:
    """One more failed attempt: tried again at `next_at`, or (None) failed for good."""
    values: dict[str, Any] = {"attempts": N.c.attempts + 1, "last_error": error[:1000], "leased_until": None,
                              "lease_token": None}  # fmt: skip
    values |= {"next_attempt_at": next_at} if next_at is not None else {"status": FAILED}
    return bool(tx.execute(update(N).where(_held(notification)).values(**values)).rowcount)


def release(tx: Connection, notification: Notification, now: datetime) -> None:
    """Give back a claim this run had no time for: due again at once."""
    tx.execute(update(N).where(_held(notification)).values(next_attempt_at=now, leased_until=None, lease_token=None))


def retry(tx: Connection, notification_id: int, *, now: datetime, give_up_at: datetime) -> bool:
    """A failed notification pending again, with a new retry window; False when there is
    no failed notification with that id."""
    result = tx.execute(
        update(N).where(N.c.id == notification_id, N.c.status == FAILED)
        .values(status=PENDING, next_attempt_at=now, give_up_at=give_up_at, last_error=None)
    )  # fmt: skip
    return bool(result.rowcount)


def listing(tx: Connection, *, status: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(
        N.c.id, N.c.webhook_id, N.c.target_key, N.c.event, N.c.sequence_key, N.c.enrollment_id, N.c.status,
        N.c.attempts, N.c.occurred_at, N.c.next_attempt_at, N.c.delivered_at, N.c.last_error,
    ).order_by(N.c.id.desc()).limit(limit)  # fmt: skip
    if status is not None:
        query = query.where(N.c.status == status)
    return [dict(row._mapping) for row in tx.execute(query)]
