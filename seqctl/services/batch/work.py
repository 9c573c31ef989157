"""One claimed enrollment as a batch carries it: where it stands, the contact as the batch
sees it, and the writes it has collected but not committed (typed, not bare dicts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from seqctl.delivery.transports import SendResult
from seqctl.engine.calendar import SendCalendar
from seqctl.engine.flow import EventFact
from seqctl.services.catalog import LoadedSequence
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import EmailStep
from seqctl.store.db import Tx
from seqctl.store.records import Claim, Contact, Enrollment, Message, Task

# Where a work item is in this tick (its `phase`; its `status` is the enrollment's).
RUNNING = "running"  # its current step is due: run it
SENDING = "sending"  # its current step is an email that passed the in-memory checks
STOPPED = "stopped"  # nothing more for this tick


class ExecutionWrite(TypedDict):
    """An audit row (`executions`) to insert with the batch's other writes."""

    enrollment_id: int
    step_id: str | None
    kind: str
    outcome: str
    at: datetime
    variant: NotRequired[str | None]
    message_id: NotRequired[str | None]
    error: NotRequired[str | None]
    detail: NotRequired[dict[str, Any]]


class TaskWrite(TypedDict):
    """A manual task to create."""

    enrollment_id: int
    step_id: str
    kind: str
    note: str
    owner: str | None
    due_at: datetime
    created_at: datetime


@dataclass
class ContactState:
    """A contact as this batch sees it: actions change it in memory for later steps."""

    id: int
    email: str
    fields: dict[str, Any]
    tags: set[str]

    def as_record(self) -> Contact:
        return Contact(self.id, self.email, dict(self.fields), tuple(sorted(self.tags)))

    def display_name(self) -> str:
        parts = [str(self.fields.get(k, "")).strip() for k in ("first_name", "last_name")]
        return " ".join(p for p in parts if p) or str(self.fields.get("name", ""))


@dataclass(frozen=True)
class PreparedSend:
    """An email rendered and built, ready for its intent to be committed."""

    row_id: int | None  # the earlier attempt's row when this is a retry
    attempt: int  # the message row's attempt this send is
    message_id: str
    raw: str
    subject: str
    variant: str | None
    mailbox: Mailbox
    step: EmailStep


@dataclass(eq=False)  # compared by identity
class Work:
    """One claimed enrollment: where it stands, and the writes it has not committed yet."""

    claim: Claim
    enrollment: Enrollment
    loaded: LoadedSequence
    contact: ContactState
    calendar: SendCalendar
    facts: list[EventFact]
    sends: dict[str, Message]
    tasks: dict[str, Task]
    status: str
    current_step: str | None
    owner: str | None
    attempts: int
    phase: str = RUNNING
    steps_run: int = 0
    email_step: EmailStep | None = None
    # Uncommitted writes.
    values: dict[str, Any] = field(default_factory=dict)  # enrollment columns
    executions: list[ExecutionWrite] = field(default_factory=list)
    new_tasks: list[TaskWrite] = field(default_factory=list)
    closed_tasks: list[tuple[int, str, str | None]] = field(default_factory=list)  # (task, status, outcome)
    tag_changes: dict[str, bool] = field(default_factory=dict)  # tag → present
    field_changes: dict[str, Any] = field(default_factory=dict)
    ops: list[Callable[[Tx], None]] = field(default_factory=list)  # writes that need the transaction
    counts: Counter[str] = field(default_factory=Counter)  # TickReport counters
    errors: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.enrollment.id

    def update(self, **values: Any) -> None:
        self.values.update(values)
        for name in ("status", "current_step", "owner", "attempts"):
            if name in values:
                setattr(self, name, values[name])

    def has_writes(self) -> bool:
        return bool(
            self.values or self.executions or self.new_tasks or self.closed_tasks
            or self.tag_changes or self.field_changes or self.ops or self.counts or self.errors
        )  # fmt: skip

    def forget_writes(self) -> None:
        self.values, self.executions, self.new_tasks, self.closed_tasks = {}, [], [], []
        self.tag_changes, self.field_changes, self.ops = {}, {}, []
        self.counts, self.errors = Counter(), []


@dataclass(frozen=True)
class Delivery:
    """A send whose intent is committed and whose outcome is not yet."""

    work: Work
    prepared: PreparedSend
    row_id: int
    result: SendResult
