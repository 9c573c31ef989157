"""Read-only aggregates for queue, stats and log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, distinct, func, select

from seqctl.store.enrollments import E, _record, _select
from seqctl.store.records import Enrollment
from seqctl.store.tables import EventRow, ExecutionRow, MessageRow, table_of

MSG = table_of(MessageRow)
EV = table_of(EventRow)
X = table_of(ExecutionRow)


def queue(
    tx: Connection,
    *,
    sequence_id: int | None,
    statuses: tuple[str, ...],
    due_by: datetime | None,
    limit: int,
) -> list[Enrollment]:
    query = _select().where(E.c.status.in_(statuses))
    if sequence_id is not None:
        query = query.where(E.c.sequence_id == sequence_id)
    if due_by is not None:
        query = query.where(E.c.next_run_at <= due_by)
    query = query.order_by(E.c.next_run_at.is_(None), E.c.next_run_at, E.c.id).limit(limit)
    return [_record(row) for row in tx.execute(query)]


def enrollments(
    tx: Connection,
    *,
    sequence_id: int | None,
    statuses: Sequence[str] | None,
    owner: str | None,
    contact_id: int | None,
    limit: int,
) -> list[Enrollment]:
    """Enrollments of any status, newest first."""
    query = _select()
    if sequence_id is not None:
        query = query.where(E.c.sequence_id == sequence_id)
    if statuses:
        query = query.where(E.c.status.in_(list(statuses)))
    if owner is not None:
        query = query.where(E.c.owner == owner)
    if contact_id is not None:
        query = query.where(E.c.contact_id == contact_id)
    return [_record(row) for row in tx.execute(query.order_by(E.c.id.desc()).limit(limit))]


def enrollment_counts(tx: Connection) -> list[dict[str, Any]]:
    rows = tx.execute(
        select(E.c.sequence_id, E.c.status, E.c.exit_reason, func.count()).group_by(
            E.c.sequence_id, E.c.status, E.c.exit_reason
        )
    )
    return [{"sequence_id": r[0], "status": r[1], "exit_reason": r[2], "count": r[3]} for r in rows]


def message_counts(tx: Connection) -> list[dict[str, Any]]:
    rows = tx.execute(
        select(E.c.sequence_id, MSG.c.step_id, MSG.c.variant, MSG.c.status, func.count())
        .select_from(MSG.join(E, E.c.id == MSG.c.enrollment_id))
        .group_by(E.c.sequence_id, MSG.c.step_id, MSG.c.variant, MSG.c.status)
    )
    return [{"sequence_id": r[0], "step": r[1], "variant": r[2], "status": r[3], "count": r[4]} for r in rows]


def engagement_counts(tx: Connection, *, include_automated: bool = False) -> list[dict[str, Any]]:
    """Per sent message's step/variant: how many messages had each event type (not how many
    events); events flagged as automated only with `include_automated`."""
    query = (
        select(
            E.c.sequence_id,
            MSG.c.step_id,
            MSG.c.variant,
            EV.c.type,
            EV.c.detail,
            func.count(distinct(MSG.c.id)),
        )
        .select_from(EV.join(MSG, MSG.c.message_id == EV.c.message_id).join(E, E.c.id == MSG.c.enrollment_id))
        .group_by(E.c.sequence_id, MSG.c.step_id, MSG.c.variant, EV.c.type, EV.c.detail)
    )
    if not include_automated:
        query = query.where(EV.c.automated.is_(None))
    rows = tx.execute(query)
    return [
        {
            "sequence_id": r[0],
            "step": r[1],
            "variant": r[2],
            "type": r[3],
            "detail": r[4],
            "count": r[5],
        }
        for r in rows
    ]


def execution_counts(tx: Connection) -> list[dict[str, Any]]:
    rows = tx.execute(
        select(E.c.sequence_id, X.c.step_id, X.c.kind, X.c.outcome, func.count())
        .select_from(X.join(E, E.c.id == X.c.enrollment_id))
        .where(X.c.kind.in_(("task", "branch", "action")))
        .group_by(E.c.sequence_id, X.c.step_id, X.c.kind, X.c.outcome)
    )
    return [{"sequence_id": r[0], "step": r[1], "kind": r[2], "outcome": r[3], "count": r[4]} for r in rows]
