"""`seqctl mailboxes` and `seqctl mailbox pause|resume`: each sending identity's usage and
state, and the operator's hold on it.

A mailbox is held (no email of it goes out, everything else runs) by an operator or by
the reputation breaker (`events.guard_reputation`); only `resume` releases it, and
the emails that waited for it are due at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from seqctl.engine.calendar import SendCalendar
from seqctl.engine.limits import day_start, describe_hold, held_until, sendable
from seqctl.errors import NotFound
from seqctl.inbound.reasons import SENDER_SIDE
from seqctl.services.catalog import Catalog
from seqctl.services.notifying import Notifier
from seqctl.services.oauth_tokens import is_authorisation_reason
from seqctl.spec.mailboxes import Mailbox
from seqctl.states import WaitingReason
from seqctl.store import catalog as catalog_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store import sends
from seqctl.store.db import Database, Tx
from seqctl.store.records import MailboxRecord


def state_of(record: MailboxRecord, now: datetime) -> tuple[str, str | None]:
    """(state, why): held by an operator or the breaker, resting after an outage, or active."""
    if record.held_reason:
        return "paused", record.held_reason
    if record.paused_until is not None and record.paused_until > now:
        return "resting", f"until {record.paused_until.isoformat()}: {record.pause_reason or 'server down'}"
    return "active", None


@dataclass(frozen=True)
class Room:
    """What a mailbox may send in this tick: `sendable` emails (None: no limit), and when
    none, why."""

    sendable: int | None
    why: str | None = None
    waiting: WaitingReason = WaitingReason.LIMIT  # what `queue` calls the wait when none may go
    until: datetime | None = None  # when a limit that holds it frees


def limit_state(tx: Tx, mailbox: Mailbox, now: datetime) -> tuple[int | None, tuple[datetime, str] | None]:
    """(how many emails the mailbox may still send in this tick, None for no limit;
    (until, why) when a send limit holds it now). The day is the mailbox's `timezone`'s,
    as `per_day` counts it."""
    limits = mailbox.limits
    if limits.per_day is None and limits.per_hour is None and limits.min_gap is None:
        return None, None
    calendar = SendCalendar.build(mailbox.timezone or "UTC")
    usage = sends.usage(tx, mailbox.key, hour_start=now - timedelta(hours=1), day_start=day_start(calendar, now))
    held = held_until(
        limits, now=now, last_hour=usage.last_hour, since_day_start=usage.since_day_start,
        oldest_in_hour=usage.oldest_in_hour, latest=usage.latest, calendar=calendar,
    )  # fmt: skip
    if held is not None:
        until, why = held
        return 0, (until, f"mailbox {mailbox.key}: {describe_hold(until, why, calendar)}")
    return sendable(limits, last_hour=usage.last_hour, since_day_start=usage.since_day_start), None


def rooms(tx: Tx, catalog: Catalog, now: datetime) -> dict[str, Room]:
    """Each mailbox's room in this tick: a tick claims no more of a mailbox's emails than
    it may send, so emails a limit or a hold keeps back wait where they are, costing the
    tick nothing."""
    found = {}
    for key, mailbox in catalog.mailboxes.items():
        state, why = state_of(catalog.mailbox_records[key], now)
        if state != "active":
            found[key] = Room(0, f"mailbox {key} {state}: {why}", WaitingReason.MAILBOX)
            continue
        room, hold = limit_state(tx, mailbox, now)
        found[key] = Room(room, hold[1], until=hold[0]) if hold else Room(room)
    return found


def listing(db: Database, *, now: datetime) -> list[dict[str, Any]]:
    """Every mailbox with its limits, this hour's and today's sends (the day in the
    mailbox's `timezone`, as `per_day` counts it) and its state."""
    catalog = Catalog.load(db)
    rows = []
    with db.read() as tx:
        for key, mailbox in sorted(catalog.mailboxes.items()):
            record = catalog.mailbox_records[key]
            day = day_start(SendCalendar.build(mailbox.timezone or "UTC"), now)
            usage = sends.usage(tx, key, hour_start=now - timedelta(hours=1), day_start=day)
            window = mailbox.reputation.window
            sent, bounced, complained = sends.reputation(
                tx, key, window=window, bounce_reasons=tuple(SENDER_SIDE)
            )
            state, why = state_of(record, now)
            rows.append({
                "key": key, "from": mailbox.from_, "state": state, "why": why,
                "per_day": mailbox.limits.per_day, "per_hour": mailbox.limits.per_hour,
                "sent_today": usage.since_day_start, "sent_this_hour": usage.last_hour,
                "recent_sends": sent, "recent_bounces": bounced, "recent_complaints": complained,
            })  # fmt: skip
    return rows


def pause(db: Database, key: str, *, reason: str | None, now: datetime) -> bool:
    """Hold the mailbox's sending; False when it was held already."""
    notifier = _known(db, key).notifier
    with db.write() as tx:
        return hold_in(tx, notifier, key, reason or "paused by an operator", now)


def resume(db: Database, key: str, *, now: datetime) -> int:
    """Release the mailbox; returns how many waiting enrollments are due again."""
    catalog = _known(db, key)
    sequence_ids = [s.record.id for s in catalog.sequences.values() if s.model.mailbox == key]
    with db.write() as tx:
        catalog_store.release_mailbox(tx, key)
        catalog_store.clear_outage(tx, key)
        return enrollment_store.release_mailbox_waits(tx, sequence_ids, now)


def hold_for_authorisation(db: Database, key: str, reason: str, *, now: datetime) -> None:
    """Its authorisation is gone: hold its sending (and syncing) until `auth login`."""
    notifier = Catalog.load(db).notifier
    with db.write() as tx:
        hold_in(tx, notifier, key, reason, now)


def hold_in(tx: Tx, notifier: Notifier, key: str, reason: str, now: datetime) -> bool:
    """Hold the mailbox and tell who hears of `mailbox_paused`; False when it was held already."""
    if not catalog_store.hold_mailbox(tx, key, reason, now):
        return False
    notifier.record(tx, "mailbox_paused", {"mailbox": key, "reason": reason}, at=now, now=now, mailbox=key)
    return True


def resume_after_login(db: Database, key: str, *, now: datetime) -> int:
    """A login gave the mailbox a new authorisation: lift a hold its expiry put on it
    (an operator's or the breaker's hold stays); how many enrollments are due again."""
    with db.read() as tx:
        held = catalog_store.held_reason(tx, key)
    if not is_authorisation_reason(key, held):
        return 0
    return resume(db, key, now=now)


def _known(db: Database, key: str) -> Catalog:
    catalog = Catalog.load(db)
    if key not in catalog.mailboxes:
        raise NotFound(f"no mailbox {key!r} (known: {', '.join(sorted(catalog.mailboxes)) or 'none'})")
    return catalog
