"""Interpreting the steps that send nothing (task, branch, action) and the in-memory
checks of an email step, for one work item at a time.

Each step runs in memory against the work item; an email that passes its checks is
marked SENDING and left to `sending.SendPipeline`, which needs the database.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from seqctl.delivery.transports import SendOutcome
from seqctl.engine.flow import condition_holds, exit_reason
from seqctl.errors import TemplateProblem
from seqctl.services.batch.context import Batch
from seqctl.services.batch.work import RUNNING, SENDING, STOPPED, Work
from seqctl.services.enrolling import start_enrollment
from seqctl.services.notifying import STEP
from seqctl.services.step_rules import notify_message, plan_task
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import ActionStep, BranchStep, EmailStep, TaskStep
from seqctl.states import (
    UNSETTLED_SENDS,
    EnrollmentStatus,
    ExitReason,
    SendStatus,
    SequenceStatus,
    WaitingReason,
)
from seqctl.store import sends
from seqctl.store.db import Tx
from seqctl.store.records import Message

# Steps one claim may run back to back (action → branch → email …) before yielding.
MAX_STEPS_PER_CLAIM = 25


class StepInterpreter:
    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def run(self, work: Work) -> None:
        """Run the work item's due steps until one waits, sends, ends it, or the cap."""
        try:
            while work.phase == RUNNING:
                if work.steps_run >= MAX_STEPS_PER_CLAIM:
                    work.phase = STOPPED  # its next_run_at is the lease's end: it goes on next tick
                    return
                work.steps_run += 1
                self._step(work)
        except Exception as exc:  # one bad enrollment must not stop the rest
            self.batch.fail_with(work, exc)

    def _step(self, work: Work) -> None:
        batch, model = self.batch, work.loaded.model
        reason = exit_reason(model.exit_on, work.facts)
        if reason is not None:
            batch.exit(work, reason, f"{reason} event")
            return
        # `pause SEQUENCE` and `archive` handle their enrollments at once; these catch any
        # that a later write (a task done, a resume, a return date) made due again.
        if work.loaded.record.status == SequenceStatus.ARCHIVED:
            batch.exit(work, ExitReason.ARCHIVED, f"sequence {model.key} archived")
            return
        if work.loaded.record.status == SequenceStatus.PAUSED:
            batch.hold_for_sequence(work)
            return
        if work.current_step not in model.step_ids():
            batch.fail(work, work.current_step, f"step {work.current_step!r} no longer exists in {model.key}")
            return
        if work.status == EnrollmentStatus.SCHEDULED:  # its start time has come
            work.update(status=EnrollmentStatus.ACTIVE)
        step = model.step(work.current_step)
        if isinstance(step, EmailStep):
            self._email(work, step)
        elif isinstance(step, TaskStep):
            self._task(work, step)
        elif isinstance(step, BranchStep):
            self._branch(work, step)
        else:
            assert isinstance(step, ActionStep)
            self._action(work, step)

    def _task(self, work: Work, step: TaskStep) -> None:
        batch, now = self.batch, self.batch.now
        existing = work.tasks.get(step.id)
        if existing is None:
            model = work.loaded.model
            plan = plan_task(
                step, batch.catalog, model, assigned=work.owner, contact_fields=work.contact.fields,
                context=batch.template_context(work, batch.catalog.mailbox_for(model)), at=now,
            )  # fmt: skip
            if plan.note is None:
                batch.fail(work, step.id, plan.problem or "the note could not be rendered")
                return
            owner = plan.owner
            work.new_tasks.append({
                "enrollment_id": work.id, "step_id": step.id, "kind": plan.kind, "note": plan.note,
                "owner": owner, "due_at": plan.due_at, "created_at": now,
            })  # fmt: skip
            batch.record(work, step.id, "task", "created", detail={"kind": step.kind, "owner": owner})
            batch.notify(work, "task_due", step=step.id, kind=plan.kind, note=plan.note, owner=owner,
                         due_at=plan.due_at.isoformat())  # fmt: skip
            work.counts["tasks"] += 1
            auto = work.calendar.add_wait(now, step.auto_complete) if step.auto_complete else None
            work.update(status=EnrollmentStatus.ACTIVE, waiting_on=WaitingReason.TASK, next_run_at=auto, leased_until=None, last_ran_at=now)
            work.phase = STOPPED
            return
        if existing.status == "open":  # claimed because auto_complete elapsed
            work.closed_tasks.append((existing.id, "auto", "auto-completed"))
            batch.record(work, step.id, "task", "auto_completed", detail={"task": existing.id})
        batch.advance(work, step.id)

    def _branch(self, work: Work, step: BranchStep) -> None:
        sent_at = {step_id: m.sent_at for step_id, m in work.sends.items() if m.sent_at}
        holds = condition_holds(step.if_, work.facts, sent_at, self.batch.now)
        chosen = step.then if holds else step.else_
        self.batch.record(
            work, step.id, "branch", "then" if holds else "else",
            detail={"next": chosen, "condition": step.if_.model_dump(by_alias=True, mode="json", exclude_none=True)},
        )  # fmt: skip
        work.counts["branched"] += 1
        self.batch.advance(work, step.id, chosen=chosen)

    def _action(self, work: Work, step: ActionStep) -> None:
        batch, contact = self.batch, work.contact
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
                new_id, why = start_enrollment(tx, batch.catalog, target, record, start_at=batch.now, now=batch.now)
                done["enroll"] = {"sequence": target, "enrollment": new_id, "skipped": why or None}

            work.ops.append(enroll)
        if step.notify is not None:
            try:
                message = notify_message(step, batch.template_context(work))
            except TemplateProblem as exc:
                batch.fail(work, step.id, str(exc))
                return
            batch.notify(work, STEP, target=step.notify, step=step.id, message=message)
            done["notify"] = step.notify
        work.counts["actions"] += 1
        batch.record(work, step.id, "action", "done", detail=done)
        if step.exit is not None:
            batch.exit(work, ExitReason.ACTION, step.exit)
            return
        batch.advance(work, step.id, chosen=step.goto)

    def _email(self, work: Work, step: EmailStep) -> None:
        """What can be decided without the database; the rest happens in the send pipeline."""
        batch = self.batch
        existing = work.sends.get(step.id)
        if existing is not None and existing.status == SendStatus.SENT:
            batch.advance(work, step.id)
            return
        mailbox = batch.catalog.mailbox_for(work.loaded.model)
        if existing is not None and existing.status == SendStatus.SENDING and mailbox is not None:
            # A tick died between committing this intent and recording the outcome.
            existing = self._recover(work, existing, mailbox)
            if existing.status == SendStatus.SENT:
                batch.advance(work, step.id)
                return
        if existing is not None and existing.status in UNSETTLED_SENDS:
            row_id, now = existing.id, batch.now

            def settle_unknown(tx: Tx) -> None:
                sends.settle_send(
                    tx, row_id, SendStatus.UNKNOWN, now=now, error="the tick sending it stopped before recording the outcome"
                )

            work.ops.append(settle_unknown)
            batch.hold_unknown(work, step.id, existing.message_id, "previous tick stopped mid-send")
            return
        if existing is not None and existing.status == SendStatus.BOUNCED:
            batch.exit(work, ExitReason.BOUNCED, "recipient refused")
            return
        if mailbox is None:
            batch.fail(work, step.id, f"mailbox {work.loaded.model.mailbox!r} is not imported")
            return
        if work.calendar.next_opening(batch.now) > batch.now:
            # Due while its window is closed (a limit or a paused mailbox held it past the
            # window's end, a retry's backoff ended at night): it goes when the window opens.
            batch.wait_for_window(work, work.calendar.due_at(batch.now, None, None, windowed=True))
            return
        work.email_step = step
        work.phase = SENDING

    def _recover(self, work: Work, existing: Message, mailbox: Mailbox) -> Message:
        """What the transport can tell of an intent left without an outcome: sent, certainly
        not sent (then this claim sends it again), or nothing (it stays `sending` and is
        held as unknown)."""
        batch = self.batch
        found = batch.pool.get(mailbox).recover(existing.message_id, existing.attempts)
        if found is None:
            return existing
        row_id, attempt, sent, now = existing.id, existing.attempts, found is SendOutcome.SENT, batch.now

        def settle(tx: Tx) -> None:
            sends.settle_send(
                tx, row_id, SendStatus.SENT if sent else SendStatus.NOT_SENT, now=now, attempt=attempt,
                error=None if sent else "the tick sending it stopped before delivering it",
            )  # fmt: skip

        work.ops.append(settle)
        if not sent:
            return replace(existing, status=SendStatus.NOT_SENT)
        batch.record(
            work, existing.step_id, "email", "sent", message_id=existing.message_id,
            detail={"subject": existing.subject, "server": "found delivered after the sending tick stopped"},
        )  # fmt: skip
        batch.report.sent += 1
        work.sends[existing.step_id] = recovered = replace(existing, status=SendStatus.SENT, sent_at=now)
        return recovered
