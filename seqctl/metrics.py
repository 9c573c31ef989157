"""The metrics file (SPEC §8): Prometheus text format, written atomically (a temporary
file renamed over the old one, by `prometheus_client.write_to_textfile`) for
node_exporter's textfile collector. Pure apart from the file: a snapshot of counts in,
the file out.

`seqctl_last_success_timestamp_seconds{job}` is kept per job across writers: the file's
earlier values for the other jobs (a tick and an inbox sync may share one file) are
carried over.
"""

from __future__ import annotations

import os
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from seqctl.states import NotificationStatus
from seqctl.store.metrics import Snapshot

LAST_SUCCESS = "seqctl_last_success_timestamp_seconds"


def _earlier_successes(path: str) -> dict[str, float]:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return {}
    found: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS and "job" in sample.labels:
                    found[sample.labels["job"]] = sample.value
    except ValueError:  # not ours, or damaged: start afresh
        return {}
    return found


def write(path: str, snapshot: Snapshot, *, job: str, succeeded_at: datetime | None) -> None:
    """Write the metrics file; `succeeded_at` (None when this run failed) becomes the
    job's last success."""
    disable_created_metrics()  # `_created` series mean nothing for counts read from the database
    registry = CollectorRegistry()
    last = Gauge(LAST_SUCCESS, "When each seqctl job last ran without errors (Unix time).", ["job"], registry=registry)
    successes = _earlier_successes(path)
    if succeeded_at is not None:
        successes[job] = succeeded_at.timestamp()
    for name, value in sorted(successes.items()):
        last.labels(job=name).set(value)
    sent = Counter("seqctl_emails_sent", "Emails sent, by mailbox.", ["mailbox"], registry=registry)
    for mailbox, count in sorted(snapshot.sent_by_mailbox.items()):
        sent.labels(mailbox=mailbox).inc(count)
    enrollments = Gauge("seqctl_enrollments", "Enrollments by sequence and status.", ["sequence", "status"],
                        registry=registry)  # fmt: skip
    for (sequence, status), count in sorted(snapshot.enrollments.items()):
        enrollments.labels(sequence=sequence, status=status).set(count)
    Gauge("seqctl_due", "Enrollments whose next step is due now.", registry=registry).set(snapshot.due)
    Gauge("seqctl_unknown_sends", "Sends of unknown outcome waiting for an operator (seqctl resolve).",
          registry=registry).set(snapshot.unknown_sends)  # fmt: skip
    paused = Gauge("seqctl_mailbox_paused", "1 when the mailbox sends nothing (held or resting).", ["mailbox"],
                   registry=registry)  # fmt: skip
    for mailbox, is_paused in sorted(snapshot.mailbox_paused.items()):
        paused.labels(mailbox=mailbox).set(1 if is_paused else 0)
    Gauge("seqctl_notifications_pending", "Notifications not yet delivered.", registry=registry).set(
        snapshot.notifications.get(NotificationStatus.PENDING, 0)
    )
    Gauge("seqctl_notifications_failed", "Notifications that gave up (seqctl notifications --failed).",
          registry=registry).set(snapshot.notifications.get(NotificationStatus.FAILED, 0))  # fmt: skip
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    write_to_textfile(path, registry)
