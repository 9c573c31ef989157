"""The counts a metrics file shows (SPEC §8), each one aggregate query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select, text

from seqctl.states import SendStatus
from seqctl.store.claims import RUNNABLE_SQL
from seqctl.store.tables import EnrollmentRow, MailboxRow, MessageRow, NotificationRow, SequenceRow, table_of

E, M, MB, N, S = (table_of(t) for t in (EnrollmentRow, MessageRow, MailboxRow, NotificationRow, SequenceRow))


@dataclass
class Snapshot:
    sent_by_mailbox: dict[str, int] = field(default_factory=dict)
    enrollments: dict[tuple[str, str], int] = field(default_factory=dict)  # (sequence, status) → count
    due: int = 0
    unknown_sends: int = 0
    mailbox_paused: dict[str, bool] = field(default_factory=dict)
    notifications: dict[str, int] = field(default_factory=dict)  # status → count


def snapshot(tx: Connection, now: datetime) -> Snapshot:
    found = Snapshot()
    sent = select(M.c.mailbox_key, func.count()).where(M.c.status == SendStatus.SENT).group_by(M.c.mailbox_key)
    found.sent_by_mailbox = {key: int(count) for key, count in tx.execute(sent)}
    by_status = select(S.c.key, E.c.status, func.count()).join(S, S.c.id == E.c.sequence_id).group_by(S.c.key, E.c.status)
    found.enrollments = {(key, status): int(count) for key, status, count in tx.execute(by_status)}
    found.due = int(tx.execute(select(func.count()).select_from(E).where(text(RUNNABLE_SQL), E.c.next_run_at <= now)).scalar_one())
    found.unknown_sends = int(tx.execute(select(func.count()).select_from(M).where(M.c.status == SendStatus.UNKNOWN)).scalar_one())
    for key, held, until in tx.execute(select(MB.c.key, MB.c.held_reason, MB.c.paused_until)):
        found.mailbox_paused[key] = held is not None or (until is not None and until > now)
    found.notifications = {status: int(count) for status, count in tx.execute(select(N.c.status, func.count()).group_by(N.c.status))}
    return found
