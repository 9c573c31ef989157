"""Enrollments as a queue: enroll, claim what is due, fenced updates, operator verbs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text, update

from seqctl.states import LIVE, OPEN, RUNNABLE, EnrollmentStatus, WaitingReason
from seqctl.store import bulk
from seqctl.store.claims import RUNNABLE_SQL
from seqctl.store.db import insert_ignoring_conflicts
from seqctl.store.records import Enrollment
from seqctl.store.tables import ContactRow, EnrollmentRow, SequenceRow, table_of

E = table_of(EnrollmentRow)
C = table_of(ContactRow)
S = table_of(SequenceRow)

_COLUMNS = [
    E.c.id, E.c.sequence_id, S.c.key, E.c.contact_id, C.c.email, E.c.status, E.c.current_step,
    E.c.step_due_at, E.c.next_run_at, E.c.waiting_on, E.c.lease_token, E.c.attempts, E.c.owner,
    E.c.exit_reason, E.c.exit_detail, E.c.last_error, E.c.started_at, E.c.last_ran_at,
    E.c.finished_at, E.c.created_at, E.c.leased_until,
]  # fmt: skip


def _select() -> Any:
    return select(*_COLUMNS).select_from(
        E.join(S, S.c.id == E.c.sequence_id).join(C, C.c.id == E.c.contact_id)
    )


def _record(row: Any) -> Enrollment:
    return Enrollment(*row)


def get(tx: Connection, enrollment_id: int) -> Enrollment | None:
    """One enrollment, or None."""
    row = tx.execute(_select().where(E.c.id == enrollment_id)).first()
    return _record(row) if row else None


def find(
    tx: Connection,
    *,
    sequence_id: int | None = None,
    contact_id: int | None = None,
    statuses: Iterable[str] | None = None,
    ids: Iterable[int] | None = None,
) -> list[Enrollment]:
    query = _select().order_by(E.c.id)
    if sequence_id is not None:
        query = query.where(E.c.sequence_id == sequence_id)
    if contact_id is not None:
        query = query.where(E.c.contact_id == contact_id)
    if statuses is not None:
        query = query.where(E.c.status.in_(list(statuses)))
    if ids is not None:
        query = query.where(E.c.id.in_(list(ids)))
    return [_record(row) for row in tx.execute(query)]


def open_enrollment(tx: Connection, sequence_id: int, contact_id: int) -> Enrollment | None:
    found = find(tx, sequence_id=sequence_id, contact_id=contact_id, statuses=OPEN)
    return found[0] if found else None


# IN lists are cut to this many values (SQLite allows 32,766 bound values per statement).
CHUNK = 5000


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def history(tx: Connection, sequence_id: int, contact_ids: Sequence[int]) -> dict[int, list[Enrollment]]:
    """Every enrollment these contacts have, or had, in the sequence, oldest first."""
    found: dict[int, list[Enrollment]] = {}
    for chunk in _chunks(contact_ids):
        query = (
            _select().where(E.c.sequence_id == sequence_id, E.c.contact_id.in_(list(chunk))).order_by(E.c.id)
        )
        for row in tx.execute(query):
            found.setdefault(row.contact_id, []).append(_record(row))
    return found


def open_in(tx: Connection, sequence_ids: Sequence[int], contact_ids: Sequence[int]) -> dict[int, Enrollment]:
    """Each contact's open enrollment in any of these sequences (the first, if several)."""
    found: dict[int, Enrollment] = {}
    if not sequence_ids:
        return found
    for chunk in _chunks(contact_ids):
        query = _select().where(
            E.c.sequence_id.in_(list(sequence_ids)), E.c.contact_id.in_(list(chunk)), E.c.status.in_(OPEN)
        )
        for row in tx.execute(query.order_by(E.c.id)):
            found.setdefault(row.contact_id, _record(row))
    return found


def create_many(tx: Connection, sequence_id: int, rows: list[dict[str, Any]]) -> dict[int, int]:
    """Insert enrollments (each row: contact_id, status, current_step, step_due_at,
    next_run_at, waiting_on, owner, started_at, created_at); a contact that has an open one
    in the sequence by now is left out. Returns the new ids by contact."""
    if not rows:
        return {}
    template = {"sequence_id": sequence_id, "lease_token": 0, "attempts": 0}
    bulk.executemany(
        tx,
        insert_ignoring_conflicts(tx.dialect.name, E),
        [{**template, **row, "updated_at": row["created_at"]} for row in rows],
    )
    created_at = rows[0]["created_at"]
    ids: dict[int, int] = {}
    for chunk in _chunks([row["contact_id"] for row in rows]):
        query = select(E.c.contact_id, E.c.id).where(
            E.c.sequence_id == sequence_id, E.c.contact_id.in_(list(chunk)), E.c.status.in_(OPEN),
            E.c.created_at == created_at,
        )  # fmt: skip
        ids.update((row[0], row[1]) for row in tx.execute(query))
    return ids


def peek_due(tx: Connection, *, now: datetime, limit: int) -> list[Enrollment]:
    """What a tick would claim, without claiming it (for --dry-run)."""
    query = (
        _select()
        .where(text(f"enrollments.{RUNNABLE_SQL}"), E.c.next_run_at <= now)
        .order_by(E.c.next_run_at, E.c.id)
        .limit(limit)
    )
    return [_record(row) for row in tx.execute(query)]


def guarded_update(
    tx: Connection, enrollment_id: int, now: datetime, *, where: dict[str, Any], **values: Any
) -> bool:
    """An operator's write: bumps the lease token so a tick holding the row cannot overwrite it."""
    conditions = [E.c.id == enrollment_id]
    for column, expected in where.items():
        if isinstance(expected, tuple | list):
            conditions.append(E.c[column].in_(list(expected)))
        else:
            conditions.append(E.c[column] == expected)
    result = tx.execute(
        update(E).where(and_(*conditions)).values(updated_at=now, lease_token=E.c.lease_token + 1, **values)
    )
    return result.rowcount == 1


def count_by_sequence_and_status(tx: Connection) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    query = select(E.c.sequence_id, E.c.status, func.count()).group_by(E.c.sequence_id, E.c.status)
    for sequence_id, status, count in tx.execute(query):
        counts.setdefault(sequence_id, {})[status] = count
    return counts


def count_by_step(tx: Connection, sequence_id: int, statuses: Sequence[str] = OPEN) -> dict[str, int]:
    rows = tx.execute(
        select(E.c.current_step, func.count())
        .where(E.c.sequence_id == sequence_id, E.c.status.in_(list(statuses)))
        .group_by(E.c.current_step)
    )
    return {step: count for step, count in rows if step is not None}


def move_step(tx: Connection, sequence_id: int, from_step: str, to_step: str, now: datetime) -> int:
    result = tx.execute(
        update(E)
        .where(E.c.sequence_id == sequence_id, E.c.current_step == from_step, E.c.status.in_(OPEN))
        .values(
            current_step=to_step, waiting_on=None, step_due_at=now,
            next_run_at=now, updated_at=now, lease_token=E.c.lease_token + 1,
        )
    )  # fmt: skip
    return result.rowcount


# Waits a paused sequence may take over: the step will run anyway once due. A task, a send
# of unknown outcome or a return date keep their own wait (the tick holds them when due).
_HOLDABLE = or_(
    E.c.waiting_on.is_(None),
    E.c.waiting_on.in_(
        [WaitingReason.RETRY, WaitingReason.LIMIT, WaitingReason.MAILBOX, WaitingReason.CONFIG]
    ),
)


def hold_for_sequence(tx: Connection, sequence_id: int, now: datetime) -> int:
    """Hold a paused sequence's runnable enrollments (fencing out a tick that holds one)."""
    result = tx.execute(
        update(E)
        .where(E.c.sequence_id == sequence_id, E.c.status.in_(RUNNABLE), E.c.next_run_at.is_not(None), _HOLDABLE)
        .values(
            waiting_on=WaitingReason.SEQUENCE, next_run_at=None, leased_until=None, updated_at=now,
            lease_token=E.c.lease_token + 1,
        )
    )  # fmt: skip
    return result.rowcount


def held_for_sequence(tx: Connection, sequence_id: int) -> list[Enrollment]:
    query = _select().where(E.c.sequence_id == sequence_id, E.c.waiting_on == WaitingReason.SEQUENCE)
    return [_record(row) for row in tx.execute(query.where(E.c.status.in_(RUNNABLE)).order_by(E.c.id))]


_RELEASE = (
    update(E)
    .where(E.c.id == bindparam("b_id"), E.c.waiting_on == WaitingReason.SEQUENCE, text(RUNNABLE_SQL))
    .values(
        next_run_at=bindparam("b_next"), waiting_on=None, updated_at=bindparam("b_now"),
        lease_token=E.c.lease_token + 1,
    )
)  # fmt: skip


def release_held(tx: Connection, due: list[tuple[int, datetime]], now: datetime) -> None:
    """Make enrollments held for their sequence due again, each at its own time."""
    bulk.executemany(tx, _RELEASE, [{"b_id": i, "b_next": at, "b_now": now} for i, at in due])


def exit_open(tx: Connection, sequence_id: int, reason: str, detail: str, now: datetime) -> list[Enrollment]:
    """End every open enrollment of the sequence (fenced); returns them as they were."""
    ended = find(tx, sequence_id=sequence_id, statuses=OPEN)
    values = finished_values(EnrollmentStatus.EXITED, now, reason=reason, detail=detail)
    for chunk in _chunks([e.id for e in ended]):
        tx.execute(
            update(E)
            .where(E.c.id.in_(list(chunk)), E.c.status.in_(OPEN))
            .values(updated_at=now, lease_token=E.c.lease_token + 1, **values)
        )
    return ended


def release_mailbox_waits(tx: Connection, sequence_ids: list[int], now: datetime) -> int:
    """Make the enrollments that wait for these sequences' mailbox due now."""
    if not sequence_ids:
        return 0
    result = tx.execute(
        update(E)
        .where(
            E.c.sequence_id.in_(sequence_ids),
            E.c.waiting_on == WaitingReason.MAILBOX,
            E.c.status.in_(RUNNABLE),
        )
        .values(next_run_at=now, waiting_on=None, last_error=None, updated_at=now)
    )
    return result.rowcount


def exit_on_step(tx: Connection, sequence_id: int, step: str, reason: str, detail: str, now: datetime) -> int:
    result = tx.execute(
        update(E)
        .where(E.c.sequence_id == sequence_id, E.c.current_step == step, E.c.status.in_(OPEN))
        .values(
            updated_at=now,
            lease_token=E.c.lease_token + 1,
            **finished_values(EnrollmentStatus.EXITED, now, reason=reason, detail=detail),
        )
    )
    return result.rowcount


def finished_values(
    status: str, now: datetime, *, reason: str | None = None, detail: str | None = None
) -> dict[str, Any]:
    return {
        "status": status, "exit_reason": reason, "exit_detail": detail, "finished_at": now,
        "next_run_at": None, "leased_until": None, "waiting_on": None,
    }  # fmt: skip


_OPEN_FOR_CONTACT = (
    _select().where(E.c.contact_id == bindparam("contact_id"), E.c.status.in_(LIVE)).order_by(E.c.id)
)


def open_for_contact(tx: Connection, contact_id: int) -> list[Enrollment]:
    return [_record(row) for row in tx.execute(_OPEN_FOR_CONTACT, {"contact_id": contact_id})]


def open_at_company(tx: Connection, company: str) -> list[Enrollment]:
    """Open enrollments of contacts at this registrable domain."""
    rows = tx.execute(_select().where(C.c.company == company, E.c.status.in_(LIVE)).order_by(E.c.id))
    return [_record(row) for row in rows]


def load_many(tx: Connection, ids: list[int]) -> list[Enrollment]:
    return [_record(row) for row in tx.execute(_select().where(E.c.id.in_(ids)).order_by(E.c.id))]


# Built once per IN-list length: an expanding IN is recompiled on every call, and the
# send path calls this once or twice per email.
_TOKENS: dict[tuple[int, bool], Any] = {}


def current_tokens(tx: Connection, ids: list[int]) -> dict[int, int]:
    """Lease tokens now, locking the rows on Postgres until commit (the fence for bulk writes)."""
    locking = tx.dialect.name == "postgresql"
    key = (len(ids), locking)
    query = _TOKENS.get(key)
    if query is None:
        query = select(E.c.id, E.c.lease_token).where(
            E.c.id.in_([bindparam(f"b_{n}") for n in range(len(ids))])
        )
        query = query.order_by(E.c.id).with_for_update() if locking else query
        _TOKENS[key] = query
    return dict(tx.execute(query, {f"b_{n}": value for n, value in enumerate(ids)}).all())


_UPDATES: dict[tuple[str, ...], Any] = {}


def bulk_update(tx: Connection, rows: list[tuple[int, dict[str, Any]]], now: datetime) -> None:
    """Write each enrollment's new values (rows already fenced by `current_tokens`), grouped by
    column set so each group is one executemany."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for enrollment_id, values in rows:
        keys = tuple(sorted(values))
        groups.setdefault(keys, []).append(
            {"b_id": enrollment_id, "b_now": now, **{f"v_{k}": v for k, v in values.items()}}
        )
    for keys, params in groups.items():
        statement = _UPDATES.get(keys)
        if statement is None:
            statement = _UPDATES[keys] = (
                update(E)
                .where(E.c.id == bindparam("b_id"))
                .values(updated_at=bindparam("b_now"), **{k: bindparam(f"v_{k}") for k in keys})
            )
        bulk.executemany(tx, statement, params)
