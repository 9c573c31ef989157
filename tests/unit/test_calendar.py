"""The calendar is pure: exact instants, no database, no clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from seqctl.engine.calendar import NoSendTime, SendCalendar, parse_holidays
from seqctl.spec.durations import parse_duration
from tests.conftest import at

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
NEW_YORK = SendCalendar.build("America/New_York", WEEKDAYS, time(9), time(17), parse_holidays("US"))


@pytest.mark.parametrize(
    ("base", "wait", "at_time", "windowed", "expected", "why"),
    [
        (
            "2026-11-20T15:00:00-05:00",
            "1d",
            time(10),
            True,
            "2026-11-23T10:00:00-05:00",
            "Friday + 1d at 10:00 → Monday",
        ),
        (
            "2026-11-20T15:00:00-05:00",
            "1bd",
            None,
            True,
            "2026-11-23T15:00:00-05:00",
            "one allowed day keeps the time",
        ),
        (
            "2026-11-25T15:00:00-05:00",
            "1d",
            time(10),
            True,
            "2026-11-27T10:00:00-05:00",
            "Thanksgiving is skipped",
        ),
        (
            "2026-11-23T08:00:00-05:00",
            None,
            time(10),
            True,
            "2026-11-23T10:00:00-05:00",
            "at after the wait's end: same day",
        ),
        (
            "2026-11-23T11:00:00-05:00",
            None,
            time(10),
            True,
            "2026-11-24T10:00:00-05:00",
            "at before the wait's end: next day",
        ),
        (
            "2026-11-23T18:30:00-05:00",
            None,
            None,
            True,
            "2026-11-24T09:00:00-05:00",
            "after the window: next opening",
        ),
        (
            "2026-11-21T12:00:00-05:00",
            None,
            None,
            True,
            "2026-11-23T09:00:00-05:00",
            "Saturday: Monday's opening",
        ),
        ("2026-11-21T12:00:00-05:00", None, None, False, "2026-11-21T12:00:00-05:00", "not windowed: now"),
        ("2026-11-23T10:00:00-05:00", "4h", None, True, "2026-11-23T14:00:00-05:00", "hours are absolute"),
        (
            "2026-11-23T16:00:00-05:00",
            "4h",
            None,
            True,
            "2026-11-24T09:00:00-05:00",
            "hours past the window close",
        ),
        (
            "2026-03-06T10:00:00-05:00",
            "3d",
            None,
            True,
            "2026-03-09T10:00:00-04:00",
            "3d keeps 10:00 across spring-forward",
        ),
        (
            "2026-10-30T10:00:00-04:00",
            "3d",
            None,
            True,
            "2026-11-02T10:00:00-05:00",
            "3d keeps 10:00 across fall-back",
        ),
    ],
)
def test_due_at(
    base: str, wait: str | None, at_time: time | None, windowed: bool, expected: str, why: str
) -> None:
    duration = parse_duration(wait) if wait else None
    assert NEW_YORK.due_at(at(base), duration, at_time, windowed=windowed) == at(expected), why


def test_localize__spring_forward_gap_moves_to_the_first_instant_after_it() -> None:
    calendar = SendCalendar.build("America/New_York")
    assert calendar.localize(date(2026, 3, 8), time(2, 30)) == at("2026-03-08T03:00:00-04:00")


def test_localize__ambiguous_fall_back_time_takes_the_first_occurrence() -> None:
    calendar = SendCalendar.build("America/New_York")
    assert calendar.localize(date(2026, 11, 1), time(1, 30)) == at("2026-11-01T01:30:00-04:00")


def test_half_hour_and_quarter_hour_zones() -> None:
    kolkata = SendCalendar.build("Asia/Kolkata", WEEKDAYS, time(9), time(17))
    assert kolkata.next_opening(at("2026-11-23T00:00:00Z")) == at("2026-11-23T09:00:00+05:30")
    chatham = SendCalendar.build("Pacific/Chatham", WEEKDAYS, time(9), time(17))
    # Chatham is +13:45 in (southern) summer.
    assert chatham.next_opening(at("2026-11-23T00:00:00Z")) == at("2026-11-23T00:00:00Z")  # 13:45 Monday
    assert chatham.next_opening(at("2026-11-23T05:00:00Z")) == at(
        "2026-11-24T09:00:00+13:45"
    )  # 18:45 → Tuesday


def test_explicit_holiday_dates() -> None:
    calendar = SendCalendar.build(
        "UTC", WEEKDAYS, time(9), time(17), parse_holidays(["2026-12-24", "2026-12-25"])
    )
    assert calendar.next_opening(at("2026-12-24T10:00:00Z")) == at("2026-12-28T09:00:00Z")


def test_unknown_holiday_country_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown country"):
        parse_holidays("XX")


def test_a_calendar_with_no_allowed_day_raises_instead_of_looping() -> None:
    everything_is_a_holiday = SendCalendar.build(
        "UTC",
        ["mon"],
        holidays=parse_holidays([f"2026-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)]),
    )
    never = SendCalendar(days=frozenset(), holidays=everything_is_a_holiday.holidays)
    with pytest.raises(NoSendTime):
        never.next_opening(datetime(2026, 1, 1, tzinfo=UTC))
