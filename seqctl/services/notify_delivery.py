"""Delivering the notification outbox (SPEC §8), after the commits that wrote it: by
`tick`, `inbox sync`, `events import`, `worker` and `seqctl notify deliver`.

Each run has a time budget, so a slow or dead receiver never delays what the command is
for; what it has no time for stays due. A notification is claimed with a lease (as
enrollments are), so several processes delivering at once never send one twice at the
same moment; it is delivered at least once — a crash after the receiver took it and
before the row says so sends it again, with the same `webhook-id`, which receivers use
to drop duplicates. A failed attempt is retried with exponential backoff until 24 hours
after the event, then the notification is `failed` (`seqctl notifications --failed`,
`seqctl notifications retry ID`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from seqctl import settings
from seqctl.delivery.message import Outgoing, build, new_message_id, split_address
from seqctl.delivery.pool import TransportPool
from seqctl.delivery.transports import SendOutcome
from seqctl.errors import InvalidInput, NotFound
from seqctl.notify import payloads
from seqctl.real_time import real_clock
from seqctl.services.catalog import Catalog
from seqctl.services.notifying import RETRY_FOR
from seqctl.services.oauth_tokens import bearer_source
from seqctl.services.progress import owner_of
from seqctl.services.tick_report import DeliveryReport
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store import notifications as notification_store
from seqctl.store.db import Database
from seqctl.store.notifications import Notification

REQUEST_TIMEOUT_S = 10.0
if TYPE_CHECKING:
    from seqctl.notify.http import Poster

CLAIM = 20
LEASE = timedelta(minutes=5)  # longer than a claimed batch can take: CLAIM × REQUEST_TIMEOUT_S
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 30 s, 1 min, 2 min … at most an hour."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_WAIT)


class _Undeliverable(Exception):
    """This notification can never be delivered as configured (no target, no address)."""


def deliver(
    db: Database, *, now: datetime, budget_s: float,
    clock: Callable[[], float] = time.monotonic, real_now: Callable[[], datetime] = real_clock,
) -> DeliveryReport:  # fmt: skip
    """Deliver what is due, within `budget_s` seconds; what is left stays due. A claimed
    batch is settled in one transaction (a crash before it only means those are sent
    again: at least once); the lease outlasts the longest a batch can take. Callers go
    through `runs.deliver_due`, which asks first whether anything is due."""
    report = DeliveryReport()
    from seqctl.notify.http import Poster  # requests: imported only when there is something to post

    deadline = clock() + budget_s
    sender: _Sender | None = None
    pool = TransportPool(bearer=bearer_source(db))  # connects on first use only
    try:
        with Poster() as poster:
            while clock() < deadline:
                with db.write() as tx:
                    claimed = notification_store.claim(tx, now=now, lease_until=now + LEASE, limit=CLAIM)
                if not claimed:
                    break
                sender = sender or _Sender(db, Catalog.load(db), pool, poster, now=now, real_now=real_now)
                outcomes: list[tuple[Notification, str | _Undeliverable | None]] = []
                for notification in claimed:
                    left = deadline - clock()
                    if left <= 0:
                        break
                    outcomes.append((notification, sender.attempt(notification, timeout=min(REQUEST_TIMEOUT_S, left))))
                _settle(db, outcomes, claimed[len(outcomes) :], now=now, report=report)
    finally:
        pool.close()
    return report


class _Sender:
    """Sends one notification the way its target wants."""

    def __init__(
        self, db: Database, catalog: Catalog, pool: TransportPool, poster: Poster, *, now: datetime,
        real_now: Callable[[], datetime],
    ) -> None:  # fmt: skip
        self.db, self.catalog, self.pool, self.poster, self.now, self.real_now = db, catalog, pool, poster, now, real_now

    def attempt(self, notification: Notification, *, timeout: float) -> str | _Undeliverable | None:
        """None when delivered, else why not (an _Undeliverable when retrying cannot help)."""
        target = self.catalog.notify_targets.get(notification.target_key)
        if target is None:
            return _Undeliverable(f"no notify target {notification.target_key!r} any more (removed from the files?)")
        try:
            if target.kind == "email":
                return self._email(notification)
            url = settings.resolve_reference(target.url or "")
            if url is None:
                return f"{target.url} is not set in the environment"
            if target.kind == "slack":
                body = payloads.slack_body(notification.event, notification.data)
                headers = {"content-type": "application/json"}
            else:
                secret = settings.resolve_reference(target.secret or "")
                if secret is None:
                    return f"{target.secret} is not set in the environment"
                body = payloads.webhook_body(notification.event, notification.data, notification.occurred_at)
                headers = payloads.signed_headers(secret, notification.webhook_id, body, self.real_now())
            return self.poster.post(url, body, headers, timeout=timeout)
        except _Undeliverable as exc:
            return exc
        except (ValueError, InvalidInput) as exc:
            return str(exc)

    def _email(self, notification: Notification) -> str | None:
        """A short plain-text message to the enrollment's owner, through its sequence's
        mailbox; no send row, so it counts toward no limit and is never tracked."""
        catalog = self.catalog
        loaded = catalog.sequences.get(notification.sequence_key or "")
        if loaded is None or notification.enrollment_id is None:
            raise _Undeliverable("email: owner needs an enrollment's event (this one has no sequence)")
        with self.db.read() as tx:
            enrollment = enrollment_store.get(tx, notification.enrollment_id)
            contacts = contact_store.load_many(tx, [enrollment.contact_id]) if enrollment else {}
        fields = contacts[enrollment.contact_id].fields if enrollment and enrollment.contact_id in contacts else {}
        owner_key = owner_of(enrollment.owner if enrollment else None, dict(fields), loaded.model)
        owner = catalog.owners.get(owner_key or "")
        if owner is None or owner.email is None:
            raise _Undeliverable(f"owner {owner_key or '(none)'} has no email in owners:")
        mailbox = catalog.mailbox_for(loaded.model)
        if mailbox is None:
            raise _Undeliverable(f"sequence {loaded.record.key} has no mailbox")
        subject, text = payloads.email_message(notification.event, notification.data)
        message_id = new_message_id(mailbox.from_)
        raw = build(Outgoing(
            sender=mailbox.from_, recipient=owner.email, recipient_name=owner.name or "", subject=subject, text=text,
            html=None, message_id=message_id, date=self.now, reply_to=None, list_unsubscribe="none",
        ))  # fmt: skip
        transport = self.pool.get(mailbox)
        transport.stage(message_id, 1, raw)
        result = transport.send(split_address(mailbox.from_)[1], owner.email, raw, message_id=message_id)
        if result.outcome in (SendOutcome.SENT, SendOutcome.UNKNOWN):
            return None  # UNKNOWN: handed over; sending it again could only duplicate it
        return f"email to {owner.email}: {result.detail}"


def _settle(
    db: Database, outcomes: list[tuple[Notification, str | _Undeliverable | None]], untried: list[Notification],
    *, now: datetime, report: DeliveryReport,
) -> None:  # fmt: skip
    """A batch's outcomes in one transaction; what it had no time for is due again at once."""
    with db.write() as tx:
        for notification, error in outcomes:
            if error is None:
                report.delivered += notification_store.delivered(tx, notification, now)
                continue
            why = str(error)
            retry_at = now + backoff(notification.attempts + 1)
            give_up = isinstance(error, _Undeliverable) or retry_at > notification.give_up_at
            if notification_store.failed_attempt(tx, notification, error=why, next_at=None if give_up else retry_at):
                report.failed += give_up
                report.retrying += not give_up
                report.errors.append(f"notification {notification.id} ({notification.target_key}): {why}")
        for notification in untried:
            notification_store.release(tx, notification, now)


def listing(db: Database, *, failed_only: bool, limit: int) -> list[dict[str, Any]]:
    with db.read() as tx:
        rows = notification_store.listing(tx, status=notification_store.FAILED if failed_only else None, limit=limit)
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]


def retry(db: Database, notification_id: int, *, now: datetime) -> None:
    with db.write() as tx:
        if not notification_store.retry(tx, notification_id, now=now, give_up_at=now + RETRY_FOR):
            raise NotFound(f"no failed notification {notification_id} (see seqctl notifications --failed)")
