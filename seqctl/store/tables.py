"""The schema. Alembic migrations in `migrations/versions` must produce exactly this
(tests/migration checks it).

Enrollments are the queue: a runnable enrollment has `next_run_at`; claiming one pushes
`next_run_at` to the lease's end and bumps `lease_token`, so a dead tick's claim becomes
due again by itself and every later write of that tick is fenced by the token.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Column, Index, Table, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from seqctl.states import OPEN, status_in_sql
from seqctl.store.claims import RUNNABLE_SQL
from seqctl.store.columns import UTCDateTime

OPEN_SQL = status_in_sql(OPEN)


def table_of(model: type[SQLModel]) -> Table:
    """The model's Core table, for the store's statements. SQLAlchemy's declarative base
    sets `__table__` on each table model; SQLModel's stubs do not declare it."""
    return cast(Table, vars(model)["__table__"])


def _when(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class MailboxRow(SQLModel, table=True):
    __tablename__ = "mailboxes"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)
    definition: dict[str, Any] = _json()
    paused_until: datetime | None = _when()
    pause_reason: str | None = None
    # Consecutive failed attempts to reach the mailbox's server; the pause doubles with each.
    outages: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Held until an operator resumes it (`seqctl mailbox pause`, or the reputation breaker):
    # unlike `paused_until`, no clock releases it.
    held_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    held_at: datetime | None = _when()
    updated_at: datetime | None = _when(nullable=False)


class OwnerRow(SQLModel, table=True):
    """People tasks are for, with their working hours (the `owners:` of sequence files)."""

    __tablename__ = "owners"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)
    definition: dict[str, Any] = _json()
    updated_at: datetime | None = _when(nullable=False)


class SequenceRow(SQLModel, table=True):
    __tablename__ = "sequences"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)
    name: str | None = None
    mailbox_key: str = Field(max_length=100)
    definition: dict[str, Any] = _json()
    digest: str = Field(max_length=64)
    version: int = 1
    # active, paused (`pause SEQUENCE`: no step of it runs) or archived (`archive`, `import --prune`).
    status: str = Field(default="active", max_length=20, sa_column_kwargs={"server_default": "active"})
    status_at: datetime | None = _when()
    created_at: datetime | None = _when(nullable=False)
    updated_at: datetime | None = _when(nullable=False)


class StepRow(SQLModel, table=True):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("sequence_id", "step_id", name="uq_steps_sequence_step"),)
    id: int | None = Field(default=None, primary_key=True)
    sequence_id: int = Field(foreign_key="sequences.id", index=True)
    step_id: str = Field(max_length=100)
    position: int
    type: str = Field(max_length=20)
    definition: dict[str, Any] = _json()
    # A step a re-import dropped: kept (stats and logs name it) but no longer part of the flow.
    removed_at: datetime | None = _when()


class ContactRow(SQLModel, table=True):
    __tablename__ = "contacts"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)
    # The address's registrable domain (acme.co.uk for a@sales.acme.co.uk).
    company: str | None = Field(default=None, max_length=255, index=True)
    fields: dict[str, Any] = _json()
    created_at: datetime | None = _when(nullable=False)
    updated_at: datetime | None = _when(nullable=False)


class ContactTagRow(SQLModel, table=True):
    __tablename__ = "contact_tags"
    contact_id: int = Field(foreign_key="contacts.id", primary_key=True)
    tag: str = Field(primary_key=True, max_length=100, index=True)


class EnrollmentRow(SQLModel, table=True):
    __tablename__ = "enrollments"
    __table_args__ = (
        # "What is due" is a range scan over runnable rows only.
        Index(
            "ix_enrollments_due",
            "next_run_at",
            sqlite_where=text(RUNNABLE_SQL),
            postgresql_where=text(RUNNABLE_SQL),
        ),
        # One open enrollment per contact and sequence; finished ones may be re-enrolled.
        Index(
            "uq_enrollments_open",
            "sequence_id",
            "contact_id",
            unique=True,
            sqlite_where=text(OPEN_SQL),
            postgresql_where=text(OPEN_SQL),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    sequence_id: int = Field(foreign_key="sequences.id", index=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    status: str = Field(max_length=20)
    current_step: str | None = Field(default=None, max_length=100)
    # When the current step is due by its schedule (kept while a claim holds the row).
    step_due_at: datetime | None = _when()
    # When a tick should next look at this enrollment: step due time or lease end.
    next_run_at: datetime | None = _when()
    # Why an active enrollment is not scheduled or is deferred: task, unknown_send, limit, retry.
    waiting_on: str | None = Field(default=None, max_length=30)
    lease_token: int = 0
    leased_until: datetime | None = _when()
    attempts: int = 0
    owner: str | None = None
    exit_reason: str | None = Field(default=None, max_length=30)
    exit_detail: str | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    started_at: datetime | None = _when(nullable=False)
    last_ran_at: datetime | None = _when()
    finished_at: datetime | None = _when()
    created_at: datetime | None = _when(nullable=False)
    updated_at: datetime | None = _when(nullable=False)


class MessageRow(SQLModel, table=True):
    """A send intent: committed before the SMTP conversation, unique per (enrollment, step)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id", name="uq_messages_enrollment_step"),
        Index("ix_messages_mailbox_created", "mailbox_key", "created_at"),
        # Provider events that name only the recipient find its latest message.
        Index("ix_messages_recipient_sent", "recipient", "sent_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollments.id")
    step_id: str = Field(max_length=100)
    message_id: str = Field(unique=True, max_length=255)
    mailbox_key: str = Field(max_length=100)
    recipient: str = Field(max_length=320)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    variant: str | None = Field(default=None, max_length=100)
    raw: str = Field(sa_column=Column(Text, nullable=False))
    # sending → sent | unknown | retry → sending … | bounced | failed | not_sent
    status: str = Field(max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime | None = _when(nullable=False)
    sent_at: datetime | None = _when()


class ExecutionRow(SQLModel, table=True):
    """The audit trail: one row per step run or attempt."""

    __tablename__ = "executions"
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollments.id", index=True)
    step_id: str | None = Field(default=None, max_length=100)
    kind: str = Field(max_length=20)
    outcome: str = Field(max_length=30)
    detail: dict[str, Any] = _json()
    variant: str | None = Field(default=None, max_length=100)
    message_id: str | None = Field(default=None, max_length=255)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime | None = _when(nullable=False)


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_contact_type", "contact_id", "type"),)
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id")
    message_id: str | None = Field(default=None, max_length=255, index=True)
    type: str = Field(max_length=30)
    detail: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=30)  # a bounce's (SPEC §6 vocabulary)
    source: str = Field(default="manual", max_length=30)
    dedupe_key: str | None = Field(default=None, unique=True, max_length=255)
    # A click's link (the URL that was in the email).
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Why an open or click looks like a machine (a mail scanner) rather than the person;
    # branches and stats leave such events out unless asked.
    automated: str | None = Field(default=None, max_length=100)
    occurred_at: datetime | None = _when(nullable=False)
    recorded_at: datetime | None = _when(nullable=False)


class SuppressionRow(SQLModel, table=True):
    __tablename__ = "suppressions"
    id: int | None = Field(default=None, primary_key=True)
    value: str = Field(unique=True, max_length=320)
    kind: str = Field(max_length=10)  # address | domain
    reason: str = Field(max_length=30)
    created_at: datetime | None = _when(nullable=False)


class InboundRow(SQLModel, table=True):
    """Every inbound message an inbox sync has read, whatever became of it: the record that
    makes a sync idempotent and keeps what matched nothing."""

    __tablename__ = "inbound_messages"
    # A message already read (by Message-ID, within its mailbox) is not read again.
    __table_args__ = (Index("ix_inbound_mailbox_message", "mailbox_key", "message_id"),)
    id: int | None = Field(default=None, primary_key=True)
    # Where it was read: maildir:<folder>:<file> or imap:<mailbox>:<uidvalidity>:<uid>.
    source_key: str = Field(unique=True, max_length=500)
    mailbox_key: str | None = Field(default=None, max_length=100)
    message_id: str | None = Field(default=None, max_length=255)
    sender: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=998)
    kind: str = Field(max_length=20)  # one of inbound.classify.KINDS
    detail: str | None = Field(default=None, max_length=100)  # a bounce's hard | soft
    reason: str | None = Field(default=None, max_length=30)
    # A bounce's or complaint's recipient, else the sender.
    address: str | None = Field(default=None, max_length=320)
    returns_on: date | None = None
    contact_id: int | None = Field(default=None, foreign_key="contacts.id")
    outcome: str = Field(max_length=200)
    received_at: datetime | None = _when()
    recorded_at: datetime | None = _when(nullable=False)


class InboxCursorRow(SQLModel, table=True):
    """How far an IMAP sync has read a folder: UIDs above `last_uid` are new while the
    folder keeps its `uidvalidity`."""

    __tablename__ = "inbox_cursors"
    mailbox_key: str = Field(primary_key=True, max_length=100)
    folder: str = Field(primary_key=True, max_length=500)
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime | None = _when(nullable=False)


class TaskRow(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id", name="uq_tasks_enrollment_step"),
        Index("ix_tasks_status_owner", "status", "owner"),
    )
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollments.id")
    step_id: str = Field(max_length=100)
    kind: str = Field(max_length=20)
    note: str = Field(sa_column=Column(Text, nullable=False))
    owner: str | None = None
    status: str = Field(default="open", max_length=20)  # open | done | skipped | auto
    outcome: str | None = None
    due_at: datetime | None = _when(nullable=False)
    created_at: datetime | None = _when(nullable=False)
    completed_at: datetime | None = _when()


metadata = SQLModel.metadata


class MailboxAuthRow(SQLModel, table=True):
    """How a mailbox authorises with its servers when not by password: its OAuth tokens,
    sealed (`seqctl.token_box`), and whether they still work. One row per mailbox; a
    refresh holds the row's lock so that only one process refreshes at a time."""

    __tablename__ = "mailbox_auth"
    mailbox_key: str = Field(primary_key=True, max_length=100)
    method: str = Field(max_length=20)  # oauth
    account: str | None = Field(default=None, max_length=320)  # who signed in
    sealed: str = Field(sa_column=Column(Text, nullable=False))  # the tokens, sealed
    # When the access token stops working, by the provider's clock (never `--now`'s).
    access_expires_at: datetime | None = _when()
    state: str = Field(max_length=20)  # authorised | expired
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime | None = _when(nullable=False)


class NotifyTargetRow(SQLModel, table=True):
    """Where notifications go (the `notify:` of sequence files)."""

    __tablename__ = "notify_targets"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)
    definition: dict[str, Any] = _json()
    updated_at: datetime | None = _when(nullable=False)


class NotificationRow(SQLModel, table=True):
    """The notification outbox: one row per target per event, written in the transaction of
    the change that caused it, delivered afterwards (at least once) by whichever process
    claims it: the claim is a lease, as for enrollments."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_next", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    webhook_id: str = Field(unique=True, max_length=40)  # the same on every retry (Standard Webhooks)
    target_key: str = Field(max_length=100)
    event: str = Field(max_length=40)
    sequence_key: str | None = Field(default=None, max_length=100)
    enrollment_id: int | None = None
    data: dict[str, Any] = _json()
    occurred_at: datetime | None = _when(nullable=False)
    status: str = Field(max_length=20)  # pending | delivered | failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = _when(nullable=False)
    give_up_at: datetime | None = _when(nullable=False)  # retried until then, then failed
    leased_until: datetime | None = _when()
    lease_token: str | None = Field(default=None, max_length=40)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    delivered_at: datetime | None = _when()
