"""The loop over one batch of claims: load them, run their steps in memory, commit, send
what is due to be sent, and again until nothing is left to run in this tick."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from seqctl.delivery.pool import TransportPool
from seqctl.services.batch.commit import Commits
from seqctl.services.batch.context import Batch
from seqctl.services.batch.sending import SendPipeline
from seqctl.services.batch.settlement import Settlement
from seqctl.services.batch.steps import StepInterpreter
from seqctl.services.batch.work import RUNNING, SENDING, ContactState, Work
from seqctl.services.mailboxes import rooms
from seqctl.services.progress import calendar_of, facts_for
from seqctl.services.tick_report import TickReport
from seqctl.spec.models import EmailStep
from seqctl.states import RUNNABLE
from seqctl.store import activity, sends
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.claims import Steps
from seqctl.store.db import Database
from seqctl.store.records import Claim, Task

# A limit that frees sooner than this (min_gap) leaves its emails where they are; a longer
# one (per_day, per_hour) has them deferred in one statement, so later ticks skip them
# without even scanning them.
DEFER_HELD_AFTER = timedelta(minutes=5)


@dataclass
class ClaimPlan:
    held: Steps = field(default_factory=list)  # email steps whose mailbox may send none now
    limited: list[tuple[Steps, int]] = field(default_factory=list)  # a mailbox's email steps, its room
    # Email steps a limit holds for a while (per_day, per_hour): deferred together, until then, why.
    deferred: list[tuple[Steps, datetime, str]] = field(default_factory=list)


class BatchRunner:
    def __init__(
        self,
        db: Database,
        *,
        now: datetime,
        lease_until: datetime,
        pool: TransportPool | None,
        max_attempts: int,
        report: TickReport,
    ) -> None:
        self.batch = Batch.start(
            db, now=now, lease_until=lease_until, pool=pool, max_attempts=max_attempts, report=report
        )
        self.commits = Commits(self.batch)
        self.steps = StepInterpreter(self.batch)
        self.sending = SendPipeline(self.batch, self.commits, Settlement(self.batch, self.commits))

    def close(self) -> None:
        self.batch.pool.close()

    def claim_plan(self) -> ClaimPlan:
        """Which emails this tick leaves unclaimed (their mailbox may send none now) and how
        many of each limited mailbox's it claims: what it may send (`mailboxes.rooms`)."""
        catalog = self.batch.catalog
        with self.batch.db.read() as tx:
            room = rooms(tx, catalog, self.batch.now)
        plan = ClaimPlan()
        for key, mailbox_room in sorted(room.items()):
            steps = [
                (s.record.id, [step.id for step in s.model.steps if isinstance(step, EmailStep)])
                for s in catalog.sequences.values()
                if s.model.mailbox == key
            ]
            steps = [(sequence_id, ids) for sequence_id, ids in steps if ids]
            if not steps or mailbox_room.sendable is None:
                continue
            if mailbox_room.sendable == 0:
                plan.held += steps
                until, why = mailbox_room.until, mailbox_room.why
                if until is not None and why is not None and until - self.batch.now >= DEFER_HELD_AFTER:
                    plan.deferred.append((steps, until, why))
            else:
                plan.limited.append((steps, mailbox_room.sendable))
        return plan

    def run(self, claims: list[Claim]) -> None:
        works = self._load(claims)
        while True:
            for work in works:
                if work.phase == RUNNING:
                    self.steps.run(work)
            self.commits.commit(works)
            sending = [w for w in works if w.phase == SENDING]
            if not sending:
                return
            self.sending.send(sending)

    def _load(self, claims: list[Claim]) -> list[Work]:
        """The claimed enrollments still held by these claims, with everything their steps
        read: contacts, events, sends and tasks, in a handful of queries."""
        batch = self.batch
        tokens = {c.enrollment_id: c for c in claims}
        with batch.db.read() as tx:
            enrollments = [
                e
                for e in enrollment_store.load_many(tx, list(tokens))
                if e.lease_token == tokens[e.id].lease_token and e.status in RUNNABLE
            ]
            contact_ids = sorted({e.contact_id for e in enrollments})
            ids = [e.id for e in enrollments]
            contacts = contact_store.load_many(tx, contact_ids) if ids else {}
            events = activity.events_for_contacts(tx, contact_ids) if ids else {}
            sent = sends.for_enrollments(tx, ids) if ids else {}
            tasks: dict[int, dict[str, Task]] = {}
            for (enrollment_id, step_id), task in (activity.tasks_for_enrollments(tx, ids) if ids else {}).items():
                tasks.setdefault(enrollment_id, {})[step_id] = task
        batch.report.lost_lease += len(claims) - len(enrollments)
        states = {c.id: ContactState(c.id, c.email, dict(c.fields), set(c.tags)) for c in contacts.values()}
        works = []
        for e in enrollments:
            loaded = batch.catalog.by_id[e.sequence_id]
            works.append(Work(
                claim=tokens[e.id], enrollment=e, loaded=loaded, contact=states[e.contact_id],
                calendar=calendar_of(batch.catalog, loaded.model, contacts[e.contact_id]),
                facts=facts_for(e, events.get(e.contact_id, ())),
                sends={m.step_id: m for m in sent.get(e.id, ())},
                tasks=tasks.get(e.id, {}),
                status=e.status, current_step=e.current_step, owner=e.owner, attempts=e.attempts,
            ))  # fmt: skip
        return works
