"""Durations as written in sequence files: `90s`, `30m`, `4h`, `3d`, `1w`, `2bd`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_PATTERN = re.compile(r"^\s*(\d{1,12})\s*(s|m|h|d|w|bd)\s*$")
_ABSOLUTE_SECONDS = {"s": 1, "m": 60, "h": 3600}
# The longest wait or window a file may name. A typo like `999999999bd` would otherwise make
# every schedule computation walk the calendar for millions of days.
MAX_DAYS = 3653  # ten years
MAX_BUSINESS_DAYS = 2610  # ten years of five-day weeks


@dataclass(frozen=True)
class Duration:
    """An amount of time. `s`, `m`, `h` are absolute; `d` and `w` are calendar days in
    local time; `bd` counts allowed days of the calendar (window days that are not holidays)."""

    amount: int
    unit: str

    @property
    def is_absolute(self) -> bool:
        return self.unit in _ABSOLUTE_SECONDS

    @property
    def calendar_days(self) -> int:
        """Whole local days for `d`/`w` units."""
        return self.amount * (7 if self.unit == "w" else 1)

    def as_timedelta(self) -> timedelta:
        """Only for absolute units; `d`/`w` approximated as 24h days (used for windows)."""
        if self.unit in _ABSOLUTE_SECONDS:
            return timedelta(seconds=self.amount * _ABSOLUTE_SECONDS[self.unit])
        if self.unit in ("d", "w"):
            return timedelta(days=self.calendar_days)
        raise ValueError("business days have no fixed length")

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_duration(text: object) -> Duration:
    """Parse `30m`-style text; raise ValueError with a readable reason otherwise."""
    if isinstance(text, Duration):
        return text
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"a duration is text like 30m, 4h, 3d or 2bd, not {text!r}")
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(
            f"bad duration {text!r}: write a number and a unit "
            "(s, m, h, d, w, or bd for allowed business days), e.g. 3d"
        )
    duration = Duration(int(match.group(1)), match.group(2))
    if duration.unit == "bd":
        too_long = duration.amount > MAX_BUSINESS_DAYS
    else:
        too_long = duration.as_timedelta() > timedelta(days=MAX_DAYS)
    if too_long:
        raise ValueError(f"duration {text!r} is longer than ten years, the most a wait or window may be")
    return duration
