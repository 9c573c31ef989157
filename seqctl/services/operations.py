"""The operator's verbs: enroll, pause, resume, cancel, retry, resolve, tasks (events are
`services.events`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from seqctl.engine.schedule import sequence_start, step_due_at
from seqctl.errors import InvalidInput, NotFound
from seqctl.services.catalog import Catalog
from seqctl.services.contacts import normalise_email, read_csv
from seqctl.services.progress import advance_values, calendar_of
from seqctl.spec.fields import check_timezone
from seqctl.spec.models import EmailStep
from seqctl.states import OPEN
from seqctl.store import activity, sends
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database
from seqctl.store.records import Contact, Enrollment


@dataclass
class EnrollReport:
    enrolled: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)


def starting_step(catalog: Catalog, sequence_key: str, step: str | None) -> str:
    """The step an enrollment starts on: `step` when the sequence has it, else its first."""
    sequence = catalog.sequence(sequence_key).model
    first = step or sequence.steps[0].id
    if first not in sequence.step_ids():
        raise InvalidInput(
            f"--step {first}: no such step in {sequence_key!r} ({', '.join(sequence.step_ids())})"
        )
    return first


def start_enrollment(
    tx: Any,
    catalog: Catalog,
    sequence_key: str,
    contact: Contact,
    *,
    start_at: datetime,
    now: datetime,
    step: str | None = None,
    owner: str | None = None,
) -> tuple[int | None, str]:
    """Enroll one contact; returns (id, "") or (None, why it was skipped)."""
    loaded = catalog.sequence(sequence_key)
    sequence = loaded.model
    first = starting_step(catalog, sequence_key, step)
    existing = enrollment_store.open_enrollment(tx, loaded.record.id, contact.id)
    if existing is not None:
        return None, f"already in {sequence_key} (enrollment {existing.id}, {existing.status})"
    suppressed = activity.suppression_for(tx, contact.email)
    if suppressed is not None:
        return None, f"suppressed ({suppressed[1]}: {suppressed[0]})"
    zone = contact.fields.get("timezone")
    if zone:
        try:
            check_timezone(str(zone))
        except ValueError as exc:
            return None, f"contact timezone: {exc}"
    calendar = calendar_of(catalog, sequence, contact)
    start_at = max(start_at, sequence_start(sequence, calendar) or start_at)
    due = step_due_at(sequence, calendar, first, start_at)  # the first step's wait counts from the start
    enrollment_id = enrollment_store.create(
        tx, sequence_id=loaded.record.id, contact_id=contact.id, first_step=first,
        start_at=start_at, scheduled=start_at > now, owner=owner, now=now,
    )  # fmt: skip
    if enrollment_id is None:
        return None, f"already in {sequence_key}"
    enrollment_store.guarded_update(tx, enrollment_id, now, where={}, step_due_at=due, next_run_at=due)
    activity.record_execution(
        tx,
        enrollment_id=enrollment_id,
        step_id=None,
        kind="enroll",
        outcome="enrolled",
        at=now,
        detail={"first_step": first, "due": due.isoformat()},
    )
    return enrollment_id, ""


def enroll(
    db: Database,
    sequence_key: str,
    *,
    emails: list[str] | None = None,
    csv_path: str | None = None,
    tag: str | None = None,
    start_at: datetime | None = None,
    step: str | None = None,
    now: datetime,
) -> EnrollReport:
    """Enroll contacts by address (an address with no contact is skipped: nothing is
    created), from a CSV (upserted) or by tag."""
    catalog = Catalog.load(db)
    starting_step(catalog, sequence_key, step)  # a bad --step is bad input, whoever is named
    report = EnrollReport()
    rows: list[tuple[str, dict[str, Any], tuple[str, ...]]] = []
    if csv_path is not None:
        parsed = read_csv(csv_path)
        report.invalid = [{"line": p.line, "error": p.message} for p in parsed.problems]
        rows = [(r.email, r.fields, r.tags) for r in parsed.rows]
    for address in emails or []:
        try:
            rows.append((normalise_email(address), {}, ()))
        except InvalidInput as exc:
            report.invalid.append({"email": address, "error": str(exc)})
    with db.write() as tx:
        if tag is not None:
            targets = contact_store.by_tag(tx, tag)
            if not targets:
                raise InvalidInput(f"no contact has the tag {tag!r}")
        else:
            if csv_path is not None:  # a CSV brings the contacts; an address alone creates none
                for email, fields, tags in rows:
                    contact_store.upsert(tx, email, fields, tags, now)
            found = contact_store.by_emails(tx, [r[0] for r in rows])
            targets = []
            for email in dict.fromkeys(r[0] for r in rows):
                if email in found:
                    targets.append(found[email])
                else:
                    report.skipped.append({"email": email, "reason": "no such contact: add it with contacts import"})
        for contact in targets:
            enrollment_id, why = start_enrollment(
                tx, catalog, sequence_key, contact, start_at=start_at or now, now=now, step=step
            )
            if enrollment_id is None:
                report.skipped.append({"email": contact.email, "reason": why})
            else:
                report.enrolled.append({"email": contact.email, "id": enrollment_id})
    return report


def select_enrollments(
    db: Database, *, enrollment_id: int | None, sequence_key: str | None, email: str | None
) -> list[Enrollment]:
    """`--id N`, `SEQUENCE --email ADDR`, or a whole `SEQUENCE`."""
    with db.read() as tx:
        if enrollment_id is not None:
            found = enrollment_store.get(tx, enrollment_id)
            if found is None:
                raise NotFound(f"no enrollment {enrollment_id}")
            return [found]
        if sequence_key is None:
            raise InvalidInput("name an enrollment with --id, or a SEQUENCE (and optionally --email)")
        catalog = Catalog.load(db)
        sequence_id = catalog.sequence(sequence_key).record.id
        if email is None:
            return enrollment_store.find(tx, sequence_id=sequence_id)
        contact = contact_store.by_email(tx, email)
        if contact is None:
            raise NotFound(f"no contact {email}")
        found_for_contact = enrollment_store.find(tx, sequence_id=sequence_id, contact_id=contact.id)
        if not found_for_contact:
            raise NotFound(f"{email} is not enrolled in {sequence_key}")
        return found_for_contact


def _operator_change(
    tx: Any, e: Enrollment, now: datetime, outcome: str, *, where: dict[str, Any], **values: Any
) -> bool:
    """Apply an operator's change (fencing out any tick holding the row) and log it."""
    if not enrollment_store.guarded_update(tx, e.id, now, where=where, **values):
        return False
    activity.record_execution(
        tx, enrollment_id=e.id, step_id=e.current_step, kind="operator", outcome=outcome, at=now
    )
    return True


def pause(db: Database, targets: list[Enrollment], *, now: datetime) -> list[int]:
    with db.write() as tx:
        return [
            e.id
            for e in targets
            if _operator_change(
                tx, e, now, "paused", where={"status": ("scheduled", "active")},
                status="paused", next_run_at=None, leased_until=None,
            )
        ]  # fmt: skip


def resume(db: Database, targets: list[Enrollment], *, now: datetime) -> list[int]:
    """Paused → active. A step already due runs at the next allowed time; its wait is not restarted."""
    catalog = Catalog.load(db)
    changed = []
    with db.write() as tx:
        for e in targets:
            if e.status != "paused":
                continue
            next_run = None if e.waiting_on in ("task", "unknown_send") else max(e.step_due_at or now, now)
            sequence = catalog.by_id[e.sequence_id].model
            if next_run is not None and e.current_step in sequence.step_ids():
                if isinstance(sequence.step(e.current_step), EmailStep):
                    contact = contact_store.by_id(tx, e.contact_id)
                    assert contact is not None
                    next_run = calendar_of(catalog, sequence, contact).next_opening(next_run)
            status = "scheduled" if e.started_at > now else "active"
            if _operator_change(
                tx, e, now, "resumed", where={"status": "paused"}, status=status, next_run_at=next_run
            ):
                changed.append(e.id)
    return changed


def cancel(db: Database, targets: list[Enrollment], *, now: datetime) -> list[int]:
    changed = []
    with db.write() as tx:
        for e in targets:
            values = enrollment_store.finished_values(
                "exited", now, reason="manual", detail="cancelled by operator"
            )
            if _operator_change(tx, e, now, "cancelled", where={"status": OPEN}, **values):
                activity.close_tasks_of(tx, e.id, "skipped", now)
                changed.append(e.id)
    return changed


def retry(db: Database, enrollment_id: int, *, now: datetime) -> None:
    """Put a failed enrollment back in the queue, due now, with its attempts reset."""
    with db.write() as tx:
        e = enrollment_store.get(tx, enrollment_id)
        if e is None:
            raise NotFound(f"no enrollment {enrollment_id}")
        if e.status != "failed":
            raise InvalidInput(f"enrollment {enrollment_id} is {e.status}, not failed")
        if e.current_step:
            message = sends.get(tx, e.id, e.current_step)
            if message is not None:
                sends.settle_send(
                    tx, message.id, "not_sent", now=now, error=message.last_error, expect=("failed", "retry")
                )
        _operator_change(
            tx, e, now, "retried", where={"status": "failed"},
            status="active", attempts=0, waiting_on=None, next_run_at=now, finished_at=None,
        )  # fmt: skip


def resolve(db: Database, message_row_id: int, *, sent: bool, now: datetime) -> Enrollment:
    """Settle a send of unknown outcome. Sent: the enrollment moves on. Not sent: it is sent again."""
    catalog = Catalog.load(db)
    with db.write() as tx:
        message = sends.by_id(tx, message_row_id)
        if message is None:
            raise NotFound(f"no send {message_row_id} (see `seqctl queue --unknown`)")
        if message.status not in ("unknown", "sending"):
            raise InvalidInput(
                f"send {message_row_id} is {message.status}; only unknown sends can be resolved"
            )
        e = enrollment_store.get(tx, message.enrollment_id)
        assert e is not None
        if sent:
            sends.settle_send(tx, message.id, "sent", now=message.created_at, expect=("unknown", "sending"))
            activity.record_execution(
                tx,
                enrollment_id=e.id,
                step_id=message.step_id,
                kind="email",
                outcome="sent",
                at=now,
                message_id=message.message_id,
                detail={"resolved_by": "operator"},
            )
            if e.current_step == message.step_id and e.status == "active":
                loaded = catalog.by_id[e.sequence_id]
                contact = contact_store.by_id(tx, e.contact_id)
                assert contact is not None
                values = advance_values(
                    loaded.model,
                    calendar_of(catalog, loaded.model, contact),
                    message.step_id,
                    message.created_at,
                )
                enrollment_store.guarded_update(tx, e.id, now, where={"status": "active"}, **values)
        else:
            sends.settle_send(tx, message.id, "not_sent", now=now, expect=("unknown", "sending"))
            activity.record_execution(
                tx,
                enrollment_id=e.id,
                step_id=message.step_id,
                kind="email",
                outcome="not_sent",
                at=now,
                message_id=message.message_id,
                detail={"resolved_by": "operator"},
            )
            if e.current_step == message.step_id and e.status == "active":
                enrollment_store.guarded_update(
                    tx, e.id, now, where={"status": "active"}, waiting_on=None, next_run_at=now
                )
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
        if e.current_step == task.step_id and e.waiting_on == "task" and e.status in ("active", "paused"):
            loaded = catalog.by_id[e.sequence_id]
            contact = contact_store.by_id(tx, e.contact_id)
            assert contact is not None
            values = advance_values(
                loaded.model, calendar_of(catalog, loaded.model, contact), task.step_id, now
            )
            if e.status == "paused":  # keep it paused, but on the next step
                values = {**values, "status": "paused", "next_run_at": None}
            enrollment_store.guarded_update(tx, e.id, now, where={"waiting_on": "task"}, **values)
