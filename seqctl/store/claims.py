"""Claiming due enrollments: the query every tick runs, whether or not anything is due.

It names its columns with SQLAlchemy Core's lightweight `table()` rather than the table
models, so a tick that finds nothing due never imports SQLModel or pydantic (cron pays
for every import once a minute). Dialect differences of the claim live here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, String, and_, column, func, not_, or_, select, table, text, update

from seqctl.states import RUNNABLE, NotificationStatus, WaitingReason, status_in_sql
from seqctl.store.columns import UTCDateTime
from seqctl.store.records import Claim

# Written out, not bound: a query can only use the partial due-index (see tables.py)
# when its WHERE visibly implies the index's own condition, and `status IN (?, ?)`
# does not (SQLite then scans every enrollment).
RUNNABLE_SQL = status_in_sql(RUNNABLE)

_enrollments = table(
    "enrollments",
    column("id", Integer),
    column("sequence_id", Integer),
    column("current_step", String),
    column("status", String),
    column("next_run_at", UTCDateTime()),
    column("step_due_at", UTCDateTime()),
    column("last_ran_at", UTCDateTime()),
    column("leased_until", UTCDateTime()),
    column("lease_token", Integer),
    column("waiting_on", String),
    column("last_error", String),
)


_mailboxes = table("mailboxes", column("key", String), column("held_reason", String))
_notifications = table(
    "notifications", column("id", Integer), column("status", String), column("next_attempt_at", UTCDateTime())
)


def notifications_due(tx: Connection, now: datetime) -> bool:
    """Whether a notification is due for delivery (asked after every run, so asked here,
    without the table models)."""
    n = _notifications.c
    found = select(n.id).where(n.status == NotificationStatus.PENDING, n.next_attempt_at <= now).limit(1)
    return tx.execute(found).first() is not None


def hold_reasons(tx: Connection) -> dict[str, str]:
    """Why each held mailbox is held (a tick reports them, even when it claims nothing)."""
    m = _mailboxes.c
    return {
        row.key: row.held_reason
        for row in tx.execute(select(m.key, m.held_reason).where(m.held_reason.is_not(None)))
    }


# Steps of sequences, as (sequence id, step ids): the email steps of a mailbox.
Steps = list[tuple[int, list[str]]]


def any_due(tx: Connection, *, now: datetime) -> bool:
    """Whether anything is due: the one query of a tick with nothing to do."""
    e = _enrollments.c
    return (
        tx.execute(select(e.id).where(text(RUNNABLE_SQL), e.next_run_at <= now).limit(1)).first() is not None
    )


def next_due_at(tx: Connection) -> datetime | None:
    """When the next runnable enrollment falls due (the worker sleeps until then)."""
    e = _enrollments.c
    return tx.execute(select(func.min(e.next_run_at)).where(text(RUNNABLE_SQL))).scalar()


def claim_due(
    tx: Connection,
    *,
    now: datetime,
    limit: int,
    lease_until: datetime,
    skip: Steps | None = None,
    only: Steps | None = None,
) -> list[Claim]:
    """Lease up to `limit` due enrollments: follow-ups before first touches, then oldest due first
    (so what a limit held back goes before what became due since). Enrollments on one of
    the `skip` steps are left where they are (their mailbox may send nothing now); with
    `only`, only enrollments on those steps are claimed.

    Postgres skips rows another tick holds (SKIP LOCKED); on SQLite the caller's
    immediate transaction already serialises claims. Claiming pushes `next_run_at`
    to the lease's end and bumps `lease_token`, so a dead tick's work falls due again
    by itself and a late writer holding the old token is fenced off.
    """
    e = _enrollments.c
    due = select(e.id).where(text(RUNNABLE_SQL), e.next_run_at <= now)
    if skip:
        due = due.where(or_(e.current_step.is_(None), not_(_on(skip))))
    if only is not None:
        due = due.where(_on(only))
    due = due.order_by(e.last_ran_at.is_(None), e.step_due_at, e.id).limit(limit)
    if tx.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    result = tx.execute(
        update(_enrollments)
        .where(e.id.in_(due.scalar_subquery()))
        .values(next_run_at=lease_until, leased_until=lease_until, lease_token=e.lease_token + 1)
        .returning(e.id, e.lease_token)
    )
    return sorted((Claim(row[0], row[1]) for row in result), key=lambda c: c.enrollment_id)


def defer_due(tx: Connection, steps: Steps, *, now: datetime, until: datetime, why: str) -> int:
    """Defer every due enrollment on these steps to `until` (a limit holds their mailbox):
    one statement over the due index, not a claim and a write per enrollment."""
    e = _enrollments.c
    result = tx.execute(
        update(_enrollments)
        .where(text(RUNNABLE_SQL), e.next_run_at <= now, _on(steps))
        .values(next_run_at=until, waiting_on=WaitingReason.LIMIT, last_error=why)
    )
    return result.rowcount


def _on(steps: Steps) -> Any:
    e = _enrollments.c
    return or_(*(and_(e.sequence_id == sequence_id, e.current_step.in_(ids)) for sequence_id, ids in steps))
