"""Recording what the server said about each delivered email.

Outcomes are committed with the next intents, in one transaction instead of two (a kill
in between leaves them without an outcome, which the step interpreter's recovery deals
with), or by `flush` when nothing follows. The message and its audit row are recorded even
when the claim was lost meanwhile (the email is ours either way); moving the enrollment on
is left to whoever holds it now (`fenced=False`).
"""

from __future__ import annotations

from seqctl.delivery.transports import SendOutcome
from seqctl.engine.retry import backoff, mailbox_pause
from seqctl.services.batch.commit import Commits
from seqctl.services.batch.context import Batch
from seqctl.services.batch.work import Delivery, Work
from seqctl.states import BounceKind, EventType, ExitReason, SendStatus
from seqctl.store import activity, sends
from seqctl.store import catalog as catalog_store
from seqctl.store.db import Tx
from seqctl.store.records import Message


class Settlement:
    def __init__(self, batch: Batch, commits: Commits) -> None:
        self.batch = batch
        self.commits = commits
        self.pending: list[Delivery] = []  # delivered, outcome not committed yet

    def involving(self, works: list[Work]) -> list[Work]:
        """The works a transaction must fence: those with a pending outcome, then `works`."""
        return [delivery.work for delivery in self.pending] + works

    def record_pending(self, tx: Tx, held: list[Work]) -> None:
        deliveries, self.pending = self.pending, []
        for delivery in deliveries:
            self._record(tx, delivery, fenced=delivery.work in held)

    def flush(self) -> None:
        """Commit the pending outcomes now (nothing else is about to be committed)."""
        if self.pending:
            with self.commits.fenced(self.involving([])) as (tx, held):
                self.record_pending(tx, held)

    def _record(self, tx: Tx, delivery: Delivery, *, fenced: bool) -> None:
        outcome = delivery.result.outcome
        if outcome is SendOutcome.SENT:
            self._sent(tx, delivery, fenced=fenced)
        elif outcome is SendOutcome.UNKNOWN:
            self._unknown(tx, delivery, fenced=fenced)
        elif outcome is SendOutcome.REJECTED:
            self._bounced(tx, delivery, fenced=fenced)
        else:  # certainly not sent: MAILBOX_DOWN, FAILED or TRANSIENT
            self._not_sent(tx, delivery, fenced=fenced)

    def _audit(self, delivery: Delivery) -> dict[str, object]:
        prepared = delivery.prepared
        return {
            "detail": {"subject": prepared.subject, "server": delivery.result.detail},
            "variant": prepared.variant, "message_id": prepared.message_id,
        }  # fmt: skip

    def _sent(self, tx: Tx, delivery: Delivery, *, fenced: bool) -> None:
        batch, work, prepared, now = self.batch, delivery.work, delivery.prepared, self.batch.now
        mailbox, step = prepared.mailbox, prepared.step
        sends.settle_send(tx, delivery.row_id, SendStatus.SENT, now=now, attempt=prepared.attempt)
        if batch.mailbox_outages.pop(mailbox.key, None) is not None:
            catalog_store.clear_outage(tx, mailbox.key)
            batch.mailbox_paused.pop(mailbox.key, None)
        batch.report.sent += 1
        if not fenced:
            batch.record_now(tx, work, step.id, "email", "sent", **self._audit(delivery))
            return
        batch.record(work, step.id, "email", "sent", **self._audit(delivery))
        work.sends[step.id] = Message(
            delivery.row_id, work.id, step.id, prepared.message_id, mailbox.key, work.contact.email,
            prepared.subject, prepared.variant, "", "sent", work.attempts + 1, None, now, now,
        )  # fmt: skip
        batch.advance(work, step.id)

    def _unknown(self, tx: Tx, delivery: Delivery, *, fenced: bool) -> None:
        prepared, detail = delivery.prepared, delivery.result.detail
        sends.settle_send(tx, delivery.row_id, SendStatus.UNKNOWN, now=self.batch.now, error=detail, attempt=prepared.attempt)
        if fenced:
            self.batch.hold_unknown(delivery.work, prepared.step.id, prepared.message_id, detail)
        else:
            self.batch.report.unknown += 1

    def _bounced(self, tx: Tx, delivery: Delivery, *, fenced: bool) -> None:
        batch, work, prepared, now = self.batch, delivery.work, delivery.prepared, self.batch.now
        detail = delivery.result.detail
        sends.settle_send(tx, delivery.row_id, SendStatus.BOUNCED, now=now, error=detail, attempt=prepared.attempt)
        activity.record_event(
            tx, contact_id=work.contact.id, type=EventType.BOUNCED, detail=BounceKind.HARD, occurred_at=now,
            now=now, message_id=prepared.message_id, source="smtp",
        )  # fmt: skip
        activity.suppress(tx, work.contact.email, "address", EventType.BOUNCED, now)
        if not fenced:
            batch.record_now(tx, work, prepared.step.id, "email", "bounced", **self._audit(delivery))
            return
        batch.record(work, prepared.step.id, "email", "bounced", **self._audit(delivery))
        batch.exit(work, ExitReason.BOUNCED, detail)

    def _not_sent(self, tx: Tx, delivery: Delivery, *, fenced: bool) -> None:
        batch, work, prepared, now = self.batch, delivery.work, delivery.prepared, self.batch.now
        outcome, detail, mailbox = delivery.result.outcome, delivery.result.detail, prepared.mailbox
        status = {SendOutcome.MAILBOX_DOWN: SendStatus.NOT_SENT, SendOutcome.MAILBOX_HELD: SendStatus.NOT_SENT, SendOutcome.FAILED: SendStatus.FAILED}.get(outcome, SendStatus.RETRY)
        sends.settle_send(tx, delivery.row_id, status, now=now, error=detail, attempt=prepared.attempt)
        if outcome is SendOutcome.MAILBOX_HELD:
            batch.hold_mailbox(tx, mailbox.key, detail)
            if fenced:
                batch.defer_for_hold(work, mailbox.key)
            return
        if outcome is SendOutcome.MAILBOX_DOWN:
            until = batch.mailbox_paused.get(mailbox.key)
            if until is None or until <= now:  # not already paused by an earlier send of this tick
                outages = catalog_store.record_outage(tx, mailbox.key, detail)
                until = now + mailbox_pause(outages)
                catalog_store.pause_mailbox(tx, mailbox.key, until)
                batch.mailbox_paused[mailbox.key] = until
                batch.mailbox_outages[mailbox.key] = outages
                batch.report.errors.append(detail)
            if fenced:
                batch.defer(work, until, "mailbox", detail)
            return
        if not fenced:
            return
        if outcome is SendOutcome.FAILED:
            batch.fail(work, prepared.step.id, detail)
            return
        attempts = work.attempts + 1
        if attempts >= batch.max_attempts:
            work.update(attempts=attempts)  # what `queue --failed` shows agrees with the message
            batch.fail(work, prepared.step.id, f"gave up after {attempts} attempts: {detail}")
            return
        batch.record(
            work, prepared.step.id, "email", "retry",
            detail={"subject": prepared.subject, "server": detail, "attempt": attempts},
            message_id=prepared.message_id, error=detail,
        )  # fmt: skip
        work.update(
            attempts=attempts, waiting_on="retry", next_run_at=now + backoff(attempts, work.id),
            leased_until=None, last_error=detail,
        )  # fmt: skip
        work.counts["retried"] += 1
