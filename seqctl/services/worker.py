"""`seqctl worker`: ticks, inbox syncs and notification delivery in one long-running
process (SPEC §8), with every guarantee of a cron tick — it claims and fences exactly as
ticks do, so any number of workers and cron ticks may run at once.

Each cycle reads the clock, ticks, delivers notifications, syncs when `sync_every` has
passed, writes the metrics file, then sleeps until the next enrollment falls due (at
most `tick_every`): an email due in the middle of a minute goes out within a moment, not
at the next minute. A stop request (SIGTERM, SIGINT) is honoured between batches: the
batch in hand finishes, nothing is left half-done, and the worker returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from seqctl.errors import InvalidInput
from seqctl.services.runs import observed
from seqctl.store.claims import next_due_at
from seqctl.store.db import Database

SHORTEST_SLEEP = timedelta(milliseconds=200)  # a due time just passed: tick again, but never spin
WORKER_BUDGET_S = 5.0  # notification delivery per cycle
PING_EVERY = timedelta(minutes=1)  # health pings at most this often while all is well
# The metrics file at most this often: its counts scan the enrollments, and scrapers read
# it every 15 s or more anyway.
METRICS_EVERY = timedelta(seconds=15)


@dataclass
class WorkerTotals:
    cycles: int = 0
    sent: int = 0
    syncs: int = 0
    failed_cycles: int = 0


class Worker:
    def __init__(
        self, db: Database, *, tick_every: timedelta, sync_every: timedelta | None, metrics_file: str | None,
        clock: Callable[[], datetime], stop: threading.Event, lease: timedelta = timedelta(seconds=60),
    ) -> None:  # fmt: skip
        self.db, self.tick_every, self.sync_every, self.metrics_file = db, tick_every, sync_every, metrics_file
        self.clock, self.stop, self.lease = clock, stop, lease
        self.totals = WorkerTotals()
        self._next_sync: datetime | None = None
        self._last_ping: datetime | None = None
        self._last_metrics: datetime | None = None

    def run(self) -> WorkerTotals:
        while not self.stop.is_set():
            self.cycle()
            try:
                wait = self._sleep()
            except Exception:  # the database is unreachable: try again in a while
                wait = self.tick_every
            self.stop.wait(wait.total_seconds())
        return self.totals

    def cycle(self) -> None:
        from seqctl.services.tick import Tick
        from seqctl.services.tick_report import TickReport

        now = self.clock()
        tick = Tick(self.db, now=now, lease=self.lease, should_stop=self.stop.is_set)
        ping = self._last_ping is None or now - self._last_ping >= PING_EVERY
        metrics = self._last_metrics is None or now - self._last_metrics >= METRICS_EVERY
        try:
            report, _ = observed(
                self.db, "worker", tick.run, TickReport.outcome, now=now,
                metrics_file=self.metrics_file, write_metrics=metrics, deliver_budget_s=WORKER_BUDGET_S, ping=ping,
            )  # fmt: skip
        except Exception:  # a database outage, say: the next cycle tries again (a cron tick would too)
            self.totals.failed_cycles += 1
            return
        finally:
            self.totals.cycles += 1
        if ping or not report.outcome().ok:
            self._last_ping = now
        if metrics:
            self._last_metrics = now
        self.totals.sent += report.sent
        if self.sync_every is not None and not self.stop.is_set() and (self._next_sync is None or now >= self._next_sync):
            self._next_sync = now + self.sync_every
            self._sync(now)

    def _sync(self, now: datetime) -> None:
        from seqctl.services.inbox import SyncReport, sync_imap

        def sync() -> SyncReport:
            try:
                return sync_imap(self.db, mailbox_key=None, now=now)
            except InvalidInput:  # no mailbox has imap: nothing to read, now or later
                self.sync_every = None
                return SyncReport()

        try:
            observed(self.db, "inbox_sync", sync, SyncReport.outcome, now=now, metrics_file=self.metrics_file,
                     deliver_budget_s=WORKER_BUDGET_S)  # fmt: skip
        except Exception:
            self.totals.failed_cycles += 1
            return
        if self.sync_every is not None:
            self.totals.syncs += 1

    def _sleep(self) -> timedelta:
        """Until the next enrollment falls due, at least SHORTEST_SLEEP, at most tick_every."""
        with self.db.read() as tx:
            due = next_due_at(tx)
        now = self.clock()
        wait = self.tick_every if due is None else min(max(due - now, SHORTEST_SLEEP), self.tick_every)
        if self._next_sync is not None and self.sync_every is not None:
            wait = min(wait, max(self._next_sync - now, SHORTEST_SLEEP))
        return wait
