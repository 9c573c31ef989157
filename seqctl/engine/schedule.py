"""The calendar an enrollment lives by, and when its next step is due."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seqctl.engine.calendar import SendCalendar, parse_holidays
from seqctl.engine.flow import following_step
from seqctl.spec.models import EmailStep, Mailbox, Sequence, check_timezone


def zone_name(sequence: Sequence, mailbox: Mailbox | None, contact_fields: Mapping[str, Any]) -> str:
    """The contact's `timezone` field wins, then the sequence calendar's, the mailbox's, UTC."""
    own = contact_fields.get("timezone")
    if isinstance(own, str) and own:
        try:
            return check_timezone(own)
        except ValueError:
            pass  # reported when the contact was imported; fall back rather than stall
    if sequence.calendar is not None and "timezone" in sequence.calendar.model_fields_set:
        return sequence.calendar.timezone
    if mailbox is not None and mailbox.timezone:
        return mailbox.timezone
    return "UTC"


def calendar_for(
    sequence: Sequence, mailbox: Mailbox | None, contact_fields: Mapping[str, Any]
) -> SendCalendar:
    zone = zone_name(sequence, mailbox, contact_fields)
    spec = sequence.calendar
    if spec is None:
        return SendCalendar.build(zone)
    window = spec.window
    return SendCalendar.build(
        zone,
        days=list(window.days) if window else None,
        start=window.start if window else None,
        end=window.end if window else None,
        holidays=parse_holidays(spec.holidays),
    )


@dataclass(frozen=True)
class NextStep:
    step_id: str | None  # None: the sequence is complete
    due_at: datetime | None


def step_due_at(sequence: Sequence, calendar: SendCalendar, step_id: str, ran_at: datetime) -> datetime:
    """When `step_id` runs if the step before it ran at `ran_at`."""
    step = sequence.step(step_id)
    return calendar.due_at(ran_at, step.wait, step.at, windowed=isinstance(step, EmailStep))


def plan_next(
    sequence: Sequence,
    calendar: SendCalendar,
    current_step: str,
    ran_at: datetime,
    chosen: str | None = None,
) -> NextStep:
    """The step after `current_step` and when it is due, counted from when this one ran."""
    following = following_step(sequence, current_step, chosen)
    if following is None:
        return NextStep(None, None)
    return NextStep(following, step_due_at(sequence, calendar, following, ran_at))
