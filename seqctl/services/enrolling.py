"""Enrolling contacts: by address, from a CSV or by tag, and the one rule (`start_enrollment`)
the `enroll:` action of a sequence uses too; and choosing the enrollments a verb acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from seqctl import settings
from seqctl.engine.schedule import calendars_for, sequence_start, step_due_at
from seqctl.errors import InvalidInput, NotFound
from seqctl.services.catalog import Catalog
from seqctl.services.contacts import normalise_email, read_csv
from seqctl.services.notifying import enrollment_data
from seqctl.services.steps_done import Progress
from seqctl.states import OPEN, EnrollmentStatus, ExitReason, SequenceStatus, WaitingReason
from seqctl.store import activity
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store import notifications as notification_store
from seqctl.store.db import Database
from seqctl.store.records import Contact, Enrollment
from seqctl.zones import check_timezone


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


# Contacts enrolled per round of queries and inserts (and per step of a progress bar).
CHUNK = 5000
# An earlier enrollment that ended this way may be repeated with `--again`; one that ended
# in a reply, bounce, unsubscribe or complaint (or any other way) never is.
_REPEATABLE = {(EnrollmentStatus.COMPLETED, None), (EnrollmentStatus.EXITED, ExitReason.MANUAL)}


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
    """Enroll one contact (the `enroll:` action); returns (id, "") or (None, why it was skipped)."""
    enrolled, skipped = start_enrollments(
        tx, catalog, sequence_key, [contact], start_at=start_at, now=now, step=step, owner=owner
    )
    if enrolled:
        return enrolled[0][1], ""
    return None, skipped[0][1]


def start_enrollments(
    tx: Any,
    catalog: Catalog,
    sequence_key: str,
    contacts: list[Contact],
    *,
    start_at: datetime,
    now: datetime,
    step: str | None = None,
    owner: str | None = None,
    again: bool = False,
    progress: Progress | None = None,
) -> tuple[list[tuple[Contact, int]], list[tuple[Contact, str]]]:
    """Enroll contacts a chunk at a time: what stops each one (its history in the sequence,
    an exclusive sequence it is in, a suppression, a bad time zone) is read with one query
    per kind for the whole chunk, and its enrollments are inserted together. Returns
    (enrolled contacts with their enrollment ids, skipped contacts with why); `progress`
    hears how many contacts each chunk held."""
    enrolled: list[tuple[Contact, int]] = []
    skipped: list[tuple[Contact, str]] = []
    unique = list({contact.id: contact for contact in contacts}.values())
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        done, passed = _enroll_chunk(tx, catalog, sequence_key, chunk, start_at, now, step, owner, again)
        enrolled += done
        skipped += passed
        if progress is not None:
            progress.advance(len(chunk))
    return enrolled, skipped


def _enroll_chunk(
    tx: Any,
    catalog: Catalog,
    sequence_key: str,
    contacts: list[Contact],
    start_at: datetime,
    now: datetime,
    step: str | None,
    owner: str | None,
    again: bool,
) -> tuple[list[tuple[Contact, int]], list[tuple[Contact, str]]]:
    loaded = catalog.sequence(sequence_key)
    sequence, sequence_id = loaded.model, loaded.record.id
    if loaded.record.status == SequenceStatus.ARCHIVED:
        return [], [(contact, f"{sequence_key} is archived") for contact in contacts]
    first = starting_step(catalog, sequence_key, step)
    ids = [contact.id for contact in contacts]
    earlier = enrollment_store.history(tx, sequence_id, ids)
    exclusive = [
        s.record.id for s in catalog.sequences.values() if s.model.exclusive and s.record.id != sequence_id
    ]
    elsewhere = enrollment_store.open_in(tx, exclusive, ids) if sequence.exclusive else {}
    suppressed = activity.suppressions_among(tx, [contact.email for contact in contacts], settings.tracking_secret())
    held = loaded.record.status == SequenceStatus.PAUSED
    calendar_for = calendars_for(sequence, catalog.mailbox_for(sequence))
    first_due: dict[tuple[int, datetime], datetime] = {}
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[Contact, str]] = []
    for contact in contacts:
        why = None
        if contact.email in suppressed:
            value, reason = suppressed[contact.email]
            why = f"suppressed ({reason}: {value})"
        why = why or _why_not(sequence_key, earlier.get(contact.id, []), elsewhere.get(contact.id), again)
        if why is None and (zone := contact.fields.get("timezone")):
            try:
                check_timezone(str(zone))
            except ValueError as exc:
                why = f"contact timezone: {exc}"
        if why is not None:
            skipped.append((contact, why))
            continue
        calendar = calendar_for(contact.fields, contact.email)
        begins = max(start_at, sequence_start(sequence, calendar) or start_at)
        if (due := first_due.get((id(calendar), begins))) is None:  # contacts sharing a calendar share it
            due = step_due_at(sequence, calendar, first, begins)  # the first step's wait counts from the start
            if not calendar.spread:
                first_due[(id(calendar), begins)] = due
        rows.append({
            "contact_id": contact.id, "current_step": first, "owner": owner,
            "status": EnrollmentStatus.SCHEDULED if begins > now else EnrollmentStatus.ACTIVE,
            "started_at": begins, "step_due_at": due, "created_at": now,
            # A paused sequence holds its new enrollments too, until `resume SEQUENCE`.
            "next_run_at": None if held else due, "waiting_on": WaitingReason.SEQUENCE if held else None,
        })  # fmt: skip
    created = enrollment_store.create_many(tx, sequence_id, rows)
    enrolled: list[tuple[Contact, int]] = []
    executions: list[dict[str, Any]] = []
    by_id = {contact.id: contact for contact in contacts}
    for row in rows:
        contact = by_id[row["contact_id"]]
        if (enrollment_id := created.get(contact.id)) is None:
            skipped.append((contact, f"already in {sequence_key}"))  # enrolled meanwhile by someone else
            continue
        enrolled.append((contact, enrollment_id))
        executions.append({
            "enrollment_id": enrollment_id, "step_id": None, "kind": "enroll", "outcome": "enrolled", "at": now,
            "detail": {"first_step": first, "due": row["step_due_at"].isoformat()},
        })  # fmt: skip
    activity.record_executions(tx, executions)
    notifier = catalog.notifier
    if notifier.hears("enrolled", sequence=sequence_key):
        notification_store.add(tx, [
            row for contact, enrollment_id in enrolled
            for row in notifier.rows(
                "enrolled", enrollment_data(enrollment_id=enrollment_id, email=contact.email, sequence=sequence_key,
                                            step=first),
                at=now, now=now, sequence=sequence_key, enrollment_id=enrollment_id,
            )
        ])  # fmt: skip
    return enrolled, skipped


def _why_not(key: str, earlier: list[Enrollment], busy: Enrollment | None, again: bool) -> str | None:
    """Why a contact with this history in sequence `key` is not enrolled, or None."""
    if earlier:
        last = earlier[-1]
        if last.status in OPEN:
            return f"already in {key} (enrollment {last.id}, {last.status})"
        ended = f"was in {key} (enrollment {last.id}, {_ending(last)})"
        if not all((e.status, e.exit_reason) in _REPEATABLE for e in earlier):
            return f"{ended}: only a completed or cancelled enrollment is ever repeated"
        if not again:
            return f"{ended}: --again enrolls it once more"
    if busy is not None:
        return f"in exclusive sequence {busy.sequence_key} (enrollment {busy.id}, {busy.status})"
    return None


def _ending(enrollment: Enrollment) -> str:
    if enrollment.status == EnrollmentStatus.EXITED and enrollment.exit_reason == ExitReason.MANUAL:
        return "cancelled"
    if enrollment.exit_reason:
        return f"{enrollment.status}: {enrollment.exit_reason}"
    return enrollment.status


def enroll(
    db: Database,
    sequence_key: str,
    *,
    emails: list[str] | None = None,
    csv_path: str | None = None,
    tag: str | None = None,
    start_at: datetime | None = None,
    step: str | None = None,
    again: bool = False,
    now: datetime,
    progress: Progress | None = None,
) -> EnrollReport:
    """Enroll contacts by address (an address with no contact is skipped: nothing is
    created), from a CSV (upserted) or by tag."""
    catalog = Catalog.load(db)
    loaded = catalog.sequence(sequence_key)
    if loaded.record.status == SequenceStatus.ARCHIVED:
        raise InvalidInput(f"{sequence_key} is archived: nothing can be enrolled in it")
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
                contact_store.upsert_many(tx, rows, now)
            found = contact_store.by_emails(tx, [r[0] for r in rows])
            targets = []
            for email in dict.fromkeys(r[0] for r in rows):
                if email in found:
                    targets.append(found[email])
                else:
                    report.skipped.append(
                        {"email": email, "reason": "no such contact: add it with contacts import"}
                    )
        if progress is not None:
            progress.total(len(targets))
        enrolled, skipped = start_enrollments(
            tx, catalog, sequence_key, targets, start_at=start_at or now, now=now, step=step, again=again,
            progress=progress,
        )  # fmt: skip
    report.enrolled = [{"email": contact.email, "id": enrollment_id} for contact, enrollment_id in enrolled]
    report.skipped += [{"email": contact.email, "reason": why} for contact, why in skipped]
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
