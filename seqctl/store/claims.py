"""Claiming due enrollments: the query every tick runs, whether or not anything is due.

It names its columns with SQLAlchemy Core's lightweight `table()` rather than the table
models, so a tick that finds nothing due never imports SQLModel or pydantic (cron pays
for every import once a minute). Dialect differences of the claim live here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Integer, String, column, select, table, text, update

from seqctl.states import RUNNABLE, status_in_sql
from seqctl.store.columns import UTCDateTime
from seqctl.store.records import Claim

# Written out, not bound: a query can only use the partial due-index (see tables.py)
# when its WHERE visibly implies the index's own condition, and `status IN (?, ?)`
# does not (SQLite then scans every enrollment).
RUNNABLE_SQL = status_in_sql(RUNNABLE)

_enrollments = table(
    "enrollments",
    column("id", Integer),
    column("status", String),
    column("next_run_at", UTCDateTime()),
    column("step_due_at", UTCDateTime()),
    column("last_ran_at", UTCDateTime()),
    column("leased_until", UTCDateTime()),
    column("lease_token", Integer),
)


def claim_due(tx: Connection, *, now: datetime, limit: int, lease_until: datetime) -> list[Claim]:
    """Lease up to `limit` due enrollments: follow-ups before first touches, then oldest due first
    (so what a limit held back goes before what became due since).

    Postgres skips rows another tick holds (SKIP LOCKED); on SQLite the caller's
    immediate transaction already serialises claims. Claiming pushes `next_run_at`
    to the lease's end and bumps `lease_token`, so a dead tick's work falls due again
    by itself and a late writer holding the old token is fenced off.
    """
    e = _enrollments.c
    due = (
        select(e.id)
        .where(text(RUNNABLE_SQL), e.next_run_at <= now)
        .order_by(e.last_ran_at.is_(None), e.step_due_at, e.id)
        .limit(limit)
    )
    if tx.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    result = tx.execute(
        update(_enrollments)
        .where(e.id.in_(due.scalar_subquery()))
        .values(next_run_at=lease_until, leased_until=lease_until, lease_token=e.lease_token + 1)
        .returning(e.id, e.lease_token)
    )
    return sorted((Claim(row[0], row[1]) for row in result), key=lambda c: c.enrollment_id)
