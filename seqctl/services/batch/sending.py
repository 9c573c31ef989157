"""The send pipeline: emails that passed the in-memory checks are checked again against
what may have changed (mailbox holds, limits, links), composed, staged with the
transport, committed as intents in one durable transaction with the fence, the mailbox's
limits and the suppression list, delivered, and handed to the settlement.

A transport that can always tell what became of a message (the Maildir outbox) takes up
to `in_flight` intents per transaction; SMTP takes one, so that at most one email is ever
of unknown outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from seqctl.delivery.message import split_address
from seqctl.delivery.transports import SendOutcome, SendResult
from seqctl.errors import TemplateProblem
from seqctl.services.batch.commit import Commits
from seqctl.services.batch.compose import compose, link_problem
from seqctl.services.batch.context import Batch
from seqctl.services.batch.settlement import Settlement
from seqctl.services.batch.work import SENDING, STOPPED, Delivery, PreparedSend, Work
from seqctl.services.mailboxes import limit_state
from seqctl.spec.mailboxes import Mailbox
from seqctl.states import EXIT_FOR_SUPPRESSION, ExitReason
from seqctl.store import activity, sends
from seqctl.store.db import DatabaseUnavailable, Tx

# How soon an email held by missing configuration (SEQCTL_SECRET) is looked at again.
CONFIG_RECHECK = timedelta(minutes=5)

Intent = tuple[Work, PreparedSend, int]  # a committed intent: the work, its message, the send row


class SendPipeline:
    def __init__(self, batch: Batch, commits: Commits, settlement: Settlement) -> None:
        self.batch = batch
        self.commits = commits
        self.settlement = settlement

    def send(self, sending: list[Work]) -> None:
        """Every SENDING work item's email, group by group, then every outcome committed."""
        for group in self._groups(sending):
            self._send_group(group)
        self.settlement.flush()

    def _groups(self, sending: list[Work]) -> Iterator[list[Work]]:
        """Consecutive emails whose transports allow that many intents in flight at once."""
        group: list[Work] = []
        room = 0
        for work in sending:
            mailbox = self.batch.catalog.mailbox_for(work.loaded.model)
            assert mailbox is not None  # checked before it was marked SENDING
            allowed = self.batch.pool.get(mailbox).in_flight
            if group and len(group) < min(room, allowed):
                group.append(work)
                room = min(room, allowed)
                continue
            if group:
                yield group
            group, room = [work], allowed
        if group:
            yield group

    def _send_group(self, group: list[Work]) -> None:
        try:
            ready = [(work, prepared) for work in group if (prepared := self._prepare(work))]
            intents = self._commit_intents(ready) if ready else []
        except DatabaseUnavailable:
            raise
        except Exception as exc:  # nothing of the group was committed
            if len(group) == 1:
                self._fail_alone(group, exc)
                return
            for work in group:  # find the one at fault: each on its own
                work.forget_writes()
                work.phase = SENDING
            for work in group:
                self._send_group([work])
            return
        try:
            self._deliver(intents)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            self._fail_alone([work for work, _, _ in intents], exc)

    def _fail_alone(self, works: list[Work], exc: Exception) -> None:
        for work in works:
            work.forget_writes()
            self.batch.fail_with(work, exc)
            self.commits.commit_alone(work)

    def _prepare(self, work: Work) -> PreparedSend | None:
        """The email composed, or None when it cannot go now (its writes say why)."""
        batch, now = self.batch, self.batch.now
        step = work.email_step
        mailbox = batch.catalog.mailbox_for(work.loaded.model)
        assert step is not None and mailbox is not None
        work.phase = STOPPED  # unless the outcome moves it on
        # Checked here rather than with the other checks: an earlier email of this batch
        # may have found the mailbox down or at its limit.
        if mailbox.key in batch.mailbox_hold_reasons:
            batch.defer_for_hold(work, mailbox.key)
            return None
        paused_until = batch.mailbox_paused.get(mailbox.key)
        if paused_until is not None and paused_until > now:
            batch.defer(work, paused_until, "mailbox", f"mailbox {mailbox.key} paused")
            return None  # committed with the batch's next writes
        held = batch.held_mailboxes.get(mailbox.key)
        if held is not None:
            batch.defer_by_limit(work, *held)
            return None
        if problem := link_problem(work.loaded.model, mailbox, batch.secret):
            if problem not in batch.report.errors:
                batch.report.errors.append(problem)
            batch.defer(work, now + CONFIG_RECHECK, "config", problem)
            return None
        if not work.contact.email.isascii():  # stored before addresses were checked for it
            batch.fail(work, step.id, f"{work.contact.email}: a non-ASCII local part needs SMTPUTF8, "
                                      "which seqctl does not send")  # fmt: skip
            return None
        try:
            return compose(batch, work, step, mailbox)
        except TemplateProblem as exc:
            batch.fail(work, step.id, str(exc))
            return None

    def _commit_intents(self, ready: list[tuple[Work, PreparedSend]]) -> list[Intent]:
        """One durable transaction: the previous outcomes, then each intent that passes the
        fence, the mailbox's limits and the suppression list."""
        pool = self.batch.pool
        intents: list[Intent] = []
        committed = False
        try:
            # Staged only once the whole group is prepared: a group that fails half-way
            # through preparing leaves no file behind for a Message-ID no row holds.
            for _, prepared in ready:
                pool.get(prepared.mailbox).stage(prepared.message_id, prepared.attempt, prepared.raw)
            works = self.settlement.involving([work for work, _ in ready])
            with self.commits.fenced(works, durable=True) as (tx, held):
                self.settlement.record_pending(tx, held)
                for work, prepared in ready:
                    if work in held and (row_id := self._commit_intent(tx, work, prepared)) is not None:
                        intents.append((work, prepared, row_id))
            committed = True
        finally:  # a staged message without a committed intent must never be delivered
            kept = {id(prepared) for _, prepared, _ in intents} if committed else set()
            for _, prepared in ready:
                if id(prepared) not in kept:
                    pool.get(prepared.mailbox).discard(prepared.message_id, prepared.attempt)
        return intents

    def _commit_intent(self, tx: Tx, work: Work, prepared: PreparedSend) -> int | None:
        """The send row of this intent, or None when a limit holds the mailbox or a
        suppression covers the recipient (then the work item is deferred or exits)."""
        batch, mailbox = self.batch, prepared.mailbox
        limited = batch.held_mailboxes.get(mailbox.key) or self._limit(tx, mailbox)
        if limited is not None:
            batch.held_mailboxes[mailbox.key] = limited
            batch.defer_by_limit(work, *limited)
            return None
        row_id = self._write_intent(tx, work, prepared)
        if row_id is None:  # refused: the recipient is suppressed
            self._exit_suppressed(tx, work)
        return row_id

    def _write_intent(self, tx: Tx, work: Work, prepared: PreparedSend) -> int | None:
        """The send intent's row, or None when a suppression covers the recipient (checked in
        the statement that writes the intent)."""
        now = self.batch.now
        if prepared.row_id is not None:
            retried = sends.retry_send(
                tx, prepared.row_id, recipient=work.contact.email, raw=prepared.raw,
                subject=prepared.subject, now=now, erasure_key=self.batch.secret,
            )  # fmt: skip
            return prepared.row_id if retried else None
        return sends.begin_send(
            tx, enrollment_id=work.id, step_id=prepared.step.id, message_id=prepared.message_id,
            mailbox_key=prepared.mailbox.key, recipient=work.contact.email, subject=prepared.subject,
            variant=prepared.variant, raw=prepared.raw, now=now, erasure_key=self.batch.secret,
        )  # fmt: skip

    def _exit_suppressed(self, tx: Tx, work: Work) -> None:
        suppressed = activity.suppression_for(tx, work.contact.email, self.batch.secret)
        if suppressed is None:  # the earlier attempt's row was resolved meanwhile
            raise RuntimeError("the send's earlier attempt changed while this tick held it")
        value, why = suppressed
        self.batch.exit(work, EXIT_FOR_SUPPRESSION.get(why, ExitReason.MANUAL), f"suppressed: {value} ({why})")

    def _limit(self, tx: Tx, mailbox: Mailbox) -> tuple[datetime, str] | None:
        """(until, why) when a send limit holds the mailbox now; checked under the mailbox's lock."""
        limits = mailbox.limits
        if limits.per_day is None and limits.per_hour is None and limits.min_gap is None:
            return None
        sends.lock_mailbox(tx, mailbox.key)
        return limit_state(tx, mailbox, self.batch.now)[1]

    def _deliver(self, intents: list[Intent]) -> None:
        batch = self.batch
        for work, prepared, row_id in intents:
            mailbox = prepared.mailbox
            transport = batch.pool.get(mailbox)
            paused_until = batch.mailbox_paused.get(mailbox.key)
            if mailbox.key in batch.mailbox_hold_reasons:  # an earlier send of the group found it held
                transport.discard(prepared.message_id, prepared.attempt)
                result = SendResult(SendOutcome.MAILBOX_HELD, batch.mailbox_hold_reasons[mailbox.key])
            elif paused_until is not None and paused_until > batch.now:  # an earlier send of the group found it down
                transport.discard(prepared.message_id, prepared.attempt)
                result = SendResult(SendOutcome.MAILBOX_DOWN, f"mailbox {mailbox.key} paused")
            else:
                result = transport.send(
                    split_address(mailbox.from_)[1], work.contact.email, prepared.raw,
                    message_id=prepared.message_id, attempt=prepared.attempt,
                )  # fmt: skip
            self.settlement.pending.append(Delivery(work, prepared, row_id, result))
            if result.outcome is not SendOutcome.SENT:  # what comes next may depend on it (a mailbox down)
                self.settlement.flush()
