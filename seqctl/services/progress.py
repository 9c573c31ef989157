"""Moving an enrollment on: the values a step's completion writes, shared by the tick and
the operator commands (task done, resolve) so both schedule the next step the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from seqctl.delivery.message import split_address
from seqctl.delivery.render import contact_context
from seqctl.engine.calendar import SendCalendar
from seqctl.engine.flow import EventFact
from seqctl.engine.schedule import calendar_for, plan_next
from seqctl.services.catalog import Catalog
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import EmailStep, Sequence
from seqctl.states import EnrollmentStatus, WaitingReason
from seqctl.store import enrollments as enrollment_store
from seqctl.store.records import Contact, Enrollment, Event


def owner_of(assigned: str | None, contact_fields: Mapping[str, Any], sequence: Sequence) -> str | None:
    """Whom an enrollment's tasks are for (SPEC §1): its own owner (set at enrollment or by
    an `assign:` step), else the contact's `owner` field, else the sequence's owner."""
    return assigned or contact_fields.get("owner") or sequence.owner


def template_context(
    email: str,
    fields: Mapping[str, Any],
    tags: list[str],
    sequence: Sequence,
    *,
    owner: str | None,
    mailbox: Mailbox | None = None,
) -> dict[str, Any]:
    """What templates see: `contact.*`, `sequence.*`, `owner` and, for emails, `sender.*`."""
    context: dict[str, Any] = {
        "contact": contact_context(email, fields, tags),
        "sequence": {"key": sequence.key, "name": sequence.name or sequence.key},
        "owner": owner,
    }
    if mailbox is not None:
        name, address = split_address(mailbox.from_)
        context["sender"] = {
            "name": name or address,
            "email": address,
            "first_name": (name or address).split()[0],
        }
    return context


def calendar_of(catalog: Catalog, sequence: Sequence, contact: Contact) -> SendCalendar:
    return calendar_for(sequence, catalog.mailbox_for(sequence), contact.fields, contact.email)


def advance_values(
    sequence: Sequence,
    calendar: SendCalendar,
    step_id: str,
    ran_at: datetime,
    *,
    chosen: str | None = None,
    keep_until: datetime | None = None,
) -> dict[str, Any]:
    """Column values after `step_id` ran at `ran_at`: the next step and when it is due.

    `keep_until` (a tick's lease end) keeps the row claimed when the next step is already
    due, so the tick that holds it runs it rather than racing another tick.
    """
    plan = plan_next(sequence, calendar, step_id, ran_at, chosen)
    if plan.step_id is None:
        return {
            **enrollment_store.finished_values(EnrollmentStatus.COMPLETED, ran_at),
            "last_ran_at": ran_at,
            "attempts": 0,
        }
    assert plan.due_at is not None
    next_run_at = plan.due_at
    if keep_until is not None and plan.due_at <= ran_at:
        next_run_at = keep_until
    return {
        "status": EnrollmentStatus.ACTIVE, "current_step": plan.step_id, "step_due_at": plan.due_at,
        "next_run_at": next_run_at, "last_ran_at": ran_at, "attempts": 0, "waiting_on": None,
        "last_error": None, "leased_until": keep_until if next_run_at == keep_until else None,
    }  # fmt: skip


def facts_for(enrollment: Enrollment, events: Iterable[Event]) -> list[EventFact]:
    """The contact's events that concern this enrollment.

    An event linked to one of this enrollment's messages carries that step; any other
    event counts (unlinked) when it happened after the enrollment started. Events of
    another enrollment's messages still count for exits (a reply is a reply), so they
    are kept, unlinked, from the enrollment's start on.
    """
    facts = []
    for event in events:
        automated = event.automated is not None
        if event.enrollment_id == enrollment.id:
            facts.append(
                EventFact(event.type, event.occurred_at, event.step_id, event.detail, event.url, automated)
            )
        elif event.occurred_at >= enrollment.started_at:
            facts.append(EventFact(event.type, event.occurred_at, None, event.detail, event.url, automated))
    return facts


def resume_time(
    enrollment: Enrollment, sequence: Sequence, calendar: SendCalendar, now: datetime
) -> datetime | None:
    """When a paused or held enrollment is due once resumed: its step's own due time, or now
    if that has passed (an email at the calendar's next opening); never while a task or a
    send of unknown outcome is what it waits for. Its wait is not restarted."""
    if enrollment.waiting_on in (WaitingReason.TASK, WaitingReason.UNKNOWN_SEND):
        return None
    due = max(enrollment.step_due_at or now, now)
    step = enrollment.current_step
    if step in sequence.step_ids() and isinstance(sequence.step(step), EmailStep):
        return calendar.next_opening(due)
    return due
