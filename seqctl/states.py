"""The one vocabulary of states: what an enrollment, a send, an event and a bounce can be,
and the named sets of them that the spec, the store, the services, the inbound reader and
the web app share.

`StrEnum` members are their strings (`EnrollmentStatus.ACTIVE == "active"`), so they go
into SQL, JSON and the database as they are, and text read back compares equal to them.
"""

from __future__ import annotations

from enum import StrEnum


class EnrollmentStatus(StrEnum):
    SCHEDULED = "scheduled"  # starts in the future
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    EXITED = "exited"  # with an ExitReason
    FAILED = "failed"  # dead-lettered, with the last error; `seqctl retry`


# What a tick may claim.
RUNNABLE: tuple[EnrollmentStatus, ...] = (EnrollmentStatus.SCHEDULED, EnrollmentStatus.ACTIVE)
# Not finished: an enrollment in one of these keeps the contact "in" the sequence.
OPEN: tuple[EnrollmentStatus, ...] = (*RUNNABLE, EnrollmentStatus.PAUSED, EnrollmentStatus.FAILED)
# Open and not dead-lettered: what an event, an exit or a company exit still acts on.
LIVE: tuple[EnrollmentStatus, ...] = (*RUNNABLE, EnrollmentStatus.PAUSED)


class WaitingReason(StrEnum):
    """Why a runnable enrollment is not due yet (`enrollments.waiting_on`)."""

    TASK = "task"  # a manual task is open
    RETRY = "retry"  # a transient failure's backoff
    LIMIT = "limit"  # the mailbox's send limits
    MAILBOX = "mailbox"  # the mailbox rests after an outage, or is paused
    CONFIG = "config"  # a setting is missing (e.g. the tracking secret)
    UNKNOWN_SEND = "unknown_send"  # a send of unknown outcome waits for `seqctl resolve`
    OUT_OF_OFFICE = "out_of_office"  # paused until the contact's return date
    SEQUENCE = "sequence"  # its sequence is paused (`pause SEQUENCE`); `resume SEQUENCE` frees it


class SequenceStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # held as a whole: no step of any of its enrollments runs
    ARCHIVED = "archived"  # retired: its enrollments exited, nothing can be enrolled


class NotificationStatus(StrEnum):
    PENDING = "pending"  # not delivered yet: due at `next_attempt_at`
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after its retry window (`seqctl notifications retry ID`)


class AuthState(StrEnum):
    """A mailbox's OAuth authorisation."""

    AUTHORISED = "authorised"
    EXPIRED = "expired"  # the provider refused to renew it: `seqctl auth login KEY`


class SendStatus(StrEnum):
    SENDING = "sending"  # the intent is committed; the outcome is not yet
    SENT = "sent"
    UNKNOWN = "unknown"  # the connection broke after the message was handed over
    BOUNCED = "bounced"
    RETRY = "retry"  # certainly not sent; tried again later
    NOT_SENT = "not_sent"  # certainly not sent (the mailbox was down)
    FAILED = "failed"  # the server refused the message for good


# Sends that count against a mailbox's limits (they left, or may have).
COUNTED_SENDS: tuple[SendStatus, ...] = (SendStatus.SENDING, SendStatus.SENT, SendStatus.UNKNOWN, SendStatus.BOUNCED)
# Sends that certainly did not leave and may be attempted again.
RETRYABLE_SENDS: tuple[SendStatus, ...] = (SendStatus.RETRY, SendStatus.NOT_SENT)
# Sends whose outcome nobody recorded: `seqctl resolve` settles them.
UNSETTLED_SENDS: tuple[SendStatus, ...] = (SendStatus.UNKNOWN, SendStatus.SENDING)


class EventType(StrEnum):
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    AUTO_REPLIED = "auto_replied"
    BOUNCED = "bounced"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"
    MEETING_BOOKED = "meeting_booked"


EVENT_TYPES: tuple[EventType, ...] = tuple(EventType)


class BounceKind(StrEnum):
    HARD = "hard"  # the address is gone: suppressed
    SOFT = "soft"


class ExitReason(StrEnum):
    REPLIED = "replied"
    BOUNCED = "bounced"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"
    MEETING_BOOKED = "meeting_booked"
    AUTO_REPLIED = "auto_replied"
    DOMAIN_REPLIED = "domain_replied"
    MANUAL = "manual"
    ACTION = "action"
    ARCHIVED = "archived"


# Events that put the address on the suppression list (with the event's name as the reason).
SUPPRESSING_EVENTS = frozenset({EventType.UNSUBSCRIBED, EventType.BOUNCED, EventType.COMPLAINED})
# A suppression found right before sending ends the enrollment with this reason (else manual).
EXIT_FOR_SUPPRESSION: dict[str, ExitReason] = {
    "bounced": ExitReason.BOUNCED,
    "unsubscribed": ExitReason.UNSUBSCRIBED,
}


def status_in_sql(statuses: tuple[str, ...]) -> str:
    """`status IN ('a', 'b')` written out for a partial index's condition and the queries
    that must visibly imply it (a bound parameter would not let SQLite use the index)."""
    return "status IN (" + ", ".join(f"'{status}'" for status in statuses) + ")"
