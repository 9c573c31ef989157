"""Settling what waits for the operator: a send of unknown outcome (`seqctl resolve`) and a
manual task (`seqctl task done/skip`); the enrollment then moves on as the tick would."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seqctl.errors import InvalidInput, NotFound
from seqctl.services.catalog import Catalog
from seqctl.services.progress import advance_values, calendar_of
from seqctl.states import UNSETTLED_SENDS, EnrollmentStatus, SendStatus, WaitingReason
from seqctl.store import activity, sends
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database
from seqctl.store.records import Enrollment


def resolve(db: Database, message_row_id: int, *, sent: bool, now: datetime) -> Enrollment:
    """Settle a send of unknown outcome. Sent: the enrollment moves on. Not sent: it is sent again."""
    catalog = Catalog.load(db)
    with db.write() as tx:
        message = sends.by_id(tx, message_row_id)
        if message is None:
            raise NotFound(f"no send {message_row_id} (see `seqctl queue --unknown`)")
        if message.status not in UNSETTLED_SENDS:
            raise InvalidInput(
                f"send {message_row_id} is {message.status}; only unknown sends can be resolved"
            )
        e = enrollment_store.get(tx, message.enrollment_id)
        assert e is not None
        status = SendStatus.SENT if sent else SendStatus.NOT_SENT
        # A send found delivered counts from when it was handed over; one not sent goes again now.
        sends.settle_send(tx, message.id, status, now=message.created_at if sent else now, expect=UNSETTLED_SENDS)
        activity.record_execution(
            tx, enrollment_id=e.id, step_id=message.step_id, kind="email", outcome=status, at=now,
            message_id=message.message_id, detail={"resolved_by": "operator"},
        )  # fmt: skip
        if e.current_step == message.step_id and e.status == EnrollmentStatus.ACTIVE:
            values: dict[str, Any] = {"waiting_on": None, "next_run_at": now}
            if sent:
                loaded = catalog.by_id[e.sequence_id]
                contact = contact_store.by_id(tx, e.contact_id)
                assert contact is not None
                calendar = calendar_of(catalog, loaded.model, contact)
                values = advance_values(loaded.model, calendar, message.step_id, message.created_at)
            enrollment_store.guarded_update(tx, e.id, now, where={"status": EnrollmentStatus.ACTIVE}, **values)
        found = enrollment_store.get(tx, e.id)
        assert found is not None
        return found


def finish_task(db: Database, task_id: int, *, outcome: str | None, skipped: bool, now: datetime) -> None:
    """Complete (or skip) a manual task; its enrollment moves to the next step."""
    catalog = Catalog.load(db)
    with db.write() as tx:
        task = activity.task(tx, task_id)
        if task is None:
            raise NotFound(f"no task {task_id}")
        if task.status != "open":
            raise InvalidInput(f"task {task_id} is already {task.status}")
        activity.close_task(tx, task_id, "skipped" if skipped else "done", outcome, now)
        e = enrollment_store.get(tx, task.enrollment_id)
        assert e is not None
        activity.record_execution(
            tx,
            enrollment_id=e.id,
            step_id=task.step_id,
            kind="task",
            outcome="skipped" if skipped else "done",
            at=now,
            detail={"task": task_id, "outcome": outcome},
        )
        if e.current_step == task.step_id and e.waiting_on == WaitingReason.TASK and e.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED):
            loaded = catalog.by_id[e.sequence_id]
            contact = contact_store.by_id(tx, e.contact_id)
            assert contact is not None
            values = advance_values(
                loaded.model, calendar_of(catalog, loaded.model, contact), task.step_id, now
            )
            if e.status == EnrollmentStatus.PAUSED:  # keep it paused, but on the next step
                values = {**values, "status": EnrollmentStatus.PAUSED, "next_run_at": None}
            enrollment_store.guarded_update(tx, e.id, now, where={"waiting_on": WaitingReason.TASK}, **values)
