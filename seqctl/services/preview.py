"""`seqctl preview`: the timeline a contact would get, computed, never queued.

It walks the sequence from its first step with the same calendar and scheduling code as
the tick, assuming each step runs when due (and each task is done when due); at a
branch it follows both ways. Nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seqctl.engine.calendar import NoSendTime, SendCalendar
from seqctl.engine.flow import following_step
from seqctl.engine.schedule import calendar_for, sequence_start, step_due_at
from seqctl.errors import InvalidInput
from seqctl.services.catalog import Catalog
from seqctl.services.contacts import normalise_email
from seqctl.services.progress import owner_of, template_context
from seqctl.services.step_rules import EmailParts, email_variant, plan_task, render_email
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import ActionStep, BranchStep, EmailStep, Sequence, TaskStep
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database
from seqctl.store.records import Contact
from seqctl.zones import check_timezone

# Enough for any real cadence; a `goto` loop with waits would otherwise go on forever.
MAX_ENTRIES = 200
SAMPLE_EMAIL = "alex.sample@example.com"
SAMPLE_FIELDS = {
    "first_name": "Alex",
    "last_name": "Sample",
    "company": "Example Co",
    "title": "Head of Sales",
}


def contact_or_sample(db: Database, email: str | None, *, hint: str = "") -> Contact:
    """The contact `--email` names (InvalidInput when there is none), else the sample
    contact (id 0) that previews and test sends render for."""
    if email is None:
        return Contact(0, SAMPLE_EMAIL, dict(SAMPLE_FIELDS), ())
    address = normalise_email(email)
    with db.read() as tx:
        contact = contact_store.by_email(tx, address)
    if contact is None:
        raise InvalidInput(f"--email {address}: no such contact{hint}")
    return contact


def preview(
    db: Database,
    sequence_key: str,
    *,
    start: datetime,
    email: str | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    catalog = Catalog.load(db)
    loaded = catalog.sequence(sequence_key)
    sequence = loaded.model
    contact = contact_or_sample(db, email, hint=" (import it, or preview with --timezone)")
    address, fields, tags, sample = contact.email, dict(contact.fields), sorted(contact.tags), contact.id == 0
    enrollment_id = 0  # variants are chosen per enrollment: a sample contact shows them all
    if not sample:
        with db.read() as tx:
            existing = enrollment_store.open_enrollment(tx, loaded.record.id, contact.id)
        enrollment_id = existing.id if existing is not None else 0
    if timezone is not None:
        try:
            fields["timezone"] = check_timezone(timezone)
        except ValueError as exc:
            raise InvalidInput(f"--timezone: {exc}") from None
    mailbox = catalog.mailbox_for(sequence)
    calendar = calendar_for(sequence, mailbox, fields, address)
    walker = _Walker(catalog, sequence, mailbox, calendar, address, fields, tags, enrollment_id)
    first = sequence.steps[0]
    start = start.replace(microsecond=0)  # a timeline in whole seconds, whatever the clock read
    begins = max(start, sequence_start(sequence, calendar) or start)
    try:
        first_due = step_due_at(sequence, calendar, first.id, begins)
        steps = walker.walk(first.id, first_due, thread=[], path=())
    except NoSendTime:
        raise InvalidInput(f"{sequence_key}: its calendar allows no send time within a year") from None
    return {
        "sequence": sequence.key,
        "contact": {"email": address, "sample": sample, "fields": fields},
        "timezone": calendar.zone.key,
        "start": begins.isoformat(),
        "steps": steps,
        "truncated": walker.truncated,
    }


class _Walker:
    def __init__(
        self,
        catalog: Catalog,
        sequence: Sequence,
        mailbox: Mailbox | None,
        calendar: SendCalendar,
        email: str,
        fields: dict[str, Any],
        tags: list[str],
        enrollment_id: int,
    ) -> None:
        self.catalog, self.sequence, self.calendar = catalog, sequence, calendar
        self.fields, self.enrollment_id = fields, enrollment_id
        self.email, self.tags, self.mailbox = email, tags, mailbox
        self.assigned: str | None = None  # the owner an `assign:` step set on the way walked now
        self._contexts: dict[str | None, dict[str, Any]] = {}
        self.entries = 0
        self.truncated = False

    @property
    def context(self) -> dict[str, Any]:
        """What templates see at this point of the walk (the owner follows `assign:` steps)."""
        owner = owner_of(self.assigned, self.fields, self.sequence)
        if owner not in self._contexts:
            self._contexts[owner] = template_context(
                self.email, self.fields, self.tags, self.sequence, owner=owner, mailbox=self.mailbox
            )
        return self._contexts[owner]

    def walk(
        self, step_id: str | None, due: datetime, *, thread: list[str], path: tuple[str, ...]
    ) -> list[dict]:
        """Entries from `step_id` (due at `due`) to the end of this way through the sequence."""
        assigned_before = self.assigned  # each way of a branch starts from the owner at the branch
        try:
            return self._walk(step_id, due, thread=thread, path=path)
        finally:
            self.assigned = assigned_before

    def _walk(
        self, step_id: str | None, due: datetime, *, thread: list[str], path: tuple[str, ...]
    ) -> list[dict]:
        entries: list[dict[str, Any]] = []
        while step_id is not None:
            if step_id in path:
                entries.append({"step": step_id, "type": "loop", "note": f"goes back to {step_id}"})
                break
            if self.entries >= MAX_ENTRIES:
                self.truncated = True
                break
            self.entries += 1
            path = (*path, step_id)
            step = self.sequence.step(step_id)
            entry: dict[str, Any] = {"step": step.id, "type": step.type, **self._when(due)}
            entries.append(entry)
            ran_at, chosen = due, None
            if isinstance(step, EmailStep):
                entry.update(self._email(step, thread))
            elif isinstance(step, TaskStep):
                plan = plan_task(
                    step, self.catalog, self.sequence, assigned=self.assigned, contact_fields=self.fields,
                    context=self.context, at=due,
                )  # fmt: skip
                note = {"note": plan.note} if plan.note is not None else {"note_error": plan.problem}
                entry["task"] = {"kind": plan.kind, "owner": plan.owner, **note}
                hours = self.catalog.working_hours(plan.owner, self.sequence)
                entry["task"].update({f"due_{k}": v for k, v in self._when(plan.due_at, hours).items()})
                ran_at = plan.due_at  # the next step's wait counts from when the task is done
            elif isinstance(step, BranchStep):
                condition = step.if_.model_dump(by_alias=True, mode="json", exclude_defaults=True)
                entry["if"] = condition
                for way, target in (("then", step.then), ("else", step.else_)):
                    entry[way] = self._follow(step.id, target, due, thread, path)
                break
            elif isinstance(step, ActionStep):
                entry["action"] = step.model_dump(
                    mode="json",
                    exclude_none=True,
                    exclude={"id", "type", "wait", "at", "next", "description"},
                )
                if step.exit is not None:
                    entry["end"] = f"exits ({step.exit})"
                    break
                if step.assign is not None:
                    self.assigned = step.assign
                chosen = step.goto
            step_id = following_step(self.sequence, step.id, chosen)
            if step_id is None:
                entry["end"] = "completed"
                break
            due = step_due_at(self.sequence, self.calendar, step_id, ran_at)
        return entries

    def _follow(
        self, branch_id: str, target: str, ran_at: datetime, thread: list[str], path: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        following = following_step(self.sequence, branch_id, target)
        if following is None:
            return [{"type": "end", "note": "completed"}]
        due = step_due_at(self.sequence, self.calendar, following, ran_at)
        return self.walk(following, due, thread=list(thread), path=path)

    def _when(self, instant: datetime, calendar: SendCalendar | None = None) -> dict[str, str]:
        local = instant.astimezone((calendar or self.calendar).zone)
        return {"utc": instant.isoformat(), "local": local.strftime("%a %Y-%m-%d %H:%M %Z")}

    def _email(self, step: EmailStep, thread: list[str]) -> dict[str, Any]:
        first_subject = thread[0] if thread else None
        result: dict[str, Any]
        if step.variants and not self.enrollment_id:  # not enrolled yet: any variant may come
            shown = [
                {"variant": v.id, **_shown(render_email(step, v, self.context, first_subject=first_subject))}
                for v in step.variants
            ]
            first, result = shown[0], {"variants": shown}
        else:
            variant = email_variant(step, self.enrollment_id)
            first = _shown(render_email(step, variant, self.context, first_subject=first_subject))
            result = {"variant": variant.id, **first} if variant else first
        if first.get("subject") and not thread:
            thread.append(first["subject"])
        return result


def _shown(parts: EmailParts) -> dict[str, str]:
    """The parts as preview lists them: `subject`, `body`, `html`, or `<part>_error`."""
    shown: dict[str, str] = {}
    for part, name in (("subject", "subject"), ("text", "body"), ("html", "html")):
        value = getattr(parts, part)
        if part in parts.problems:
            shown[f"{name}_error"] = parts.problems[part]
        elif value is not None:
            shown[name] = value
    return shown
