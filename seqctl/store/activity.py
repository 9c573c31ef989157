"""The audit trail and the facts around it: executions, events, suppressions, tasks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from seqctl.erasure import address_digest
from seqctl.store import bulk
from seqctl.store.db import insert_for
from seqctl.store.records import Event, Execution, Task
from seqctl.store.tables import (
    ContactRow,
    EnrollmentRow,
    EventRow,
    ExecutionRow,
    MessageRow,
    SequenceRow,
    SuppressionRow,
    TaskRow,
    table_of,
)

X = table_of(ExecutionRow)
EV = table_of(EventRow)
MSG = table_of(MessageRow)
SUP = table_of(SuppressionRow)
T = table_of(TaskRow)
E = table_of(EnrollmentRow)
C = table_of(ContactRow)
S = table_of(SequenceRow)


def record_execution(
    tx: Connection,
    *,
    enrollment_id: int,
    step_id: str | None,
    kind: str,
    outcome: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    variant: str | None = None,
    message_id: str | None = None,
    error: str | None = None,
) -> None:
    tx.execute(
        insert(X).values(
            enrollment_id=enrollment_id, step_id=step_id, kind=kind, outcome=outcome,
            detail=detail or {}, variant=variant, message_id=message_id, error=error, at=at,
        )
    )  # fmt: skip


def executions(tx: Connection, enrollment_id: int) -> list[Execution]:
    rows = tx.execute(
        select(X.c.id, X.c.enrollment_id, X.c.step_id, X.c.kind, X.c.outcome, X.c.at, X.c.variant,
               X.c.message_id, X.c.error, X.c.detail)
        .where(X.c.enrollment_id == enrollment_id)
        .order_by(X.c.at, X.c.id)
    )  # fmt: skip
    return [Execution(**row._mapping) for row in rows]


def record_event(
    tx: Connection,
    *,
    contact_id: int,
    type: str,
    occurred_at: datetime,
    now: datetime,
    message_id: str | None = None,
    detail: str | None = None,
    source: str = "manual",
    dedupe_key: str | None = None,
    url: str | None = None,
    automated: str | None = None,
    reason: str | None = None,
) -> bool:
    """Store an event; with a `dedupe_key` seen before, store nothing and return False."""
    if dedupe_key is not None:
        if tx.execute(select(EV.c.id).where(EV.c.dedupe_key == dedupe_key)).first():
            return False
    tx.execute(
        insert(EV).values(
            contact_id=contact_id, type=type, occurred_at=occurred_at, recorded_at=now,
            message_id=message_id, detail=detail, source=source, dedupe_key=dedupe_key, url=url,
            automated=automated, reason=reason,
        )
    )  # fmt: skip
    return True


def count_events(
    tx: Connection, contact_id: int, type: str, *, detail: str | None, since: datetime,
    except_reasons: Iterable[str] = (),
) -> int:  # fmt: skip
    query = select(func.count()).where(
        EV.c.contact_id == contact_id, EV.c.type == type, EV.c.occurred_at >= since
    )
    if detail is not None:
        query = query.where(EV.c.detail == detail)
    if except_reasons:
        query = query.where(or_(EV.c.reason.is_(None), EV.c.reason.not_in(list(except_reasons))))
    return int(tx.execute(query).scalar_one())


def flag_automated(tx: Connection, event_ids: list[int], reason: str) -> None:
    if event_ids:
        tx.execute(
            update(EV).where(EV.c.id.in_(event_ids), EV.c.automated.is_(None)).values(automated=reason)
        )


def recent_clicks(tx: Connection, message_id: str, since: datetime) -> list[tuple[int, str | None]]:
    """(event id, url) of the message's clicks recorded since then."""
    rows = tx.execute(
        select(EV.c.id, EV.c.url).where(
            EV.c.message_id == message_id, EV.c.type == "clicked", EV.c.occurred_at >= since
        )
    )
    return [(row.id, row.url) for row in rows]


_EVENT_COLUMNS = [
    EV.c.id, EV.c.contact_id, EV.c.type, EV.c.occurred_at, EV.c.message_id, EV.c.detail, EV.c.source,
    MSG.c.enrollment_id, MSG.c.step_id, EV.c.url, EV.c.automated, EV.c.reason,
]  # fmt: skip


def events_for_contact(tx: Connection, contact_id: int) -> list[Event]:
    """The contact's events, each with the enrollment and step of the message it names, if any."""
    rows = tx.execute(
        select(*_EVENT_COLUMNS)
        .select_from(EV.outerjoin(MSG, MSG.c.message_id == EV.c.message_id))
        .where(EV.c.contact_id == contact_id)
        .order_by(EV.c.occurred_at, EV.c.id)
    )  # fmt: skip
    return [Event(*row) for row in rows]


# What suppresses an address: the address itself, a suppressed domain it is at, or the
# keyed digest an erased address left (see `seqctl.erasure`).
COVERS = or_(
    SUP.c.value == bindparam("b_address"),
    (SUP.c.value == bindparam("b_domain")) & (SUP.c.kind == "domain"),
    SUP.c.value == bindparam("b_erased"),
)
_SUPPRESSION = select(SUP.c.value, SUP.c.reason).where(COVERS)


def suppression_params(email: str, key: str | None) -> dict[str, str]:
    """The parameters of `COVERS`; without the key, no erased address is recognised."""
    return {
        "b_address": email.lower(),
        "b_domain": email.rsplit("@", 1)[-1].lower(),
        "b_erased": address_digest(email, key) if key else "",
    }


def suppression_for(tx: Connection, email: str, key: str | None) -> tuple[str, str] | None:
    """(value, reason) of the suppression covering this address or its domain, if any."""
    row = tx.execute(_SUPPRESSION, suppression_params(email, key)).first()
    return (row.value, row.reason) if row else None


def suppressions_among(tx: Connection, emails: Sequence[str], key: str | None) -> dict[str, tuple[str, str]]:
    """(value, reason) of the suppression covering each of these addresses that has one
    (`COVERS`, for many addresses at once)."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(emails), 3000):
        params = {email: suppression_params(email, key) for email in emails[start : start + 3000]}
        wanted = {value for p in params.values() for value in p.values() if value}
        rows = tx.execute(select(SUP.c.value, SUP.c.kind, SUP.c.reason).where(SUP.c.value.in_(sorted(wanted))))
        by_value = {row.value: row for row in rows}
        for email, p in params.items():
            row = by_value.get(p["b_address"]) or by_value.get(p["b_erased"])
            if row is None and (domain := by_value.get(p["b_domain"])) is not None and domain.kind == "domain":
                row = domain
            if row is not None:
                found[email] = (row.value, row.reason)
    return found


def suppress(tx: Connection, value: str, kind: str, reason: str, now: datetime) -> bool:
    value = value.lower()
    if tx.execute(select(SUP.c.id).where(SUP.c.value == value)).first():
        return False
    tx.execute(insert(SUP).values(value=value, kind=kind, reason=reason, created_at=now))
    return True


def unsuppress(tx: Connection, value: str) -> bool:
    return tx.execute(delete(SUP).where(SUP.c.value == value.lower())).rowcount > 0


def suppressions(tx: Connection) -> list[dict[str, Any]]:
    rows = tx.execute(select(SUP.c.value, SUP.c.kind, SUP.c.reason, SUP.c.created_at).order_by(SUP.c.value))
    return [dict(row._mapping) for row in rows]


_TASK_COLUMNS = [
    T.c.id, T.c.enrollment_id, S.c.key, C.c.email, T.c.step_id, T.c.kind, T.c.note, T.c.owner,
    T.c.status, T.c.outcome, T.c.due_at, T.c.created_at, T.c.completed_at,
]  # fmt: skip


def _task_select() -> Any:
    joined = (
        T.join(E, E.c.id == T.c.enrollment_id)
        .join(S, S.c.id == E.c.sequence_id)
        .join(C, C.c.id == E.c.contact_id)
    )
    return select(*_TASK_COLUMNS).select_from(joined)


def task(tx: Connection, task_id: int) -> Task | None:
    row = tx.execute(_task_select().where(T.c.id == task_id)).first()
    return Task(*row) if row else None


def tasks(tx: Connection, *, owner: str | None = None, statuses: Iterable[str] = ("open",)) -> list[Task]:
    query = _task_select().where(T.c.status.in_(list(statuses))).order_by(T.c.due_at, T.c.id)
    if owner is not None:
        query = query.where(T.c.owner == owner)
    return [Task(*row) for row in tx.execute(query)]


def close_task(tx: Connection, task_id: int, status: str, outcome: str | None, now: datetime) -> bool:
    result = tx.execute(
        update(T)
        .where(T.c.id == task_id, T.c.status == "open")
        .values(status=status, outcome=outcome, completed_at=now)
    )
    return result.rowcount == 1


def close_tasks_of(tx: Connection, enrollment_id: int, status: str, now: datetime) -> None:
    close_tasks_of_many(tx, [enrollment_id], status, now)


def close_tasks_of_many(tx: Connection, enrollment_ids: Sequence[int], status: str, now: datetime) -> None:
    for start in range(0, len(enrollment_ids), 5000):
        tx.execute(
            update(T)
            .where(T.c.enrollment_id.in_(list(enrollment_ids[start : start + 5000])), T.c.status == "open")
            .values(status=status, completed_at=now)
        )


_INSERT_EXECUTION = insert(X)


def record_executions(tx: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    bulk.executemany(
        tx,
        _INSERT_EXECUTION,
        [{"detail": {}, "variant": None, "message_id": None, "error": None, **row} for row in rows],
    )


def events_for_contacts(tx: Connection, contact_ids: list[int]) -> dict[int, list[Event]]:
    rows = tx.execute(
        select(*_EVENT_COLUMNS)
        .select_from(EV.outerjoin(MSG, MSG.c.message_id == EV.c.message_id))
        .where(EV.c.contact_id.in_(contact_ids))
        .order_by(EV.c.occurred_at, EV.c.id)
    )  # fmt: skip
    found: dict[int, list[Event]] = {}
    for row in rows:
        found.setdefault(row.contact_id, []).append(Event(*row))
    return found


def tasks_for_enrollments(tx: Connection, enrollment_ids: list[int]) -> dict[tuple[int, str], Task]:
    rows = tx.execute(_task_select().where(T.c.enrollment_id.in_(enrollment_ids)))
    return {(row.enrollment_id, row.step_id): Task(*row) for row in rows}


def create_tasks(tx: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert tasks, skipping any (enrollment, step) that already has one."""
    if not rows:
        return
    tx.execute(
        insert_for(tx.dialect.name, T).on_conflict_do_nothing(), [{"status": "open", **row} for row in rows]
    )


def close_tasks(tx: Connection, rows: list[tuple[int, str, str | None]], now: datetime) -> None:
    if rows:
        tx.execute(
            update(T).where(T.c.id == bindparam("b_id"), T.c.status == "open")
            .values(status=bindparam("b_status"), outcome=bindparam("b_outcome"), completed_at=now),
            [{"b_id": task_id, "b_status": status, "b_outcome": outcome} for task_id, status, outcome in rows],
        )  # fmt: skip
