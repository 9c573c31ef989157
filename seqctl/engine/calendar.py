"""When a step may run: waits, `at`, send windows and holidays, in a local time zone.

Every function takes and returns timezone-aware datetimes and reads no clock.
Local days are the calendar's zone's days: `3d` keeps 10:00 at 10:00 across DST,
while `4h` is four real hours. A local time inside a spring-forward gap becomes the
first instant after the gap; an ambiguous fall-back time is its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from seqctl.errors import InvalidInput

if TYPE_CHECKING:
    from seqctl.spec.models import Weekday
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
def _country_holidays(country: str, subdiv: str | None) -> Container[date]:
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


OpenHours = tuple[time, time]  # (start, end); end time.max stands for 24:00


@dataclass(frozen=True)
class SendCalendar:
    """A zone plus each weekday's hours (None: not a sending day), holidays and spread.

    `spread` scatters what the calendar would start at one instant for everybody (a
    window's opening, an `at` time) over that many minutes after it, at an offset fixed
    by `spread_seed` (one per enrollment), never past the window's end.
    """

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    hours: tuple[OpenHours | None, ...] = ((time(0, 0), time.max),) * 7
    holidays: HolidayRules = HolidayRules()
    spread: timedelta = timedelta(0)
    spread_seed: int = 0

    @classmethod
    def build(
        cls,
        timezone: str,
        days: list[str] | None = None,
        start: time | None = None,
        end: time | None = None,
        holidays: HolidayRules | None = None,
        *,
        overrides: Mapping[Weekday, tuple[time | None, time | None]] | None = None,
        spread: timedelta | None = None,
        spread_seed: int = 0,
    ) -> SendCalendar:
        """`overrides` maps a weekday ("fri") to its own (start, end); None keeps the default."""
        allowed = {_WEEKDAY_NUMBER[d] for d in days} if days else set(range(7))
        default = (start or time(0, 0), end or time.max)
        own = {_WEEKDAY_NUMBER[d]: hours for d, hours in (overrides or {}).items()}
        hours: list[OpenHours | None] = []
        for weekday in range(7):
            if weekday not in allowed:
                hours.append(None)
                continue
            day_start, day_end = own.get(weekday, (None, None))
            hours.append((day_start or default[0], day_end or default[1]))
        return cls(
            zone=ZoneInfo(timezone),
            hours=tuple(hours),
            holidays=holidays or HolidayRules(),
            spread=spread or timedelta(0),
            spread_seed=spread_seed,
        )

    def is_allowed_day(self, day: date) -> bool:
        return self.hours[day.weekday()] is not None and day not in self.holidays

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
        """The window of a sending day (its weekday must have hours)."""
        hours = self.hours[day.weekday()]
        assert hours is not None, day
        start, end = hours
        opens = self.localize(day, start)
        closes = (
            self.localize(day + timedelta(days=1), time(0, 0)) if end == time.max else self.localize(day, end)
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
        Without `spread` the result is the earliest such instant.
        """
        earliest = self.add_wait(base, wait) if wait is not None else base
        if not windowed:
            return self.next_at(earliest, at, allowed_days_only=False) if at is not None else earliest
        if at is not None:
            return self._spread(self._next_at_in_window(earliest, at), pinned=True)
        return self._spread(self.next_opening(earliest), pinned=False)

    def _next_at_in_window(self, instant: datetime, clock: time) -> datetime:
        """The first local `clock` time at or after `instant` on an allowed day whose window
        holds it (a shorter Friday skips a 15:00 step to Monday 15:00)."""
        day = self.local_date(instant)
        for _ in range(SEARCH_DAYS):
            if self.is_allowed_day(day):
                candidate = self.localize(day, clock)
                opens, closes = self.window_bounds(day)
                if candidate >= instant and opens <= candidate < closes:
                    return candidate
            day += timedelta(days=1)
        raise NoSendTime()

    def _spread(self, instant: datetime, *, pinned: bool) -> datetime:
        """Shift a shared start (an opening, or an `at` time) by this enrollment's offset."""
        if not self.spread:
            return instant
        opens, closes = self.window_bounds(self.local_date(instant))  # windows end by midnight
        if not pinned and instant != opens:
            return instant  # a wait that ended inside the window: nobody piles up there
        room_minutes = int(min(self.spread, closes - instant).total_seconds() // 60)
        if room_minutes <= 1:
            return instant
        return instant + timedelta(minutes=self.spread_seed % room_minutes)
