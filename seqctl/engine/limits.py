"""Mailbox send limits: when may the next email go out?"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from seqctl.engine.calendar import SendCalendar
from seqctl.spec.mailboxes import Limits


def day_start(calendar: SendCalendar, now: datetime) -> datetime:
    """Local midnight of the mailbox calendar's day containing `now`."""
    return calendar.localize(calendar.local_date(now), time(0, 0))


# Cron starts a tick a second or two after the minute and a tick sends a few seconds into
# its run, so with `min_gap: 60s` and a tick every minute the next send would always find
# the gap a second or two short and wait for the tick after: one send every two minutes.
# A send due within this much of the gap's end goes now (never more than a quarter of the gap).
MIN_GAP_SLACK = timedelta(seconds=10)


def gap_slack(gap: timedelta) -> timedelta:
    return min(MIN_GAP_SLACK, gap / 4)


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
        holds.append((calendar.localize(tomorrow, time(0, 0)), f"per_day {limits.per_day} reached"))
    if limits.per_hour is not None and last_hour >= limits.per_hour and oldest_in_hour is not None:
        holds.append((oldest_in_hour + timedelta(hours=1), f"per_hour {limits.per_hour} reached"))
    if limits.min_gap is not None and latest is not None:
        gap = limits.min_gap.as_timedelta()
        gap_ends = latest + gap
        if gap_ends - gap_slack(gap) > now:
            holds.append((gap_ends, f"min_gap {limits.min_gap}"))
    return max(holds) if holds else None


def sendable(limits: Limits, *, last_hour: int, since_day_start: int) -> int | None:
    """How many emails a mailbox that no limit holds now may send in one tick (None: no
    limit). A tick sends without waiting, so `min_gap` allows one."""
    room = [
        limit - used
        for limit, used in ((limits.per_day, since_day_start), (limits.per_hour, last_hour))
        if limit is not None
    ]
    if limits.min_gap is not None:
        room.append(1)
    return max(0, min(room)) if room else None


def describe_hold(until: datetime, why: str, calendar: SendCalendar) -> str:
    """"per_day 200 reached; frees at 2026-12-02 00:00 EST" (in the mailbox's zone)."""
    return f"{why}; frees at {until.astimezone(calendar.zone):%Y-%m-%d %H:%M %Z}"
