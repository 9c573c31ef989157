"""What every scheduled run does around its work (SPEC §8): health pings at the start,
on success and on failure (`SEQCTL_HEALTHCHECK_URL`, Healthchecks.io's convention), the
notification outbox delivered after the work committed (within a short budget), and the
metrics file written (`--metrics-file` / `SEQCTL_METRICS_FILE`). A tick that fails some
enrollments still exits 0; these are how an operator hears of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from seqctl.real_time import real_clock
from seqctl.services.tick_report import DeliveryReport, Outcome
from seqctl.store.claims import notifications_due
from seqctl.store.db import Database

Result = TypeVar("Result")
HEALTHCHECK_VARIABLE = "SEQCTL_HEALTHCHECK_URL"
# A command's own run gives delivery this long; `notify deliver` and the worker more.
AFTER_COMMAND_BUDGET_S = 3.0
METRICS_VARIABLE = "SEQCTL_METRICS_FILE"


def metrics_path(option: str | None) -> str | None:
    return option or os.environ.get(METRICS_VARIABLE) or None


def observed(
    db: Database, job: str, work: Callable[[], Result], judge: Callable[[Result], Outcome], *, now: datetime,
    metrics_file: str | None = None, deliver_budget_s: float = AFTER_COMMAND_BUDGET_S, ping: bool = True,
    write_metrics: bool = True,
) -> tuple[Result, DeliveryReport]:  # fmt: skip
    """Run `work` with its pings, then deliver notifications and write the metrics. With
    `ping` False (a worker's cycle in between its once-a-minute pings) only a failure pings;
    with `write_metrics` False (a worker's cycle between its metrics writes) the file waits."""
    url = (os.environ.get(HEALTHCHECK_VARIABLE) or "").rstrip("/")
    if url and ping:
        _ping(f"{url}/start")
    try:
        result = work()
    except Exception as exc:
        if url:
            _ping(f"{url}/fail", f"{job}: {type(exc).__name__}: {exc}".splitlines()[0])
        if write_metrics:
            _write_metrics(db, job, metrics_file, now, ok=False)
        raise
    delivered = deliver_due(db, now=now, budget_s=deliver_budget_s)
    outcome = judge(result)
    if write_metrics:
        _write_metrics(db, job, metrics_file, now, ok=outcome.ok)
    if url and (ping or not outcome.ok):
        _ping(url if outcome.ok else f"{url}/fail", f"{job}: {outcome.line}")
    return result, delivered


def deliver_due(db: Database, *, now: datetime, budget_s: float = AFTER_COMMAND_BUDGET_S) -> DeliveryReport:
    """The notifications that are due, delivered within `budget_s`; a run with none to
    deliver asks one cheap question and imports nothing more."""
    with db.read() as tx:
        if not notifications_due(tx, now):
            return DeliveryReport()
    from seqctl.services.notify_delivery import deliver

    return deliver(db, now=now, budget_s=budget_s)


def _ping(url: str, body: str = "") -> None:
    from seqctl.notify import http  # requests: imported only by a run that pings

    http.ping(url, body)


def _write_metrics(db: Database, job: str, path: str | None, now: datetime, *, ok: bool) -> None:
    path = metrics_path(path)
    if path is None:
        return
    from seqctl import metrics  # prometheus_client: imported only by a run that writes the file
    from seqctl.store import metrics as metric_store

    with db.read() as tx:
        snapshot = metric_store.snapshot(tx, now)
    metrics.write(path, snapshot, job=job, succeeded_at=real_clock() if ok else None)
