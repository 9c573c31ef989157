"""Events, whoever reports them (inbox sync, provider imports, the tracking app, an
operator): recorded once, then the suppressions, exits and mailbox holds they imply.

Per SPEC §1 and §6: an event that names no message counts for the contact's last email;
hard bounces, unsubscribes and complaints suppress; a soft bounce suppresses only as the
third of the recipient's own within 30 days; bounces for the sender's reasons and
complaints count toward the sending mailbox's reputation breaker (SPEC §5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from seqctl import settings
from seqctl.engine.flow import exit_reason
from seqctl.engine.reputation import breaker_reason
from seqctl.errors import InvalidInput, NotFound
from seqctl.inbound.reasons import SENDER_SIDE
from seqctl.services.catalog import Catalog
from seqctl.services.mailboxes import hold_in
from seqctl.services.notifying import enrollment_data
from seqctl.services.progress import facts_for
from seqctl.spec.models import EXIT_EVENTS
from seqctl.states import EVENT_TYPES, LIVE, SUPPRESSING_EVENTS, BounceKind, EnrollmentStatus, EventType
from seqctl.store import activity, sends
from seqctl.store import catalog as catalog_store
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database
from seqctl.store.records import Contact, Enrollment


@dataclass
class EventReport:
    recorded: bool
    suppressed: bool = False
    exited: list[int] = field(default_factory=list)
    mailbox_paused: str | None = None  # the reputation breaker held the sending mailbox


def record_event(
    db: Database,
    event_type: str,
    email: str,
    *,
    message_id: str | None,
    at: datetime,
    now: datetime,
    detail: str | None = None,
    source: str = "manual",
    dedupe_key: str | None = None,
    url: str | None = None,
) -> EventReport:
    """Record an event, suppress on unsubscribe/hard bounce, and exit what it stops at once."""
    if event_type not in EVENT_TYPES:
        raise InvalidInput(f"unknown event {event_type!r}; use one of {', '.join(EVENT_TYPES)}")
    if url is not None and event_type != EventType.CLICKED:
        raise InvalidInput("--url goes with a clicked event: only a click has a link")
    if message_id is not None:
        message_id = normalise_message_id(message_id)
    catalog = Catalog.load(db)
    with db.write() as tx:
        contact = contact_store.by_email(tx, email)
        if contact is None:
            raise NotFound(f"no contact {email}")
        if message_id is not None:
            message = sends.by_message_id(tx, message_id)
            if message is None:
                raise NotFound(f"seqctl sent no message with Message-ID {message_id}")
            if message.recipient.lower() != contact.email:
                raise InvalidInput(f"message {message_id} went to {message.recipient}, not {contact.email}")
        return apply_event(
            tx, catalog, contact, event_type, message_id=message_id, at=at, now=now, detail=detail,
            source=source, dedupe_key=dedupe_key, url=url,
        )  # fmt: skip


def apply_event(
    tx: Any,
    catalog: Catalog,
    contact: Contact,
    event_type: str,
    *,
    message_id: str | None,
    at: datetime,
    now: datetime,
    detail: str | None = None,
    source: str = "manual",
    dedupe_key: str | None = None,
    url: str | None = None,
    automated: str | None = None,
    sender: str | None = None,
    reason: str | None = None,
    text: str | None = None,
) -> EventReport:
    """Record a checked event in `tx`; suppress and exit what it stops.

    An event that names no message counts for the last email the contact was sent by then
    (SPEC §1), so that per-step stats see it. A reply (from `sender`, else the contact)
    also ends the enrollments of everyone at the same company in sequences that exit on
    `domain_replied`. A bounce for a reason of the sender's (`blocked`, `auth_failed`,
    `rate_limited`) suppresses no one."""
    if event_type == EventType.BOUNCED and detail is None:
        detail = "hard"
    if message_id is None:
        latest = sends.latest_sent_to(tx, contact.email, at)
        message_id = latest.message_id if latest is not None else None
    if not activity.record_event(
        tx, contact_id=contact.id, type=event_type, occurred_at=at, now=now, message_id=message_id,
        detail=detail, source=source, dedupe_key=dedupe_key, url=url, automated=automated, reason=reason,
    ):  # fmt: skip
        return EventReport(recorded=False)
    report = EventReport(recorded=True)
    _notify(tx, catalog, contact, event_type, message_id, at=at, now=now, detail=detail, reason=reason, url=url,
            text=text)  # fmt: skip
    if event_type == EventType.BOUNCED and detail == BounceKind.SOFT:
        report.suppressed = _soft_bounce_suppresses(tx, contact, reason, at=at, now=now)
    elif event_type in SUPPRESSING_EVENTS:
        report.suppressed = activity.suppress(tx, contact.email, "address", event_type, now)
    if event_type in EXIT_EVENTS:  # opens and clicks stop nothing
        report.exited = apply_exit_rules(tx, catalog, contact, now=now)
    if event_type == "replied":
        report.exited += exit_company(tx, catalog, sender or contact.email, now=now)
    counts = event_type == EventType.COMPLAINED or (
        event_type == EventType.BOUNCED and (detail == BounceKind.HARD or reason in SENDER_SIDE)
    )
    if counts and message_id is not None:
        report.mailbox_paused = guard_reputation(tx, catalog, message_id, now=now)
    return report


def guard_reputation(tx: Any, catalog: Catalog, message_id: str, *, now: datetime) -> str | None:
    """Hold the mailbox that sent this message when its recent bounces or complaints pass
    its thresholds; returns the reason when this event is the one that held it."""
    message = sends.by_message_id(tx, message_id)
    if message is None or message.mailbox_key not in catalog.mailboxes:
        return None
    if catalog_store.is_held(tx, message.mailbox_key):
        return None  # held already: nothing to count
    limits = catalog.mailboxes[message.mailbox_key].reputation
    _, bounced, complained = sends.reputation(
        tx, message.mailbox_key, window=limits.window, bounce_reasons=tuple(SENDER_SIDE)
    )
    reason = breaker_reason(
        bounced=bounced, complained=complained, window=limits.window, bounce_rate=limits.bounce_rate,
        complaint_rate=limits.complaint_rate,
    )  # fmt: skip
    if reason is not None and hold_in(tx, catalog.notifier, message.mailbox_key, reason, now):
        return f"mailbox {message.mailbox_key} paused: {reason}"
    return None


def _notify(
    tx: Any, catalog: Catalog, contact: Contact, event_type: str, message_id: str | None, *, at: datetime,
    now: datetime, **more: Any,
) -> None:  # fmt: skip
    """The event's notifications: with the enrollment and step of the message it concerns."""
    notifier = catalog.notifier
    if not notifier.targets:
        return
    message = sends.by_message_id(tx, message_id) if message_id else None
    enrollment = enrollment_store.get(tx, message.enrollment_id) if message is not None else None
    if message is None or enrollment is None:
        notifier.record(tx, event_type, {"email": contact.email, **{k: v for k, v in more.items() if v}}, at=at, now=now)
        return
    data = enrollment_data(enrollment_id=enrollment.id, email=contact.email, sequence=enrollment.sequence_key,
                           step=message.step_id, message_id=message.message_id, **more)  # fmt: skip
    notifier.record(tx, event_type, data, at=at, now=now, sequence=enrollment.sequence_key, enrollment_id=enrollment.id)


SOFT_BOUNCE_WINDOW = timedelta(days=30)


def _soft_bounce_suppresses(tx: Any, contact: Contact, reason: str | None, *, at: datetime, now: datetime) -> bool:
    """A soft bounce leaves the address mailable (a full mailbox empties, a suspended account
    comes back), until the Nth of the recipient's own within 30 days (SEQCTL_SOFT_BOUNCE_LIMIT,
    default 3). Bounces for the sender's reasons are not the recipient's and never count."""
    if reason in SENDER_SIDE:
        return False
    limit = settings.soft_bounce_limit()
    count = activity.count_events(
        tx, contact.id, EventType.BOUNCED, detail=BounceKind.SOFT, since=at - SOFT_BOUNCE_WINDOW, except_reasons=SENDER_SIDE
    )
    if limit == 0 or count < limit:
        return False
    return activity.suppress(tx, contact.email, "address", EventType.BOUNCED, now)


def apply_exit_rules(tx: Any, catalog: Catalog, contact: Contact, *, now: datetime) -> list[int]:
    """Exit every open enrollment of the contact that one of its events stops."""
    events = activity.events_for_contact(tx, contact.id)
    exited = []
    for e in enrollment_store.open_for_contact(tx, contact.id):
        sequence = catalog.by_id[e.sequence_id].model
        reason = exit_reason(sequence.exit_on, facts_for(e, events))
        if reason is not None and _exit(tx, catalog, e, reason, f"{reason} event", now):
            exited.append(e.id)
    return exited


def exit_company(tx: Any, catalog: Catalog, replier: str, *, now: datetime) -> list[int]:
    """A reply from anyone at a company (its registrable domain; free mail is no company)
    ends every open enrollment of that company's contacts in sequences with `domain_replied`."""
    from seqctl.engine.domains import company_domain

    company = company_domain(replier)
    if company is None or not any("domain_replied" in s.model.exit_on for s in catalog.sequences.values()):
        return []
    exited = []
    for e in enrollment_store.open_at_company(tx, company):
        if "domain_replied" not in catalog.by_id[e.sequence_id].model.exit_on:
            continue
        if _exit(tx, catalog, e, "domain_replied", f"reply from {replier}", now):
            exited.append(e.id)
    return exited


def _exit(tx: Any, catalog: Catalog, e: Enrollment, reason: str, detail: str, now: datetime) -> bool:
    values = enrollment_store.finished_values(EnrollmentStatus.EXITED, now, reason=reason, detail=detail)
    if not enrollment_store.guarded_update(tx, e.id, now, where={"status": LIVE}, **values):
        return False
    activity.close_tasks_of(tx, e.id, "skipped", now)
    activity.record_execution(
        tx, enrollment_id=e.id, step_id=e.current_step, kind="exit", outcome="exited", at=now,
        detail={"reason": reason, "why": detail},
    )  # fmt: skip
    catalog.notifier.exited(tx, e, reason=reason, detail=detail, now=now)
    return True


def normalise_message_id(value: str) -> str:
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    if not value.endswith(">") or " " in value or "@" not in value:
        raise InvalidInput(f"{value!r} is not a Message-ID")
    return value
