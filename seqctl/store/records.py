"""Plain frozen rows handed out by the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Contact:
    id: int
    email: str
    fields: dict[str, Any]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Enrollment:
    id: int
    sequence_id: int
    sequence_key: str
    contact_id: int
    email: str
    status: str
    current_step: str | None
    step_due_at: datetime | None
    next_run_at: datetime | None
    waiting_on: str | None
    lease_token: int
    attempts: int
    owner: str | None
    exit_reason: str | None
    exit_detail: str | None
    last_error: str | None
    started_at: datetime
    last_ran_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    leased_until: datetime | None = None  # while a tick holds it


@dataclass(frozen=True)
class Claim:
    """An enrollment this tick holds until `leased_until`, fenced by `lease_token`."""

    enrollment_id: int
    lease_token: int


@dataclass(frozen=True)
class Message:
    id: int
    enrollment_id: int
    step_id: str
    message_id: str
    mailbox_key: str
    recipient: str
    subject: str
    variant: str | None
    raw: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class Task:
    id: int
    enrollment_id: int
    sequence_key: str
    email: str
    step_id: str
    kind: str
    note: str
    owner: str | None
    status: str
    outcome: str | None
    due_at: datetime
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class Event:
    id: int
    contact_id: int
    type: str
    occurred_at: datetime
    message_id: str | None
    detail: str | None
    source: str
    # Set when the event's Message-ID is a message seqctl sent.
    enrollment_id: int | None = None
    step_id: str | None = None
    url: str | None = None  # a click's link
    automated: str | None = None  # why an open or click looks like a machine
    reason: str | None = None  # a bounce's


@dataclass(frozen=True)
class Execution:
    id: int
    enrollment_id: int
    step_id: str | None
    kind: str
    outcome: str
    at: datetime
    variant: str | None
    message_id: str | None
    error: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceRecord:
    id: int
    key: str
    name: str | None
    mailbox_key: str
    definition: dict[str, Any]
    digest: str
    version: int
    status: str = "active"  # a SequenceStatus
    removed_steps: tuple[dict[str, Any], ...] = ()  # definitions of steps a re-import dropped


@dataclass(frozen=True)
class MailboxRecord:
    id: int
    key: str
    definition: dict[str, Any]
    paused_until: datetime | None
    pause_reason: str | None
    outages: int
    held_reason: str | None = None  # held until an operator resumes it
    held_at: datetime | None = None
