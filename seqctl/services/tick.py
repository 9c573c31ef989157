"""`seqctl tick`: one idempotent pass over everything due.

The tick claims due enrollments in batches (each claim is a lease with a fencing token,
see `store/claims.py`) and hands each batch to `batch.runner.BatchRunner`. The runner, with
the sequences, templates and transports it needs, is imported only when a claim comes
back: cron's every-minute tick with nothing due stays a few cheap imports and one query.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from seqctl import settings
from seqctl.services.tick_report import TickReport
from seqctl.store.claims import Steps, any_due, claim_due, defer_due, hold_reasons
from seqctl.store.db import Database

if TYPE_CHECKING:
    from seqctl.delivery.pool import TransportPool
    from seqctl.services.batch.runner import BatchRunner

DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_BATCH = 200


class Tick:
    def __init__(
        self,
        db: Database,
        *,
        now: datetime,
        pool: TransportPool | None = None,
        lease: timedelta = DEFAULT_LEASE,
        batch_size: int = DEFAULT_BATCH,
        max_attempts: int | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.db = db
        self.should_stop = should_stop  # asked between batches: a stopping worker ends after the batch in hand
        self.now = now
        self.lease_until = now + lease
        self.pool = pool
        self.batch_size = batch_size
        self.max_attempts = max_attempts or settings.max_attempts()
        self.report = TickReport(now=now)

    def preview(self, limit: int | None) -> TickReport:
        """What is due, without claiming or changing anything (`--dry-run`)."""
        from seqctl.services.catalog import Catalog
        from seqctl.store import enrollments as enrollment_store

        catalog = Catalog.load(self.db)
        with self.db.read() as tx:
            due = enrollment_store.peek_due(tx, now=self.now, limit=limit or 1000)
        for e in due:
            step = catalog.by_id[e.sequence_id].model.step(e.current_step) if e.current_step else None
            self.report.due.append({
                "id": e.id, "sequence": e.sequence_key, "email": e.email, "step": e.current_step,
                "type": step.type if step else None, "due": e.step_due_at.isoformat() if e.step_due_at else None,
            })  # fmt: skip
        return self.report

    def run(self, limit: int | None = None) -> TickReport:
        with self.db.holding():
            return self._run(limit)

    def _run(self, limit: int | None) -> TickReport:
        with self.db.read() as tx:
            self.report.paused_mailboxes = hold_reasons(tx)
            if not any_due(tx, now=self.now):
                return self.report
        from seqctl.services.batch.runner import BatchRunner

        runner = BatchRunner(
            self.db, now=self.now, lease_until=self.lease_until, pool=self.pool,
            max_attempts=self.max_attempts, report=self.report,
        )  # fmt: skip
        try:
            plan = runner.claim_plan()
            for steps, until, why in plan.deferred:
                with self.db.write() as tx:
                    self.report.deferred += defer_due(tx, steps, now=self.now, until=until, why=why)
            remaining = self._claim_and_run(runner, limit, skip=plan.held + [pair for steps, _ in plan.limited for pair in steps])
            for steps, room in plan.limited:  # a mailbox's emails, no more than it may send
                if remaining is not None:
                    room = min(room, remaining)
                remaining = self._claim_and_run(runner, remaining, only=steps, at_most=room)
        finally:
            runner.close()
        return self.report

    def _claim_and_run(
        self,
        runner: BatchRunner,
        remaining: int | None,
        *,
        skip: Steps | None = None,
        only: Steps | None = None,
        at_most: int | None = None,
    ) -> int | None:
        """Claim batch after batch and run each, until nothing is due (or `remaining`, or
        `at_most` claims); returns what remains of `remaining`."""
        while (remaining is None or remaining > 0) and not self.should_stop():
            size = self.batch_size if remaining is None else min(self.batch_size, remaining)
            if at_most is not None:
                if at_most <= 0:
                    break
                size = min(size, at_most)
            # A lost claim (power loss before the WAL reached the disk) only means the
            # work falls due again: claims need no fsync.
            with self.db.write(durable=False) as tx:
                claims = claim_due(tx, now=self.now, limit=size, lease_until=self.lease_until, skip=skip, only=only)
            if not claims:
                break
            self.report.claimed += len(claims)
            if remaining is not None:
                remaining -= len(claims)
            if at_most is not None:
                at_most -= len(claims)
            runner.run(claims)
        return remaining
