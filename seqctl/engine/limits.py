"""Mailbox send limits: when may the next email go out?"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from seqctl.engine.calendar import SendCalendar
from seqctl.spec.mailboxes import Limits


def day_start(calendar: SendCalendar, now: datetime) -> datetime:
    """Local midnight of the mailbox calendar's day containing `now`."""
    return calendar.localize(calendar.local_date(now), time(0, 0))


def held_until(
    limits: Limits,
    *,
    now: datetime,
    last_hour: int,
    since_day_start: int,
    oldest_in_hour: datetime | None,
    latest: datetime | None,
    calendar: SendCalendar,
) -> tuple[datetime, str] | None:
    """None if an email may go now; else (earliest time it may, which limit holds it)."""
    holds: list[tuple[datetime, str]] = []
    if limits.per_day is not None and since_day_start >= limits.per_day:
        tomorrow = calendar.local_date(now) + timedelta(days=1)
        holds.append((calendar.localize(tomorrow, time(0, 0)), f"per_day limit {limits.per_day}"))
    if limits.per_hour is not None and last_hour >= limits.per_hour and oldest_in_hour is not None:
        holds.append((oldest_in_hour + timedelta(hours=1), f"per_hour limit {limits.per_hour}"))
    if limits.min_gap is not None and latest is not None:
        gap_ends = latest + limits.min_gap.as_timedelta()
        if gap_ends > now:
            holds.append((gap_ends, f"min_gap {limits.min_gap}"))
    return max(holds) if holds else None
