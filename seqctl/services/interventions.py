"""The operator's changes to enrollments: pause, resume, cancel, retry. Each is a fenced
update (a tick holding the row loses it) and an `operator` audit row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seqctl.errors import InvalidInput, NotFound
from seqctl.services.catalog import Catalog
from seqctl.services.progress import calendar_of
from seqctl.spec.models import EmailStep
from seqctl.states import OPEN, RUNNABLE, EnrollmentStatus, ExitReason, SendStatus, WaitingReason
from seqctl.store import activity, sends
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database
from seqctl.store.records import Enrollment


def pause(db: Database, targets: list[Enrollment], *, now: datetime) -> list[int]:
    with db.write() as tx:
        return [
            e.id
            for e in targets
            if operator_change(
                tx, e, now, "paused", where={"status": RUNNABLE},
                status=EnrollmentStatus.PAUSED, next_run_at=None, leased_until=None,
            )
        ]  # fmt: skip


def resume(db: Database, targets: list[Enrollment], *, now: datetime) -> list[int]:
    """Paused → active. A step already due runs at the next allowed time; its wait is not restarted."""
    catalog = Catalog.load(db)
    changed = []
    with db.write() as tx:
        for e in targets:
            if e.status != EnrollmentStatus.PAUSED:
                continue
            next_run = None if e.waiting_on in (WaitingReason.TASK, WaitingReason.UNKNOWN_SEND) else max(e.step_due_at or now, now)
            sequence = catalog.by_id[e.sequence_id].model
            if next_run is not None and e.current_step in sequence.step_ids():
                if isinstance(sequence.step(e.current_step), EmailStep):
                    contact = contact_store.by_id(tx, e.contact_id)
                    assert contact is not None
                    next_run = calendar_of(catalog, sequence, contact).next_opening(next_run)
            status = EnrollmentStatus.SCHEDULED if e.started_at > now else EnrollmentStatus.ACTIVE
            if operator_change(
                tx, e, now, "resumed", where={"status": EnrollmentStatus.PAUSED}, status=status, next_run_at=next_run
            ):
                changed.append(e.id)
    return changed


def cancel(db: Database, targets: list[Enrollment], *, now: datetime) -> list[int]:
    changed = []
    with db.write() as tx:
        for e in targets:
            values = enrollment_store.finished_values(
                EnrollmentStatus.EXITED, now, reason=ExitReason.MANUAL, detail="cancelled by operator"
            )
            if operator_change(tx, e, now, "cancelled", where={"status": OPEN}, **values):
                activity.close_tasks_of(tx, e.id, "skipped", now)
                changed.append(e.id)
    return changed


def retry(db: Database, enrollment_id: int, *, now: datetime) -> None:
    """Put a failed enrollment back in the queue, due now, with its attempts reset."""
    with db.write() as tx:
        e = enrollment_store.get(tx, enrollment_id)
        if e is None:
            raise NotFound(f"no enrollment {enrollment_id}")
        if e.status != EnrollmentStatus.FAILED:
            raise InvalidInput(f"enrollment {enrollment_id} is {e.status}, not failed")
        if e.current_step:
            message = sends.get(tx, e.id, e.current_step)
            if message is not None:
                sends.settle_send(
                    tx, message.id, SendStatus.NOT_SENT, now=now, error=message.last_error,
                    expect=(SendStatus.FAILED, SendStatus.RETRY),

                )
        operator_change(
            tx, e, now, "retried", where={"status": EnrollmentStatus.FAILED},
            status=EnrollmentStatus.ACTIVE, attempts=0, waiting_on=None, next_run_at=now, finished_at=None,
        )  # fmt: skip


def operator_change(
    tx: Any, e: Enrollment, now: datetime, outcome: str, *, where: dict[str, Any], **values: Any
) -> bool:
    """Apply an operator's change (fencing out any tick holding the row) and log it."""
    if not enrollment_store.guarded_update(tx, e.id, now, where=where, **values):
        return False
    activity.record_execution(
        tx, enrollment_id=e.id, step_id=e.current_step, kind="operator", outcome=outcome, at=now
    )
    return True
