"""Running one batch of claimed enrollments.

The batch is read in a handful of queries (enrollments, contacts, events, sends, tasks).
Steps that send nothing (task, branch, action) run in memory: each `Work` collects its
writes, and the whole batch's writes are committed together in one transaction fenced by
the claims' lease tokens, so a tick that lost a claim writes nothing for it.

An email is the exception, because it leaves the building. A durable transaction
re-checks the fence, the suppression list and the mailbox's limits and commits the send
intent (Message-ID and rendered message); delivery happens after that commit; the outcome
is committed with the next intents. After a kill, the next claim asks the transport what
became of an intent without an outcome (`Transport.recover`): a Maildir can always tell,
SMTP cannot, and such an intent becomes `unknown` instead of being sent again. So over
SMTP each intent has a transaction of its own (at most one email in flight), while a
Maildir outbox commits up to `in_flight` intents per transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from seqctl import settings
from seqctl.delivery.message import Outgoing, build, new_message_id, split_address, thread_subject
from seqctl.delivery.pool import TransportPool
from seqctl.delivery.render import render
from seqctl.delivery.tracking import UNSUBSCRIBE, Token, track_html, tracking_url
from seqctl.delivery.transports import SendOutcome, SendResult
from seqctl.engine.calendar import SendCalendar
from seqctl.engine.flow import EventFact, choose_variant, condition_holds, exit_reason
from seqctl.engine.limits import day_start, held_until
from seqctl.engine.retry import backoff, mailbox_pause
from seqctl.errors import TemplateProblem
from seqctl.services.catalog import Catalog, LoadedSequence
from seqctl.services.operations import start_enrollment
from seqctl.services.progress import advance_values, calendar_of, facts_for, template_context
from seqctl.services.tick_report import TickReport
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import ActionStep, BranchStep, EmailStep, Sequence, TaskStep
from seqctl.states import EXIT_FOR_SUPPRESSION, RUNNABLE, ExitReason
from seqctl.store import activity, sends
from seqctl.store import catalog as catalog_store
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database, DatabaseUnavailable, Tx
from seqctl.store.records import Claim, Contact, Enrollment, Message, Task

# How soon an email held by missing configuration (SEQCTL_SECRET) is looked at again.
CONFIG_RECHECK = timedelta(minutes=5)
# Steps one claim may run back to back (action → branch → email …) before yielding.
MAX_STEPS_PER_CLAIM = 25

RUNNING = "running"  # its current step is due: run it
SENDING = "sending"  # its current step is an email that passed the in-memory checks
STOPPED = "stopped"  # nothing more for this tick


@dataclass
class ContactState:
    """A contact as this batch sees it: actions change it in memory for later steps."""

    id: int
    email: str
    fields: dict[str, Any]
    tags: set[str]

    def as_record(self) -> Contact:
        return Contact(self.id, self.email, dict(self.fields), tuple(sorted(self.tags)))


@dataclass(frozen=True)
class PreparedSend:
    row_id: int | None  # the earlier attempt's row when this is a retry
    attempt: int  # the message row's attempt this send is
    message_id: str
    raw: str
    subject: str
    variant: str | None
    mailbox: Mailbox
    step: EmailStep


@dataclass(frozen=True)
class Delivery:
    """A send whose intent is committed and whose outcome is not yet."""

    work: Work
    prepared: PreparedSend
    row_id: int
    result: SendResult


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
    state: str = RUNNING
    steps_run: int = 0
    email_step: EmailStep | None = None
    # Uncommitted writes.
    values: dict[str, Any] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    new_tasks: list[dict[str, Any]] = field(default_factory=list)
    closed_tasks: list[tuple[int, str, str | None]] = field(default_factory=list)
    tag_changes: dict[str, bool] = field(default_factory=dict)
    field_changes: dict[str, Any] = field(default_factory=dict)
    ops: list[Callable[[Tx], None]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
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


HELD_RECHECK = timedelta(minutes=15)


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
        self.db = db
        self.now = now
        self.lease_until = lease_until
        self.pool = pool or TransportPool()
        self.max_attempts = max_attempts
        self.report = report
        self.catalog = Catalog.load(db)
        records = self.catalog.mailbox_records
        self.mailbox_paused = {key: r.paused_until for key, r in records.items() if r.paused_until}
        self.mailbox_outages = {key: r.outages for key, r in records.items() if r.outages}
        # Held until an operator resumes it (`mailbox pause`, the reputation breaker).
        self.mailbox_hold_reasons = {key: r.held_reason for key, r in records.items() if r.held_reason}
        # A per_day/per_hour limit that held a mailbox holds it for the rest of this tick
        # (the clock is read once); later emails are deferred without rendering them.
        self.held_mailboxes: dict[str, tuple[datetime, str]] = {}
        self.unsettled: list[Delivery] = []
        self.secret = settings.tracking_secret()

    def close(self) -> None:
        self.pool.close()

    def run(self, claims: list[Claim]) -> None:
        works = self._load(claims)
        while True:
            for work in works:
                if work.state == RUNNING:
                    self._run_steps(work)
            self._commit_batch(works)
            sending = [w for w in works if w.state == SENDING]
            if not sending:
                return
            for group in self._send_groups(sending):
                self._send_guarded(group)
            self._settle_now()

    # -- loading -----------------------------------------------------------------------

    def _load(self, claims: list[Claim]) -> list[Work]:
        tokens = {c.enrollment_id: c for c in claims}
        with self.db.read() as tx:
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
            for (enrollment_id, step_id), task in (
                activity.tasks_for_enrollments(tx, ids) if ids else {}
            ).items():
                tasks.setdefault(enrollment_id, {})[step_id] = task
        self.report.lost_lease += len(claims) - len(enrollments)
        states = {c.id: ContactState(c.id, c.email, dict(c.fields), set(c.tags)) for c in contacts.values()}
        works = []
        for e in enrollments:
            loaded = self.catalog.by_id[e.sequence_id]
            contact = states[e.contact_id]
            works.append(Work(
                claim=tokens[e.id], enrollment=e, loaded=loaded, contact=contact,
                calendar=calendar_of(self.catalog, loaded.model, contacts[e.contact_id]),
                facts=facts_for(e, events.get(e.contact_id, ())),
                sends={m.step_id: m for m in sent.get(e.id, ())},
                tasks=tasks.get(e.id, {}),
                status=e.status, current_step=e.current_step, owner=e.owner, attempts=e.attempts,
            ))  # fmt: skip
        return works

    # -- committing --------------------------------------------------------------------

    @contextmanager
    def _fenced(self, works: list[Work], *, durable: bool = False) -> Iterator[tuple[Tx, list[Work]]]:
        """A write transaction holding the works whose claim is still current; their
        collected writes are committed with whatever the block adds."""
        with self.db.write(durable=durable) as tx:
            held = self._fence(tx, works)
            yield tx, held
            self._write(tx, held)
        for work in held:
            self._counted(work)

    def _fence(self, tx: Tx, works: list[Work]) -> list[Work]:
        tokens = enrollment_store.current_tokens(tx, [w.id for w in works]) if works else {}
        held = []
        for work in works:
            if tokens.get(work.id) == work.claim.lease_token:
                held.append(work)
            else:  # an operator or another tick changed it since the claim
                work.forget_writes()
                work.state = STOPPED
                self.report.lost_lease += 1
        return held

    def _write(self, tx: Tx, works: list[Work]) -> None:
        for work in works:
            for op in work.ops:
                op(tx)
        if updates := [(w.id, w.values) for w in works if w.values]:
            enrollment_store.bulk_update(tx, updates, self.now)
        if executions := [x for w in works for x in w.executions]:
            activity.record_executions(tx, executions)
        if new_tasks := [t for w in works for t in w.new_tasks]:
            activity.create_tasks(tx, new_tasks)
        if closed_tasks := [t for w in works for t in w.closed_tasks]:
            activity.close_tasks(tx, closed_tasks, self.now)
        if any(w.tag_changes or w.field_changes for w in works):
            self._write_contacts(tx, works)

    def _write_contacts(self, tx: Tx, works: list[Work]) -> None:
        tag_changes: dict[tuple[int, str], bool] = {}
        field_changes: dict[int, dict[str, Any]] = {}
        for work in works:
            for tag, present in work.tag_changes.items():
                tag_changes[(work.contact.id, tag)] = present
            if work.field_changes:
                field_changes.setdefault(work.contact.id, {}).update(work.field_changes)
        contact_store.bulk_add_tags(tx, [pair for pair, present in tag_changes.items() if present])
        contact_store.bulk_remove_tags(tx, [pair for pair, present in tag_changes.items() if not present])
        if field_changes:
            # Merge into the fields as stored now: a contacts import may have run since the load.
            current = contact_store.load_many(tx, sorted(field_changes))
            contact_store.bulk_set_fields(
                tx,
                [(cid, {**current[cid].fields, **changes}) for cid, changes in sorted(field_changes.items())],
                self.now,
            )

    def _counted(self, work: Work) -> None:
        for name, count in work.counts.items():
            setattr(self.report, name, getattr(self.report, name) + count)
        self.report.errors.extend(work.errors)
        work.forget_writes()

    def _commit_batch(self, works: list[Work]) -> None:
        pending = [w for w in works if w.has_writes()]
        if not pending:
            return
        try:
            with self._fenced(pending):
                pass
        except DatabaseUnavailable:
            raise
        except Exception:  # one enrollment's write failed: commit the others one by one
            for work in pending:
                self._commit_alone(work)

    def _commit_alone(self, work: Work) -> None:
        try:
            with self._fenced([work]):
                pass
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            work.forget_writes()
            self._crashed(work, exc)
            with self._fenced([work]):
                pass

    def _crashed(self, work: Work, exc: Exception) -> None:
        self._fail(work, work.current_step, f"{type(exc).__name__}: {exc}")

    # -- steps that send nothing ---------------------------------------------------------

    def _run_steps(self, work: Work) -> None:
        try:
            while work.state == RUNNING:
                if work.steps_run >= MAX_STEPS_PER_CLAIM:
                    work.state = STOPPED  # its next_run_at is the lease's end: it goes on next tick
                    return
                work.steps_run += 1
                self._run_step(work)
        except Exception as exc:  # one bad enrollment must not stop the rest
            self._crashed(work, exc)

    def _run_step(self, work: Work) -> None:
        model = work.loaded.model
        reason = exit_reason(model.exit_on, work.facts)
        if reason is not None:
            self._exit(work, reason, f"{reason} event")
            return
        if work.current_step not in model.step_ids():
            self._fail(work, work.current_step, f"step {work.current_step!r} no longer exists in {model.key}")
            return
        if work.status == "scheduled":  # its start time has come
            work.update(status="active")
        step = model.step(work.current_step)
        if isinstance(step, EmailStep):
            self._check_email(work, step)
        elif isinstance(step, TaskStep):
            self._run_task(work, step)
        elif isinstance(step, BranchStep):
            self._run_branch(work, step)
        else:
            assert isinstance(step, ActionStep)
            self._run_action(work, step)

    def _run_task(self, work: Work, step: TaskStep) -> None:
        existing = work.tasks.get(step.id)
        if existing is None:
            try:
                note = render(step.note, self._template_context(work), what=f"step {step.id} note")
            except TemplateProblem as exc:
                self._fail(work, step.id, str(exc))
                return
            owner = work.owner or work.contact.fields.get("owner") or work.loaded.model.owner
            # Due when its owner next works: a task created at 03:00 is due at 09:00.
            due = self.catalog.working_hours(owner, work.loaded.model).next_opening(self.now)
            work.new_tasks.append({
                "enrollment_id": work.id, "step_id": step.id, "kind": step.kind, "note": note,
                "owner": owner, "due_at": due, "created_at": self.now,
            })  # fmt: skip
            self._record(work, step.id, "task", "created", detail={"kind": step.kind, "owner": owner})
            work.counts["tasks"] += 1
            auto = work.calendar.add_wait(self.now, step.auto_complete) if step.auto_complete else None
            work.update(
                status="active", waiting_on="task", next_run_at=auto, leased_until=None, last_ran_at=self.now
            )
            work.state = STOPPED
            return
        if existing.status == "open":  # claimed because auto_complete elapsed
            work.closed_tasks.append((existing.id, "auto", "auto-completed"))
            self._record(work, step.id, "task", "auto_completed", detail={"task": existing.id})
        self._advance(work, step.id)

    def _run_branch(self, work: Work, step: BranchStep) -> None:
        sent_at = {step_id: m.sent_at for step_id, m in work.sends.items() if m.sent_at}
        holds = condition_holds(step.if_, work.facts, sent_at, self.now)
        chosen = step.then if holds else step.else_
        self._record(
            work, step.id, "branch", "then" if holds else "else",
            detail={"next": chosen, "condition": step.if_.model_dump(by_alias=True, mode="json", exclude_none=True)},
        )  # fmt: skip
        work.counts["branched"] += 1
        self._advance(work, step.id, chosen=chosen)

    def _run_action(self, work: Work, step: ActionStep) -> None:
        contact = work.contact
        done: dict[str, Any] = {}
        if step.tag is not None:
            for tag in step.tags("tag"):
                contact.tags.add(tag)
                work.tag_changes[tag] = True
            done["tag"] = step.tags("tag")
        if step.untag is not None:
            for tag in step.tags("untag"):
                contact.tags.discard(tag)
                work.tag_changes[tag] = False
            done["untag"] = step.tags("untag")
        if step.set is not None:
            contact.fields.update(step.set)
            work.field_changes.update(step.set)
            done["set"] = dict(step.set)
        if step.assign is not None:
            work.update(owner=step.assign)
            done["assign"] = step.assign
        if step.enroll is not None:
            record, target = contact.as_record(), step.enroll

            def enroll(tx: Tx) -> None:
                # Runs before the batch's executions are inserted, so `done` is complete then.
                new_id, why = start_enrollment(
                    tx, self.catalog, target, record, start_at=self.now, now=self.now
                )
                done["enroll"] = {"sequence": target, "enrollment": new_id, "skipped": why or None}

            work.ops.append(enroll)
        work.counts["actions"] += 1
        self._record(work, step.id, "action", "done", detail=done)
        if step.exit is not None:
            self._exit(work, "action", step.exit)
            return
        self._advance(work, step.id, chosen=step.goto)

    # -- email -------------------------------------------------------------------------

    def _check_email(self, work: Work, step: EmailStep) -> None:
        """What can be decided without the database; the rest happens in `_send`."""
        existing = work.sends.get(step.id)
        if existing is not None and existing.status == "sent":
            self._advance(work, step.id)
            return
        mailbox = self.catalog.mailbox_for(work.loaded.model)
        if existing is not None and existing.status == "sending" and mailbox is not None:
            # A tick died between committing this intent and recording the outcome.
            existing = self._recover(work, existing, mailbox)
            if existing.status == "sent":
                self._advance(work, step.id)
                return
        if existing is not None and existing.status in ("sending", "unknown"):
            row_id = existing.id

            def settle_unknown(tx: Tx) -> None:
                sends.settle_send(
                    tx, row_id, "unknown", now=self.now,
                    error="the tick sending it stopped before recording the outcome",
                )  # fmt: skip

            work.ops.append(settle_unknown)
            self._hold_unknown(work, step.id, existing.message_id, "previous tick stopped mid-send")
            return
        if existing is not None and existing.status == "bounced":
            self._exit(work, "bounced", "recipient refused")
            return
        if mailbox is None:
            self._fail(work, step.id, f"mailbox {work.loaded.model.mailbox!r} is not imported")
            return
        work.email_step = step
        work.state = SENDING

    def _recover(self, work: Work, existing: Message, mailbox: Mailbox) -> Message:
        """What the transport can tell of an intent left without an outcome: sent, certainly
        not sent (then this claim sends it again), or nothing (it stays `sending` and is
        held as unknown)."""
        found = self.pool.get(mailbox).recover(existing.message_id, existing.attempts)
        if found is None:
            return existing
        row_id, attempt, sent = existing.id, existing.attempts, found is SendOutcome.SENT

        def settle(tx: Tx) -> None:
            sends.settle_send(
                tx, row_id, "sent" if sent else "not_sent", now=self.now, attempt=attempt,
                error=None if sent else "the tick sending it stopped before delivering it",
            )  # fmt: skip

        work.ops.append(settle)
        if not sent:
            return replace(existing, status="not_sent")
        self._record(
            work, existing.step_id, "email", "sent", message_id=existing.message_id,
            detail={"subject": existing.subject, "server": "found delivered after the sending tick stopped"},
        )  # fmt: skip
        self.report.sent += 1
        work.sends[existing.step_id] = recovered = replace(existing, status="sent", sent_at=self.now)
        return recovered

    def _send_groups(self, sending: list[Work]) -> Iterator[list[Work]]:
        """Consecutive emails whose transports allow that many intents in flight at once."""
        group: list[Work] = []
        room = 0
        for work in sending:
            mailbox = self.catalog.mailbox_for(work.loaded.model)
            assert mailbox is not None  # checked before it was marked SENDING
            allowed = self.pool.get(mailbox).in_flight
            if group and len(group) < min(room, allowed):
                group.append(work)
                room = min(room, allowed)
                continue
            if group:
                yield group
            group, room = [work], allowed
        if group:
            yield group

    def _send_guarded(self, group: list[Work]) -> None:
        try:
            ready = [(work, prepared) for work in group if (prepared := self._prepare_checked(work))]
            intents = self._commit_intents(ready) if ready else []
        except DatabaseUnavailable:
            raise
        except Exception as exc:  # nothing of the group was committed
            if len(group) == 1:
                self._crash(group, exc)
                return
            for work in group:  # find the one at fault: each on its own
                work.forget_writes()
                work.state = SENDING
            for work in group:
                self._send_guarded([work])
            return
        try:
            self._deliver(intents)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            self._crash([work for work, _, _ in intents], exc)

    def _crash(self, works: list[Work], exc: Exception) -> None:
        for work in works:
            work.forget_writes()
            self._crashed(work, exc)
            self._commit_alone(work)

    def _prepare_checked(self, work: Work) -> PreparedSend | None:
        """The email rendered, or None when it cannot go now (its writes say why)."""
        step = work.email_step
        mailbox = self.catalog.mailbox_for(work.loaded.model)
        assert step is not None and mailbox is not None
        work.state = STOPPED  # unless the outcome moves it on
        # Checked here rather than with the other checks: an earlier email of this batch
        # may have found the mailbox down or at its limit.
        if mailbox.key in self.mailbox_hold_reasons:
            # Looked at again every HELD_RECHECK; `mailbox resume` makes them due at once.
            why = f"mailbox {mailbox.key} paused: {self.mailbox_hold_reasons[mailbox.key]}"
            self._defer(work, self.now + HELD_RECHECK, "mailbox", why)
            return None
        paused_until = self.mailbox_paused.get(mailbox.key)
        if paused_until is not None and paused_until > self.now:
            self._defer(work, paused_until, "mailbox", f"mailbox {mailbox.key} paused")
            return None  # committed with the batch's next writes
        held = self.held_mailboxes.get(mailbox.key)
        if held is not None:
            self._defer_by_limit(work, *held)
            return None
        if problem := _link_problem(work.loaded.model, mailbox, self.secret):
            if problem not in self.report.errors:
                self.report.errors.append(problem)
            self._defer(work, self.now + CONFIG_RECHECK, "config", problem)
            return None
        if not work.contact.email.isascii():  # stored before addresses were checked for it
            self._fail(work, step.id, f"{work.contact.email}: a non-ASCII local part needs SMTPUTF8, "
                                      "which seqctl does not send")  # fmt: skip
            return None
        try:
            return self._prepare(work, step, mailbox)
        except TemplateProblem as exc:
            self._fail(work, step.id, str(exc))
            return None

    def _commit_intents(self, ready: list[tuple[Work, PreparedSend]]) -> list[tuple[Work, PreparedSend, int]]:
        """One durable transaction: the previous outcomes, then each intent that passes the
        fence, the mailbox's limits and the suppression list."""
        intents: list[tuple[Work, PreparedSend, int]] = []
        committed = False
        try:
            # Staged only once the whole group is prepared: a group that fails half-way
            # through preparing leaves no file behind for a Message-ID no row holds.
            for _, prepared in ready:
                self.pool.get(prepared.mailbox).stage(prepared.message_id, prepared.attempt, prepared.raw)
            with self._fenced(self._with_unsettled([work for work, _ in ready]), durable=True) as (tx, held):
                self._settle_unsettled(tx, held)
                for work, prepared in ready:
                    if work in held and (row_id := self._intent(tx, work, prepared)) is not None:
                        intents.append((work, prepared, row_id))
            committed = True
        finally:  # a staged message without a committed intent must never be delivered
            kept = {id(prepared) for _, prepared, _ in intents} if committed else set()
            for _, prepared in ready:
                if id(prepared) not in kept:
                    self.pool.get(prepared.mailbox).discard(prepared.message_id, prepared.attempt)
        return intents

    def _intent(self, tx: Tx, work: Work, prepared: PreparedSend) -> int | None:
        mailbox = prepared.mailbox
        limited = self.held_mailboxes.get(mailbox.key) or self._limit(tx, mailbox)
        if limited is not None:
            self.held_mailboxes[mailbox.key] = limited
            self._defer_by_limit(work, *limited)
            return None
        row_id = self._commit_intent(tx, work, prepared)
        if row_id is None:  # refused: the recipient is suppressed
            self._exit_suppressed(tx, work)
        return row_id

    def _deliver(self, intents: list[tuple[Work, PreparedSend, int]]) -> None:
        for work, prepared, row_id in intents:
            mailbox = prepared.mailbox
            transport = self.pool.get(mailbox)
            paused_until = self.mailbox_paused.get(mailbox.key)
            if (
                paused_until is not None and paused_until > self.now
            ):  # an earlier send of the group found it down
                transport.discard(prepared.message_id, prepared.attempt)
                result = SendResult(SendOutcome.MAILBOX_DOWN, f"mailbox {mailbox.key} paused")
            else:
                result = transport.send(
                    split_address(mailbox.from_)[1], work.contact.email, prepared.raw,
                    message_id=prepared.message_id, attempt=prepared.attempt,
                )  # fmt: skip
            self.unsettled.append(Delivery(work, prepared, row_id, result))
            if result.outcome is not SendOutcome.SENT:  # what comes next may depend on it (a mailbox down)
                self._settle_now()

    # Outcomes are committed with the next intents, in one transaction instead of two. A
    # kill in between leaves them without an outcome, which `_recover` deals with.

    def _with_unsettled(self, works: list[Work]) -> list[Work]:
        return [delivery.work for delivery in self.unsettled] + works

    def _settle_unsettled(self, tx: Tx, held: list[Work]) -> None:
        deliveries, self.unsettled = self.unsettled, []
        for d in deliveries:
            self._settle(tx, d.work, d.prepared, d.row_id, d.result, fenced=d.work in held)

    def _settle_now(self) -> None:
        if self.unsettled:
            with self._fenced(self._with_unsettled([])) as (tx, held):
                self._settle_unsettled(tx, held)

    def _prepare(self, work: Work, step: EmailStep, mailbox: Mailbox) -> PreparedSend:
        history = sorted(
            (m for m in work.sends.values() if m.status == "sent" and m.step_id != step.id),
            key=lambda m: (m.sent_at, m.id),
        )
        variant = choose_variant(step.variants, work.id, step.id) if step.variants else None
        source = variant or step
        context = self._template_context(work, mailbox)
        where = f"step {step.id}" + (f" variant {variant.id}" if variant else "")
        if source.subject is not None:
            subject = render(source.subject, context, what=f"{where} subject")
        elif history:
            subject = thread_subject(history[0].subject)
        else:
            raise TemplateProblem(f"{where}: a threaded email has no earlier email to reply to")
        text = render(source.body or "", context, what=f"{where} body")
        html = (
            render(source.html, context, html=True, what=f"{where} html") if source.html is not None else None
        )
        existing = work.sends.get(step.id)
        message_id = existing.message_id if existing else new_message_id(mailbox.from_)
        tracked = work.loaded.model.tracked()
        if html is not None and (tracked.opens or tracked.clicks):
            assert mailbox.tracking_url is not None and self.secret is not None  # see _link_problem
            html = track_html(
                html, base_url=mailbox.tracking_url, secret=self.secret, message_id=message_id,
                opens=tracked.opens, clicks=tracked.clicks,
            )  # fmt: skip
        attempt = existing.attempts + 1 if existing else 1
        raw = build(Outgoing(
            sender=mailbox.from_, recipient=work.contact.email, recipient_name=_display_name(work.contact),
            subject=subject, text=text, html=html, message_id=message_id, date=self.now,
            in_reply_to=history[-1].message_id if step.thread and history else None,
            references=tuple(m.message_id for m in history) if step.thread else (),
            reply_to=mailbox.reply_to, unsubscribe_url=self._unsubscribe_url(mailbox, message_id, work.contact.email),
            list_unsubscribe=work.loaded.model.list_unsubscribe or mailbox.list_unsubscribe,
        ))  # fmt: skip
        return PreparedSend(
            existing.id if existing else None, attempt, message_id, raw, subject,
            variant.id if variant else None, mailbox, step,
        )  # fmt: skip

    def _commit_intent(self, tx: Tx, work: Work, prepared: PreparedSend) -> int | None:
        """The send intent's row, or None when a suppression covers the recipient (checked in
        the statement that writes the intent)."""
        if prepared.row_id is not None:
            retried = sends.retry_send(
                tx, prepared.row_id, recipient=work.contact.email, raw=prepared.raw,
                subject=prepared.subject, now=self.now,
            )  # fmt: skip
            return prepared.row_id if retried else None
        return sends.begin_send(
            tx, enrollment_id=work.id, step_id=prepared.step.id, message_id=prepared.message_id,
            mailbox_key=prepared.mailbox.key, recipient=work.contact.email, subject=prepared.subject,
            variant=prepared.variant, raw=prepared.raw, now=self.now,
        )  # fmt: skip

    def _exit_suppressed(self, tx: Tx, work: Work) -> None:
        suppressed = activity.suppression_for(tx, work.contact.email)
        if suppressed is None:  # the earlier attempt's row was resolved meanwhile
            raise RuntimeError("the send's earlier attempt changed while this tick held it")
        value, why = suppressed
        self._exit(work, EXIT_FOR_SUPPRESSION.get(why, ExitReason.MANUAL), f"suppressed: {value} ({why})")

    def _limit(self, tx: Tx, mailbox: Mailbox) -> tuple[datetime, str] | None:
        """(until, why) when a send limit holds the mailbox now; checked under the mailbox's lock."""
        limits = mailbox.limits
        if limits.per_day is None and limits.per_hour is None and limits.min_gap is None:
            return None
        sends.lock_mailbox(tx, mailbox.key)
        mailbox_calendar = SendCalendar.build(mailbox.timezone or "UTC")
        usage = sends.usage(
            tx,
            mailbox.key,
            hour_start=self.now - timedelta(hours=1),
            day_start=day_start(mailbox_calendar, self.now),
        )
        held = held_until(
            limits, now=self.now, last_hour=usage.last_hour, since_day_start=usage.since_day_start,
            oldest_in_hour=usage.oldest_in_hour, latest=usage.latest, calendar=mailbox_calendar,
        )  # fmt: skip
        if held is None:
            return None
        until, why = held
        return until, f"mailbox {mailbox.key}: {why}"

    def _defer_by_limit(self, work: Work, until: datetime, why: str) -> None:
        self._defer(work, work.calendar.next_opening(until), "limit", why)

    def _settle(
        self, tx: Tx, work: Work, prepared: PreparedSend, row_id: int, result: SendResult, *, fenced: bool
    ) -> None:
        """Record what the server said. The message and its audit row are recorded even when
        the claim was lost meanwhile (the email is ours either way); moving the enrollment
        on is left to whoever holds it now."""
        outcome, step, mailbox = result.outcome, prepared.step, prepared.mailbox
        detail = {"subject": prepared.subject, "server": result.detail}
        audit = {"variant": prepared.variant, "message_id": prepared.message_id}
        if outcome is SendOutcome.SENT:
            sends.settle_send(tx, row_id, "sent", now=self.now, attempt=prepared.attempt)
            if self.mailbox_outages.pop(mailbox.key, None) is not None:
                catalog_store.clear_outage(tx, mailbox.key)
                self.mailbox_paused.pop(mailbox.key, None)
            self.report.sent += 1
            if not fenced:
                self._record_now(tx, work, step.id, "email", "sent", detail=detail, **audit)
                return
            self._record(work, step.id, "email", "sent", detail=detail, **audit)
            work.sends[step.id] = Message(
                row_id, work.id, step.id, prepared.message_id, mailbox.key, work.contact.email,
                prepared.subject, prepared.variant, "", "sent", work.attempts + 1, None, self.now, self.now,
            )  # fmt: skip
            self._advance(work, step.id)
            return
        if outcome is SendOutcome.UNKNOWN:
            sends.settle_send(
                tx, row_id, "unknown", now=self.now, error=result.detail, attempt=prepared.attempt
            )
            if fenced:
                self._hold_unknown(work, step.id, prepared.message_id, result.detail)
            else:
                self.report.unknown += 1
            return
        if outcome is SendOutcome.REJECTED:
            sends.settle_send(
                tx, row_id, "bounced", now=self.now, error=result.detail, attempt=prepared.attempt
            )
            activity.record_event(
                tx, contact_id=work.contact.id, type="bounced", detail="hard", occurred_at=self.now,
                now=self.now, message_id=prepared.message_id, source="smtp",
            )  # fmt: skip
            activity.suppress(tx, work.contact.email, "address", "bounced", self.now)
            if not fenced:
                self._record_now(tx, work, step.id, "email", "bounced", detail=detail, **audit)
                return
            self._record(work, step.id, "email", "bounced", detail=detail, **audit)
            self._exit(work, "bounced", result.detail)
            return
        # Certainly not sent: MAILBOX_DOWN, FAILED or TRANSIENT.
        status = {SendOutcome.MAILBOX_DOWN: "not_sent", SendOutcome.FAILED: "failed"}.get(outcome, "retry")
        sends.settle_send(tx, row_id, status, now=self.now, error=result.detail, attempt=prepared.attempt)
        if outcome is SendOutcome.MAILBOX_DOWN:
            until = self.mailbox_paused.get(mailbox.key)
            if until is None or until <= self.now:  # not already paused by an earlier send of this tick
                outages = catalog_store.record_outage(tx, mailbox.key, result.detail)
                until = self.now + mailbox_pause(outages)
                catalog_store.pause_mailbox(tx, mailbox.key, until)
                self.mailbox_paused[mailbox.key] = until
                self.mailbox_outages[mailbox.key] = outages
                self.report.errors.append(result.detail)
            if fenced:
                self._defer(work, until, "mailbox", result.detail)
            return
        if not fenced:
            return
        if outcome is SendOutcome.FAILED:
            self._fail(work, step.id, result.detail)
            return
        attempts = work.attempts + 1
        if attempts >= self.max_attempts:
            work.update(attempts=attempts)  # what `queue --failed` shows agrees with the message
            self._fail(work, step.id, f"gave up after {attempts} attempts: {result.detail}")
            return
        self._record(
            work, step.id, "email", "retry", detail={**detail, "attempt": attempts},
            message_id=prepared.message_id, error=result.detail,
        )  # fmt: skip
        work.update(
            attempts=attempts, waiting_on="retry", next_run_at=self.now + backoff(attempts, work.id),
            leased_until=None, last_error=result.detail,
        )  # fmt: skip
        work.counts["retried"] += 1

    def _template_context(self, work: Work, mailbox: Mailbox | None = None) -> dict[str, Any]:
        sequence = work.loaded.model
        return template_context(
            work.contact.email, work.contact.fields, sorted(work.contact.tags), sequence,
            owner=work.owner or work.contact.fields.get("owner") or sequence.owner, mailbox=mailbox,
        )  # fmt: skip

    def _unsubscribe_url(self, mailbox: Mailbox, message_id: str, email: str) -> str | None:
        """The mailbox's own one-click URL, else `seqctl serve`'s when it has a tracking_url."""
        if mailbox.unsubscribe_url is None:
            if mailbox.tracking_url is None or self.secret is None:
                return None
            return tracking_url(mailbox.tracking_url, self.secret, Token(UNSUBSCRIBE, message_id))
        return render(
            mailbox.unsubscribe_url,
            {"message_id": quote(message_id, safe=""), "email": quote(email, safe="")},
            what="unsubscribe_url",
        )

    # -- transitions (in memory; committed with the work's other writes) -------------------

    def _advance(self, work: Work, step_id: str, *, chosen: str | None = None) -> None:
        values = advance_values(
            work.loaded.model, work.calendar, step_id, self.now, chosen=chosen, keep_until=self.lease_until
        )
        work.update(**values)
        if values["status"] == "completed":
            self._record(work, step_id, "complete", "completed")
            work.counts["completed"] += 1
            work.state = STOPPED
            return
        # Due already: this tick runs it too.
        work.state = RUNNING if values["step_due_at"] <= self.now else STOPPED

    def _exit(self, work: Work, reason: str, detail: str) -> None:
        work.update(**enrollment_store.finished_values("exited", self.now, reason=reason, detail=detail))
        enrollment_id = work.id

        def close_tasks(tx: Tx) -> None:
            activity.close_tasks_of(tx, enrollment_id, "skipped", self.now)

        work.ops.append(close_tasks)
        self._record(work, work.current_step, "exit", "exited", detail={"reason": reason, "detail": detail})
        work.counts["exited"] += 1
        work.state = STOPPED

    def _defer(self, work: Work, until: datetime, waiting_on: str, why: str) -> None:
        work.update(
            next_run_at=until,
            waiting_on=waiting_on,
            leased_until=None,
            last_error=why if waiting_on in ("mailbox", "config") else None,
        )
        work.counts["deferred"] += 1
        work.state = STOPPED

    def _hold_unknown(self, work: Work, step_id: str, message_id: str, why: str) -> None:
        work.update(waiting_on="unknown_send", next_run_at=None, leased_until=None, last_error=why)
        self._record(work, step_id, "email", "unknown", message_id=message_id, error=why)
        work.counts["unknown"] += 1
        work.state = STOPPED

    def _fail(self, work: Work, step_id: str | None, error: str) -> None:
        work.update(status="failed", last_error=error, next_run_at=None, leased_until=None, waiting_on=None)
        self._record(work, step_id, "step", "failed", error=error)
        work.counts["failed"] += 1
        work.errors.append(f"enrollment {work.id}: {error}")
        work.state = STOPPED

    def _record(self, work: Work, step_id: str | None, kind: str, outcome: str, **extra: Any) -> None:
        work.executions.append(
            {
                "enrollment_id": work.id,
                "step_id": step_id,
                "kind": kind,
                "outcome": outcome,
                "at": self.now,
                **extra,
            }
        )

    def _record_now(self, tx: Tx, work: Work, step_id: str, kind: str, outcome: str, **extra: Any) -> None:
        activity.record_execution(
            tx, enrollment_id=work.id, step_id=step_id, kind=kind, outcome=outcome, at=self.now, **extra
        )


def _display_name(contact: ContactState) -> str:
    parts = [str(contact.fields.get(k, "")).strip() for k in ("first_name", "last_name")]
    return " ".join(p for p in parts if p) or str(contact.fields.get("name", ""))


def _link_problem(sequence: Sequence, mailbox: Mailbox, secret: str | None) -> str | None:
    """Why this sequence's emails cannot carry the signed links they need (tracking, or
    seqctl's one-click unsubscribe), or None. Such emails are held, not failed."""
    tracked = sequence.tracked()
    if (tracked.opens or tracked.clicks) and mailbox.tracking_url is None:
        return f"sequence {sequence.key} tracks opens or clicks but mailbox {mailbox.key} has no tracking_url"
    needs_secret = tracked.opens or tracked.clicks or (mailbox.tracking_url and mailbox.unsubscribe_url is None)
    if needs_secret and secret is None:
        return f"{settings.SECRET_VARIABLE} is not set: tracking and unsubscribe links cannot be signed"
    return None
