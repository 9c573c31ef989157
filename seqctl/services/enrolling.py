"""Enrolling contacts: by address, from a CSV or by tag, and the one rule (`start_enrollment`)
the `enroll:` action of a sequence uses too; and choosing the enrollments a verb acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from seqctl.engine.schedule import sequence_start, step_due_at
from seqctl.errors import InvalidInput, NotFound
from seqctl.services.catalog import Catalog
from seqctl.services.contacts import normalise_email, read_csv
from seqctl.services.progress import calendar_of
from seqctl.spec.fields import check_timezone
from seqctl.store import activity
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
