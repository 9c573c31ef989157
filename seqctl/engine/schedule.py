"""The calendar an enrollment lives by, and when its next step is due."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from seqctl.engine.calendar import HolidayRules, SendCalendar, parse_holidays
from seqctl.engine.flow import following_step
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import Calendar, EmailStep, Owner, Sequence
from seqctl.zones import check_timezone


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
    sequence: Sequence, mailbox: Mailbox | None, contact_fields: Mapping[str, Any], email: str = ""
) -> SendCalendar:
    """The enrollment's calendar: the sequence's window and holidays in the contact's zone.

    The spread offset is fixed per (sequence, contact), so re-planning never moves it.
    """
    zone = zone_name(sequence, mailbox, contact_fields)
    return build_calendar(sequence.calendar, zone, spread_seed=_spread_seed(sequence, email))


def _spread_seed(sequence: Sequence, email: str) -> int:
    return zlib.crc32(f"{sequence.key}\0{email}".encode())


def calendars_for(sequence: Sequence, mailbox: Mailbox | None) -> Callable[[Mapping[str, Any], str], SendCalendar]:
    """`calendar_for` for many contacts of one sequence: each zone's calendar is built once
    (enrolling 50,000 contacts builds a handful), and shared when the window has no spread."""
    built: dict[str, SendCalendar] = {}

    def calendar(contact_fields: Mapping[str, Any], email: str) -> SendCalendar:
        zone = zone_name(sequence, mailbox, contact_fields)
        if zone not in built:
            built[zone] = build_calendar(sequence.calendar, zone)
        if not built[zone].spread:
            return built[zone]
        return replace(built[zone], spread_seed=_spread_seed(sequence, email))

    return calendar


def build_calendar(spec: Calendar | None, zone: str, *, spread_seed: int = 0) -> SendCalendar:
    if spec is None:
        return SendCalendar.build(zone)
    window = spec.window
    if window is None:
        return SendCalendar.build(zone, holidays=_holidays(spec.holidays))
    return SendCalendar.build(
        zone,
        days=list(window.days),
        start=window.start,
        end=window.end,
        holidays=_holidays(spec.holidays),
        overrides=window.day_hours(),
        spread=window.spread.as_timedelta() if window.spread else None,
        spread_seed=spread_seed,
    )


def _holidays(value: str | list[str] | None) -> HolidayRules:
    return _parsed_holidays(value if value is None or isinstance(value, str) else tuple(value))


@lru_cache(maxsize=256)
def _parsed_holidays(value: str | tuple[str, ...] | None) -> HolidayRules:
    return parse_holidays(list(value) if isinstance(value, tuple) else value)


def working_hours(owner: Owner | None, sequence: Sequence, mailbox: Mailbox | None) -> SendCalendar:
    """When a person works: the task owner's own calendar, else the sequence's hours in the
    sequence's (else the mailbox's) zone, the team's rather than the prospect's."""
    if owner is not None and owner.calendar is not None:
        return build_calendar(owner.calendar, owner.calendar.timezone)
    return build_calendar(sequence.calendar, zone_name(sequence, mailbox, {}))


def sequence_start(sequence: Sequence, calendar: SendCalendar) -> datetime | None:
    """The sequence's `starts_at` as an instant; a date or a time without offset is local."""
    if sequence.starts_at is None:
        return None
    parsed = datetime.fromisoformat(sequence.starts_at)
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return calendar.localize(parsed.date(), parsed.time())


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
