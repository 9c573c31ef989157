"""When a step may run: waits, `at`, send windows and holidays, in a local time zone.

Every function takes and returns timezone-aware datetimes and reads no clock.
Local days are the calendar's zone's days: `3d` keeps 10:00 at 10:00 across DST,
while `4h` is four real hours. A local time inside a spring-forward gap becomes the
first instant after the gap; an ambiguous fall-back time is its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from seqctl.errors import InvalidInput
from seqctl.spec.durations import Duration

# How far ahead a schedule may look before the calendar is declared impossible.
SEARCH_DAYS = 400
_WEEKDAY_NUMBER = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_COUNTRY = re.compile(r"^([A-Z]{2,3})(?:-([A-Z0-9]{1,5}))?$")


class NoSendTime(InvalidInput):
    """No allowed time exists within a year: the calendar's window or holidays exclude every day."""


@dataclass(frozen=True)
class HolidayRules:
    """Country holidays (from the `holidays` package) plus explicit dates."""

    countries: tuple[tuple[str, str | None], ...] = ()
    dates: frozenset[date] = frozenset()

    def __contains__(self, day: date) -> bool:
        if day in self.dates:
            return True
        return any(day in _country_holidays(country, subdiv) for country, subdiv in self.countries)


@lru_cache(maxsize=64)
def _country_holidays(country: str, subdiv: str | None) -> object:
    import holidays

    return holidays.country_holidays(country, subdiv=subdiv)


def parse_holidays(value: str | list[str] | None) -> HolidayRules:
    """`US`, `GB-SCT`, `2026-12-24`, or a list of those; raise ValueError naming a bad entry."""
    import holidays

    items = [value] if isinstance(value, str) else list(value or [])
    countries: list[tuple[str, str | None]] = []
    dates: set[date] = set()
    for item in items:
        text = str(item).strip()
        if isinstance(item, date):
            dates.add(item)
            continue
        try:
            dates.add(date.fromisoformat(text))
            continue
        except ValueError:
            pass
        match = _COUNTRY.match(text.upper())
        if not match:
            raise ValueError(f"holidays: {text!r} is neither a country code (US, GB-SCT) nor a date")
        country, subdiv = match.group(1), match.group(2)
        try:
            holidays.country_holidays(country, subdiv=subdiv)
        except (NotImplementedError, KeyError):
            raise ValueError(f"holidays: unknown country {country!r}") from None
        except ValueError as exc:
            raise ValueError(f"holidays: {exc}") from None
        countries.append((country, subdiv))
    return HolidayRules(tuple(countries), frozenset(dates))


@dataclass(frozen=True)
class SendCalendar:
    """A zone plus the allowed days and daily window in which automated emails go out."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    days: frozenset[int] = frozenset(range(7))
    start: time = time(0, 0)
    end: time = time.max  # time.max stands for 24:00, the exclusive end of the day
    holidays: HolidayRules = HolidayRules()

    @classmethod
    def build(
        cls,
        timezone: str,
        days: list[str] | None = None,
        start: time | None = None,
        end: time | None = None,
        holidays: HolidayRules | None = None,
    ) -> SendCalendar:
        return cls(
            zone=ZoneInfo(timezone),
            days=frozenset(_WEEKDAY_NUMBER[d] for d in days) if days else frozenset(range(7)),
            start=start or time(0, 0),
            end=end or time.max,
            holidays=holidays or HolidayRules(),
        )

    def is_allowed_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def localize(self, day: date, clock: time) -> datetime:
        """The UTC instant of wall time `clock` on local `day` (gap → after it, overlap → first)."""
        wall = datetime.combine(day, clock)
        first = wall.replace(tzinfo=self.zone, fold=0)
        if first.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == wall:
            return first.astimezone(UTC)
        # `wall` falls in a spring-forward gap: find the transition by bisection.
        low = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        high = first.astimezone(UTC)
        low, high = min(low, high), max(low, high)
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if middle.astimezone(self.zone).replace(tzinfo=None) >= wall:
                high = middle
            else:
                low = middle
        return high.replace(microsecond=0)

    def window_bounds(self, day: date) -> tuple[datetime, datetime]:
        opens = self.localize(day, self.start)
        closes = (
            self.localize(day + timedelta(days=1), time(0, 0))
            if self.end == time.max
            else self.localize(day, self.end)
        )
        return opens, closes

    def add_wait(self, base: datetime, wait: Duration) -> datetime:
        """`base` plus the wait: absolute for s/m/h, local calendar days for d/w, allowed days for bd."""
        if wait.is_absolute:
            return base + wait.as_timedelta()
        local = base.astimezone(self.zone)
        day = local.date()
        if wait.unit == "bd":
            remaining = wait.amount
            for _ in range(wait.amount * 7 + SEARCH_DAYS):
                if remaining == 0:
                    break
                day += timedelta(days=1)
                if self.is_allowed_day(day):
                    remaining -= 1
            else:
                raise NoSendTime()
        else:
            day += timedelta(days=wait.calendar_days)
        return self.localize(day, local.time())

    def next_opening(self, instant: datetime) -> datetime:
        """The first instant at or after `instant` inside the window on an allowed day."""
        day = self.local_date(instant) - timedelta(
            days=1
        )  # a window may still be open from "yesterday" in UTC terms
        for _ in range(SEARCH_DAYS):
            if self.is_allowed_day(day):
                opens, closes = self.window_bounds(day)
                if instant < opens:
                    return opens
                if instant < closes:
                    return instant
            day += timedelta(days=1)
        raise NoSendTime()

    def next_at(self, instant: datetime, clock: time, *, allowed_days_only: bool) -> datetime:
        """The first local `clock` time at or after `instant` (on an allowed day, if asked)."""
        day = self.local_date(instant)
        for _ in range(SEARCH_DAYS):
            candidate = self.localize(day, clock)
            if candidate >= instant and (not allowed_days_only or self.is_allowed_day(day)):
                return candidate
            day += timedelta(days=1)
        raise NoSendTime()

    def due_at(self, base: datetime, wait: Duration | None, at: time | None, *, windowed: bool) -> datetime:
        """When a step runs, given when the previous one ran.

        `windowed` steps (automated emails) keep to allowed days and the window; when the
        window or a holiday pushes a step with `at` to a later day it runs at `at` there.
        """
        earliest = self.add_wait(base, wait) if wait is not None else base
        if at is not None:
            candidate = self.next_at(earliest, at, allowed_days_only=windowed)
            if not windowed or self.next_opening(candidate) == candidate:
                return candidate
            # `at` lies outside the window (a per-contact zone can do that): first opening after.
            return self.next_opening(candidate)
        return self.next_opening(earliest) if windowed else earliest
