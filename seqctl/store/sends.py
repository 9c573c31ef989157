"""Send intents: the row that makes an email at-most-once.

`begin_send` commits a message in state `sending` before any SMTP conversation;
`settle_send` records what the server said. A `sending` row found by a later claim
means a tick died mid-send: it becomes `unknown` and is never sent again by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)

from seqctl.states import COUNTED_SENDS, RETRYABLE_SENDS, BounceKind, EventType, SendStatus
from seqctl.store import activity
from seqctl.store.columns import UTCDateTime
from seqctl.store.records import Message
from seqctl.store.tables import EnrollmentRow, EventRow, MailboxRow, MessageRow, SequenceRow, table_of

MSG = table_of(MessageRow)
M = table_of(MailboxRow)
# Sends that count against a mailbox's limits: everything that may have left the building.
STATUSES = frozenset(SendStatus)

_COLUMNS = [
    MSG.c.id, MSG.c.enrollment_id, MSG.c.step_id, MSG.c.message_id, MSG.c.mailbox_key,
    MSG.c.recipient, MSG.c.subject, MSG.c.variant, MSG.c.raw, MSG.c.status, MSG.c.attempts,
    MSG.c.last_error, MSG.c.created_at, MSG.c.sent_at,
]  # fmt: skip
# What `seqctl sends` lists: what left, or may have.
WENT_OUT = (SendStatus.SENT, SendStatus.UNKNOWN, SendStatus.SENDING)
# Built once: every inbound message and provider event looks its Message-ID up.
_BY_MESSAGE_ID = select(*_COLUMNS).where(MSG.c.message_id == bindparam("message_id"))


# The send path's statements, built once: constructing a statement costs more than running it.
_INTENT = ("enrollment_id", "step_id", "message_id", "mailbox_key", "recipient", "subject", "variant", "raw",
           "status", "attempts", "created_at")  # fmt: skip
# The intent is inserted only while no suppression covers the recipient: one statement,
# so nothing can suppress the address between the check and the intent.
_BEGIN_SEND = (
    insert(MSG)
    .from_select(
        _INTENT,
        select(*(bindparam(name, type_=MSG.c[name].type) for name in _INTENT)).where(
            ~exists().where(activity.COVERS)
        ),
    )
    .returning(MSG.c.id)
)
_SETTLES: dict[tuple[tuple[str, ...], bool, bool], Any] = {}


def _settle_statement(expect: tuple[str, ...], sent: bool, fenced: bool) -> Any:
    # The expected statuses are written into the statement (one per call site), not an
    # expanding IN parameter: SQLAlchemy re-renders those on every execution.
    key = (expect, sent, fenced)
    statement = _SETTLES.get(key)
    if statement is None:
        statement = (
            update(MSG)
            .where(
                MSG.c.id == bindparam("b_id"),
                or_(*(MSG.c.status == literal_column(f"'{s}'") for s in expect)),
            )
            .values(status=bindparam("b_status"), last_error=bindparam("b_error"))
        )
        if fenced:
            statement = statement.where(MSG.c.attempts == bindparam("b_attempt"))
        if sent:
            statement = statement.values(sent_at=bindparam("b_sent_at", type_=UTCDateTime()))
        _SETTLES[key] = statement
    return statement


def _record(row: Any) -> Message:
    return Message(*row)


def get(tx: Connection, enrollment_id: int, step_id: str) -> Message | None:
    row = tx.execute(
        select(*_COLUMNS).where(MSG.c.enrollment_id == enrollment_id, MSG.c.step_id == step_id)
    ).first()
    return _record(row) if row else None


def by_message_id(tx: Connection, message_id: str) -> Message | None:
    row = tx.execute(_BY_MESSAGE_ID, {"message_id": message_id}).first()
    return _record(row) if row else None


def latest_sent_to(tx: Connection, recipient: str, at_or_before: datetime) -> Message | None:
    """The last message sent to this address by then (for events that name no Message-ID)."""
    row = tx.execute(
        select(*_COLUMNS)
        .where(MSG.c.recipient == recipient.lower(), MSG.c.status == SendStatus.SENT, MSG.c.sent_at <= at_or_before)
        .order_by(MSG.c.sent_at.desc(), MSG.c.id.desc())
        .limit(1)
    ).first()
    return _record(row) if row else None


def by_id(tx: Connection, row_id: int) -> Message | None:
    row = tx.execute(select(*_COLUMNS).where(MSG.c.id == row_id)).first()
    return _record(row) if row else None



def with_status(tx: Connection, status: str) -> list[Message]:
    rows = tx.execute(select(*_COLUMNS).where(MSG.c.status == status).order_by(MSG.c.created_at))
    return [_record(row) for row in rows]


def begin_send(
    tx: Connection,
    *,
    enrollment_id: int,
    step_id: str,
    message_id: str,
    mailbox_key: str,
    recipient: str,
    subject: str,
    variant: str | None,
    raw: str,
    now: datetime,
    erasure_key: str | None,
) -> int | None:
    """Record the intent to send, or None when the recipient is suppressed; the unique
    (enrollment, step) key refuses a second intent."""
    return tx.execute(
        _BEGIN_SEND,
        {
            "enrollment_id": enrollment_id, "step_id": step_id, "message_id": message_id,
            "mailbox_key": mailbox_key, "recipient": recipient, "subject": subject, "variant": variant,
            "raw": raw, "status": SendStatus.SENDING, "attempts": 1, "created_at": now,
            **activity.suppression_params(recipient, erasure_key),
        },
    ).scalar()  # fmt: skip


def retry_send(
    tx: Connection, row_id: int, *, recipient: str, raw: str, subject: str, now: datetime, erasure_key: str | None
) -> bool:
    """Turn a send that certainly did not happen back into an intent (new attempt), unless
    the recipient is suppressed by now."""
    result = tx.execute(
        update(MSG)
        .where(MSG.c.id == row_id, MSG.c.status.in_(RETRYABLE_SENDS), ~exists().where(activity.COVERS))
        .values(status=SendStatus.SENDING, attempts=MSG.c.attempts + 1, raw=raw, subject=subject, created_at=now),
        activity.suppression_params(recipient, erasure_key),
    )
    return result.rowcount == 1


def settle_send(
    tx: Connection,
    row_id: int,
    status: str,
    *,
    now: datetime,
    error: str | None = None,
    expect: tuple[str, ...] = (SendStatus.SENDING,),
    attempt: int | None = None,
) -> bool:
    """Move a send from one of `expect` to `status` (sent, unknown, retry, bounced, failed,
    not_sent); with `attempt`, only if the row is still at that attempt (a tick that lost its
    claim must not settle the attempt of the tick that took over)."""
    assert set(expect) <= STATUSES  # written into SQL: never input
    params: dict[str, Any] = {"b_id": row_id, "b_status": status, "b_error": error}
    if status == SendStatus.SENT:
        params["b_sent_at"] = now
    if attempt is not None:
        params["b_attempt"] = attempt
    statement = _settle_statement(expect, status == SendStatus.SENT, attempt is not None)
    return tx.execute(statement, params).rowcount == 1


@dataclass(frozen=True)
class MailboxUsage:
    last_hour: int
    since_day_start: int
    oldest_in_hour: datetime | None
    latest: datetime | None


def lock_mailbox(tx: Connection, mailbox_key: str) -> None:
    """Serialise limit checks per mailbox (SQLite's immediate transaction already does)."""
    if tx.dialect.name == "postgresql":
        tx.execute(select(M.c.id).where(M.c.key == mailbox_key).with_for_update())


def usage(tx: Connection, mailbox_key: str, *, hour_start: datetime, day_start: datetime) -> MailboxUsage:
    counted = (MSG.c.mailbox_key == mailbox_key, MSG.c.status.in_(COUNTED_SENDS))
    since = min(hour_start, day_start)
    row = tx.execute(
        select(
            func.count().filter(MSG.c.created_at > hour_start),
            func.count().filter(MSG.c.created_at >= day_start),
            func.min(MSG.c.created_at).filter(MSG.c.created_at > hour_start),
        ).where(*counted, MSG.c.created_at >= since)
    ).one()
    latest = tx.execute(select(func.max(MSG.c.created_at)).where(*counted)).scalar()
    # Aggregates come back untyped on SQLite; give them the column's type.
    as_time = UTCDateTime().process_result_value
    return MailboxUsage(row[0], row[1], as_time(row[2], None), as_time(latest, None))


def for_enrollments(tx: Connection, enrollment_ids: list[int]) -> dict[int, list[Message]]:
    """Each enrollment's sends, oldest first, without the raw message (not needed to plan)."""
    columns = [c if c is not MSG.c.raw else literal("").label("raw") for c in _COLUMNS]
    rows = tx.execute(select(*columns).where(MSG.c.enrollment_id.in_(enrollment_ids)).order_by(MSG.c.id))
    found: dict[int, list[Message]] = {}
    for row in rows:
        found.setdefault(row.enrollment_id, []).append(_record(row))
    return found


def reputation(
    tx: Connection, mailbox_key: str, *, window: int, bounce_reasons: tuple[str, ...]
) -> tuple[int, int, int]:
    """(sends, bounced, complained) over the mailbox's last `window` sends: how many of
    those messages got a hard bounce or one for a reason in `bounce_reasons`, and how
    many a spam complaint."""
    ev = table_of(EventRow)
    # By intent time, so that ix_messages_mailbox_created serves the scan.
    recent = (
        select(MSG.c.message_id)
        .where(MSG.c.mailbox_key == mailbox_key, MSG.c.status.in_((SendStatus.SENT, SendStatus.BOUNCED)))
        .order_by(MSG.c.created_at.desc(), MSG.c.id.desc())
        .limit(window)
        .subquery()
    )
    sends = int(tx.execute(select(func.count()).select_from(recent)).scalar_one())
    bounced_event = (ev.c.type == EventType.BOUNCED) & ((ev.c.detail == BounceKind.HARD) | ev.c.reason.in_(bounce_reasons))
    counted = select(
        func.count(func.distinct(case((bounced_event, ev.c.message_id)))),
        func.count(func.distinct(case((ev.c.type == "complained", ev.c.message_id)))),
    ).where(ev.c.message_id.in_(select(recent.c.message_id)))
    bounced, complained = tx.execute(counted).one()
    return sends, int(bounced), int(complained)


def went_out(
    tx: Connection,
    *,
    since: datetime,
    until: datetime,
    mailbox_key: str | None,
    sequence_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Emails sent (or of unknown outcome) in [since, until), newest first, with their
    sequence; when: sent_at, else when the attempt began."""
    enrollments, sequences = table_of(EnrollmentRow), table_of(SequenceRow)
    at = func.coalesce(MSG.c.sent_at, MSG.c.created_at)
    query = (
        select(
            MSG.c.id, at.label("at"), MSG.c.mailbox_key, MSG.c.recipient, sequences.c.key.label("sequence"),
            MSG.c.step_id, MSG.c.variant, MSG.c.subject, MSG.c.message_id, MSG.c.status,
        )
        .select_from(MSG.join(enrollments, enrollments.c.id == MSG.c.enrollment_id).join(
            sequences, sequences.c.id == enrollments.c.sequence_id))
        .where(MSG.c.status.in_(WENT_OUT), at >= since, at < until)
        .order_by(at.desc(), MSG.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    if mailbox_key is not None:
        query = query.where(MSG.c.mailbox_key == mailbox_key)
    if sequence_id is not None:
        query = query.where(enrollments.c.sequence_id == sequence_id)
    as_time = UTCDateTime().process_result_value
    return [{**row._mapping, "at": as_time(row.at, None)} for row in tx.execute(query)]
