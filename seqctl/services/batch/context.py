"""What every part of a batch shares: the clock reading, the catalog, the mailboxes' state
as this tick knows it, the report, and the in-memory transitions of a work item.

A transition only changes the `Work` (its fields and its collected writes); the writes
reach the database with the batch's next fenced commit (`commit.Commits`), so a tick that
lost a claim writes nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from seqctl import settings
from seqctl.delivery.pool import TransportPool
from seqctl.services.batch.work import RUNNING, STOPPED, Work
from seqctl.services.catalog import Catalog
from seqctl.services.mailboxes import hold_in
from seqctl.services.notifying import enrollment_data
from seqctl.services.oauth_tokens import bearer_source
from seqctl.services.progress import advance_values, owner_of, template_context
from seqctl.services.tick_report import TickReport
from seqctl.spec.mailboxes import Mailbox
from seqctl.states import EnrollmentStatus, WaitingReason
from seqctl.store import activity
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database, Tx

# How soon an email of a mailbox held by an operator, the breaker or an expired
# authorisation is looked at again (`mailbox resume` and `auth login` make it due at once).
HELD_RECHECK = timedelta(minutes=15)


@dataclass
class Batch:
    db: Database
    now: datetime
    lease_until: datetime
    pool: TransportPool
    max_attempts: int
    report: TickReport
    catalog: Catalog
    # Mailboxes resting after an outage, until when, and their consecutive outages.
    mailbox_paused: dict[str, datetime] = field(default_factory=dict)
    mailbox_outages: dict[str, int] = field(default_factory=dict)
    # Held until an operator resumes it (`mailbox pause`, the reputation breaker).
    mailbox_hold_reasons: dict[str, str] = field(default_factory=dict)
    # A per_day/per_hour limit that held a mailbox holds it for the rest of this tick
    # (the clock is read once); later emails are deferred without rendering them.
    held_mailboxes: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    secret: str | None = None

    @classmethod
    def start(
        cls, db: Database, *, now: datetime, lease_until: datetime, pool: TransportPool | None,
        max_attempts: int, report: TickReport,
    ) -> Batch:  # fmt: skip
        catalog = Catalog.load(db)
        records = catalog.mailbox_records
        return cls(
            db=db, now=now, lease_until=lease_until, pool=pool or TransportPool(bearer=bearer_source(db)), max_attempts=max_attempts,
            report=report, catalog=catalog,
            mailbox_paused={key: r.paused_until for key, r in records.items() if r.paused_until},
            mailbox_outages={key: r.outages for key, r in records.items() if r.outages},
            mailbox_hold_reasons={key: r.held_reason for key, r in records.items() if r.held_reason},
            secret=settings.tracking_secret(),
        )  # fmt: skip

    def template_context(self, work: Work, mailbox: Mailbox | None = None) -> dict[str, Any]:
        sequence = work.loaded.model
        return template_context(
            work.contact.email, work.contact.fields, sorted(work.contact.tags), sequence,
            owner=owner_of(work.owner, work.contact.fields, sequence), mailbox=mailbox,
        )  # fmt: skip

    # -- transitions (in memory; committed with the work's other writes) -------------------

    def advance(self, work: Work, step_id: str, *, chosen: str | None = None) -> None:
        """On to the step after `step_id` (or `chosen`); run on in this tick if it is due."""
        values = advance_values(
            work.loaded.model, work.calendar, step_id, self.now, chosen=chosen, keep_until=self.lease_until
        )
        work.update(**values)
        if values["status"] == EnrollmentStatus.COMPLETED:
            self.record(work, step_id, "complete", "completed")
            self.notify(work, "completed", step=step_id)
            work.counts["completed"] += 1
            work.phase = STOPPED
            return
        work.phase = RUNNING if values["step_due_at"] <= self.now else STOPPED

    def exit(self, work: Work, reason: str, detail: str) -> None:
        work.update(**enrollment_store.finished_values(EnrollmentStatus.EXITED, self.now, reason=reason, detail=detail))
        enrollment_id, now = work.id, self.now

        def close_tasks(tx: Tx) -> None:
            activity.close_tasks_of(tx, enrollment_id, "skipped", now)

        work.ops.append(close_tasks)
        self.record(work, work.current_step, "exit", "exited", detail={"reason": reason, "detail": detail})
        self.notify(work, "exited", reason=reason, detail=detail)
        work.counts["exited"] += 1
        work.phase = STOPPED

    def defer(self, work: Work, until: datetime, waiting_on: str, why: str) -> None:
        work.update(
            next_run_at=until,
            waiting_on=waiting_on,
            leased_until=None,
            last_error=why if waiting_on in (WaitingReason.MAILBOX, WaitingReason.CONFIG, WaitingReason.LIMIT) else None,
        )
        work.counts["deferred"] += 1
        work.phase = STOPPED

    def hold_mailbox(self, tx: Tx, mailbox_key: str, reason: str) -> None:
        """Hold the mailbox until an operator acts (its authorisation expired): none of its
        emails goes out after this one, in this tick or later."""
        if mailbox_key in self.mailbox_hold_reasons:
            return
        hold_in(tx, self.catalog.notifier, mailbox_key, reason, self.now)
        self.mailbox_hold_reasons[mailbox_key] = reason
        self.report.paused_mailboxes[mailbox_key] = reason
        self.report.errors.append(f"mailbox {mailbox_key} paused: {reason}")

    def defer_for_hold(self, work: Work, mailbox_key: str) -> None:
        why = f"mailbox {mailbox_key} paused: {self.mailbox_hold_reasons[mailbox_key]}"
        self.defer(work, self.now + HELD_RECHECK, WaitingReason.MAILBOX, why)

    def hold_for_sequence(self, work: Work) -> None:
        """Its sequence is paused: no tick looks at it again until `resume SEQUENCE`."""
        work.update(next_run_at=None, waiting_on=WaitingReason.SEQUENCE, leased_until=None)
        work.counts["deferred"] += 1
        work.phase = STOPPED

    def wait_for_window(self, work: Work, opens: datetime) -> None:
        work.update(next_run_at=opens, waiting_on=None, leased_until=None, last_error=None)
        work.counts["deferred"] += 1
        work.phase = STOPPED

    def defer_by_limit(self, work: Work, until: datetime, why: str) -> None:
        self.defer(work, work.calendar.next_opening(until), "limit", why)

    def hold_unknown(self, work: Work, step_id: str, message_id: str, why: str) -> None:
        work.update(waiting_on=WaitingReason.UNKNOWN_SEND, next_run_at=None, leased_until=None, last_error=why)
        self.record(work, step_id, "email", "unknown", message_id=message_id, error=why)
        self.notify(work, "unknown_send", step=step_id, message_id=message_id, error=why)
        work.counts["unknown"] += 1
        work.phase = STOPPED

    def fail(self, work: Work, step_id: str | None, error: str) -> None:
        work.update(status=EnrollmentStatus.FAILED, last_error=error, next_run_at=None, leased_until=None, waiting_on=None)
        self.record(work, step_id, "step", "failed", error=error)
        self.notify(work, "failed", step=step_id, error=error)
        work.counts["failed"] += 1
        work.errors.append(f"enrollment {work.id}: {error}")
        work.phase = STOPPED

    def fail_with(self, work: Work, exc: Exception) -> None:
        """An unexpected error while running this work item: it fails, the batch goes on."""
        self.fail(work, work.current_step, f"{type(exc).__name__}: {exc}")

    def notify(self, work: Work, event: str, *, target: str | None = None, **more: Any) -> None:
        """The work item's notification of `event` (or a `notify` step's, to `target`),
        written with its other writes: only if they are committed does anyone hear of it."""
        notifier, sequence, now = self.catalog.notifier, work.loaded.record.key, self.now
        if target is None and not notifier.hears(event, sequence=sequence):
            return
        more.setdefault("step", work.current_step)
        data = enrollment_data(enrollment_id=work.id, email=work.contact.email, sequence=sequence, **more)
        enrollment_id = work.id

        def record(tx: Tx) -> None:
            notifier.record(tx, event, data, at=now, now=now, sequence=sequence, enrollment_id=enrollment_id,
                            target=target)  # fmt: skip

        work.ops.append(record)

    def record(self, work: Work, step_id: str | None, kind: str, outcome: str, **extra: Any) -> None:
        work.executions.append(
            {"enrollment_id": work.id, "step_id": step_id, "kind": kind, "outcome": outcome, "at": self.now, **extra}  # type: ignore[typeddict-item]
        )

    def record_now(self, tx: Tx, work: Work, step_id: str, kind: str, outcome: str, **extra: Any) -> None:
        """An audit row written at once, for a work item this tick no longer holds."""
        activity.record_execution(
            tx, enrollment_id=work.id, step_id=step_id, kind=kind, outcome=outcome, at=self.now, **extra
        )
