"""Opens, clicks and one-click unsubscribes that arrive through `seqctl serve`.

Each request carries a verified token (see `delivery.tracking`) naming the message seqctl
sent; the recipient of that message is the contact. An open or click that looks like a
machine (a mail scanner fetching everything on arrival) is recorded with the reason and
left out of branches and stats; clicking every link of a message within a moment marks
the whole burst.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from seqctl.delivery.tracking import BURST_SECONDS, CLICK, OPEN, Token, automated_reason
from seqctl.services.catalog import Catalog
from seqctl.services.events import apply_event
from seqctl.store import activity, sends
from seqctl.store import contacts as contact_store
from seqctl.store.db import Database, Tx
from seqctl.store.records import Contact, Message


def record_engagement(
    db: Database, token: Token, *, method: str, user_agent: str, now: datetime
) -> str | None:
    """Record an open or click; returns why it looks automated (None: a person), or raises
    LookupError when the message is not one seqctl sent."""
    assert token.kind in (OPEN, CLICK)
    event_type = "opened" if token.kind == OPEN else "clicked"
    with db.write(durable=False) as tx:
        message, contact = _recipient(tx, token.message_id)
        since_sent = (now - message.sent_at).total_seconds() if message.sent_at else None
        burst: list[int] = []
        if token.kind == CLICK:
            recent = activity.recent_clicks(tx, token.message_id, now - timedelta(seconds=BURST_SECONDS))
            burst = [event_id for event_id, url in recent if url != token.url]
        reason = automated_reason(
            method=method, user_agent=user_agent, seconds_since_sent=since_sent,
            other_links_clicked_within_burst=len(burst),
        )  # fmt: skip
        if reason == "every link at once":
            activity.flag_automated(tx, burst, reason)
        activity.record_event(
            tx, contact_id=contact.id, type=event_type, occurred_at=now, now=now, message_id=token.message_id,
            source="tracking", url=token.url, automated=reason, detail=user_agent[:100] or None,
        )  # fmt: skip
    return reason


def unsubscribe(db: Database, token: Token, *, now: datetime) -> str:
    """The recipient of the token's message is unsubscribed: suppressed, and every enrollment
    that exits on `unsubscribed` ends. Returns the address. A second request changes nothing."""
    catalog = Catalog.load(db)
    with db.write() as tx:
        _, contact = _recipient(tx, token.message_id)
        apply_event(
            tx, catalog, contact, "unsubscribed", message_id=token.message_id, at=now, now=now,
            source="one-click", dedupe_key=f"one-click:{token.message_id}",
        )  # fmt: skip
        # The address is suppressed even if the event was recorded before and lifted since.
        activity.suppress(tx, contact.email, "address", "unsubscribed", now)
    return contact.email


def _recipient(tx: Tx, message_id: str) -> tuple[Message, Contact]:
    message = sends.by_message_id(tx, message_id)
    if message is None:
        raise LookupError(message_id)
    contact = contact_store.by_email(tx, message.recipient)
    if contact is None:
        raise LookupError(message_id)
    return message, contact
