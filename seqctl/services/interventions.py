"""The operator's changes to enrollments: pause, resume, cancel, retry, move. Each is a fenced
update (a tick holding the row loses it) and an `operator` audit row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seqctl.engine.schedule import step_due_at
from seqctl.errors import InvalidInput, NotFound
from seqctl.services.catalog import Catalog
from seqctl.services.progress import calendar_of, resume_time
from seqctl.states import (
    OPEN,
    RUNNABLE,
    EnrollmentStatus,
    ExitReason,
    SendStatus,
    SequenceStatus,
    WaitingReason,
)
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
    """Paused → active. A step already due runs at the next allowed time; its wait is not
    restarted. In a paused sequence it stays held until `resume SEQUENCE`."""
    catalog = Catalog.load(db)
    changed = []
    with db.write() as tx:
        for e in targets:
            if e.status != EnrollmentStatus.PAUSED:
                continue
            loaded = catalog.by_id[e.sequence_id]
            contact = contact_store.by_id(tx, e.contact_id)
            assert contact is not None
            next_run = resume_time(e, loaded.model, calendar_of(catalog, loaded.model, contact), now)
            values: dict[str, Any] = {"next_run_at": next_run}
            if next_run is not None and loaded.record.status == SequenceStatus.PAUSED:
                values = {"next_run_at": None, "waiting_on": WaitingReason.SEQUENCE}
            status = EnrollmentStatus.SCHEDULED if e.started_at > now else EnrollmentStatus.ACTIVE
            if operator_change(
                tx, e, now, "resumed", where={"status": EnrollmentStatus.PAUSED}, status=status, **values
            ):
                changed.append(e.id)
    return changed


def cancel(db: Database, targets: list[Enrollment], *, now: datetime) -> list[int]:
    notifier = Catalog.load(db).notifier
    detail = "cancelled by operator"
    with db.write() as tx:
        ended = [e for e in targets if cancel_in(tx, e, now, detail)]
        for e in ended:
            notifier.exited(tx, e, reason=ExitReason.MANUAL, detail=detail, now=now)
        return [e.id for e in ended]


def cancel_in(tx: Any, e: Enrollment, now: datetime, detail: str | None) -> bool:
    """End an open enrollment (exit reason manual) within a transaction; its open tasks are
    skipped. False when it was not open any more."""
    values = enrollment_store.finished_values(EnrollmentStatus.EXITED, now, reason=ExitReason.MANUAL, detail=detail)
    if not operator_change(tx, e, now, "cancelled", where={"status": OPEN}, **values):
        return False
    activity.close_tasks_of(tx, e.id, "skipped", now)
    return True


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
                    tx,
                    message.id,
                    SendStatus.NOT_SENT,
                    now=now,
                    error=message.last_error,
                    expect=(SendStatus.FAILED, SendStatus.RETRY),
                )
        operator_change(
            tx, e, now, "retried", where={"status": EnrollmentStatus.FAILED},
            status=EnrollmentStatus.ACTIVE, attempts=0, waiting_on=None, next_run_at=now, finished_at=None,
        )  # fmt: skip


def move(db: Database, targets: list[Enrollment], step_id: str, *, now: datetime) -> list[int]:
    """Put open enrollments on another step of their sequence, due as if the step before it
    had just run. Their sends stay theirs: the thread goes on, and an email step they already
    got is not sent again. A paused one stays paused; a failed one is active again."""
    catalog = Catalog.load(db)
    moved = []
    with db.write() as tx:
        for e in targets:
            loaded = catalog.by_id[e.sequence_id]
            if step_id not in loaded.model.step_ids():
                known = ", ".join(loaded.model.step_ids())
                raise InvalidInput(f"--step {step_id}: no such step in {e.sequence_key} ({known})")
            if e.status not in OPEN:
                raise InvalidInput(f"enrollment {e.id} is {e.status}: only an open enrollment can be moved")
            if e.waiting_on == WaitingReason.UNKNOWN_SEND:
                raise InvalidInput(
                    f"enrollment {e.id} has a send of unknown outcome: settle it first (seqctl queue --unknown)"
                )
            contact = contact_store.by_id(tx, e.contact_id)
            assert contact is not None
            due = step_due_at(loaded.model, calendar_of(catalog, loaded.model, contact), step_id, now)
            values: dict[str, Any] = {
                "current_step": step_id, "step_due_at": due, "next_run_at": due, "waiting_on": None,
                "attempts": 0, "last_error": None, "leased_until": None,
            }  # fmt: skip
            if e.status == EnrollmentStatus.PAUSED:
                values["next_run_at"] = None
            elif loaded.record.status == SequenceStatus.PAUSED:
                values.update(next_run_at=None, waiting_on=WaitingReason.SEQUENCE)
            if e.status == EnrollmentStatus.FAILED:
                values.update(status=EnrollmentStatus.ACTIVE, finished_at=None)
            detail = {"from": e.current_step, "to": step_id, "due": due.isoformat()}
            if operator_change(tx, e, now, "moved", where={"status": OPEN}, detail=detail, **values):
                activity.close_tasks_of(tx, e.id, "skipped", now)
                moved.append(e.id)
    return moved


def operator_change(
    tx: Any,
    e: Enrollment,
    now: datetime,
    outcome: str,
    *,
    where: dict[str, Any],
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Apply an operator's change (fencing out any tick holding the row) and log it."""
    if not enrollment_store.guarded_update(tx, e.id, now, where=where, **values):
        return False
    activity.record_execution(
        tx, enrollment_id=e.id, step_id=e.current_step, kind="operator", outcome=outcome, at=now, detail=detail
    )
    return True
