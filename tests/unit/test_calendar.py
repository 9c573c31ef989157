"""The calendar is pure: exact instants, no database, no clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

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
    never = SendCalendar(hours=(None,) * 7, holidays=everything_is_a_holiday.holidays)
    with pytest.raises(NoSendTime):
        never.next_opening(datetime(2026, 1, 1, tzinfo=UTC))


BERLIN = SendCalendar.build("Europe/Berlin", WEEKDAYS, time(9), time(17), parse_holidays("DE"))
LONDON = SendCalendar.build("Europe/London", WEEKDAYS, time(9), time(17), parse_holidays("GB"))
KOLKATA = SendCalendar.build("Asia/Kolkata", WEEKDAYS, time(9), time(17))
CHATHAM = SendCalendar.build("Pacific/Chatham", WEEKDAYS, time(9), time(17))
ANYTIME_NY = SendCalendar.build("America/New_York")


@pytest.mark.parametrize(
    ("calendar", "base", "wait", "at_time", "windowed", "expected", "why"),
    [
        # US DST, 2026 and 2027, both directions: days keep the wall time, hours do not.
        (
            NEW_YORK,
            "2027-03-12T10:00:00-05:00",
            "3d",
            None,
            True,
            "2027-03-15T10:00:00-04:00",
            "US spring 2027",
        ),
        (
            NEW_YORK,
            "2027-11-05T10:00:00-04:00",
            "3d",
            None,
            True,
            "2027-11-08T10:00:00-05:00",
            "US fall 2027",
        ),
        (
            ANYTIME_NY,
            "2026-03-08T00:00:00-05:00",
            "4h",
            None,
            False,
            "2026-03-08T05:00:00-04:00",
            "4h across the gap is 4 real hours",
        ),
        (
            ANYTIME_NY,
            "2026-11-01T00:00:00-04:00",
            "4h",
            None,
            False,
            "2026-11-01T03:00:00-05:00",
            "4h across fall-back",
        ),
        (
            ANYTIME_NY,
            "2026-03-08T00:00:00-05:00",
            None,
            time(2, 30),
            False,
            "2026-03-08T03:00:00-04:00",
            "at 02:30 in the gap → 03:00",
        ),
        (
            ANYTIME_NY,
            "2026-11-01T00:00:00-04:00",
            None,
            time(1, 30),
            False,
            "2026-11-01T01:30:00-04:00",
            "ambiguous 01:30 → first",
        ),
        (
            ANYTIME_NY,
            "2027-03-14T00:00:00-05:00",
            "1d",
            time(2, 15),
            False,
            "2027-03-15T02:15:00-04:00",
            "the day after the 2027 gap",
        ),
        # EU DST, 2026 and 2027.
        (
            BERLIN,
            "2026-03-27T10:00:00+01:00",
            "3d",
            None,
            True,
            "2026-03-30T10:00:00+02:00",
            "EU spring 2026",
        ),
        (BERLIN, "2026-10-23T10:00:00+02:00", "3d", None, True, "2026-10-26T10:00:00+01:00", "EU fall 2026"),
        (
            BERLIN,
            "2027-03-26T10:00:00+01:00",
            "3d",
            None,
            True,
            "2027-03-30T09:00:00+02:00",
            "EU spring 2027 lands on Easter Monday: Tuesday's opening",
        ),
        (BERLIN, "2027-10-29T10:00:00+02:00", "3d", None, True, "2027-11-01T10:00:00+01:00", "EU fall 2027"),
        (
            LONDON,
            "2026-03-27T10:00:00+00:00",
            "3d",
            time(11),
            True,
            "2026-03-30T11:00:00+01:00",
            "London: at keeps local 11:00",
        ),
        (
            LONDON,
            "2027-10-29T16:00:00+01:00",
            "1bd",
            None,
            True,
            "2027-11-01T16:00:00+00:00",
            "1bd across fall-back keeps 16:00",
        ),
        # Half- and quarter-hour zones.
        (
            KOLKATA,
            "2026-11-27T16:30:00+05:30",
            "1bd",
            None,
            True,
            "2026-11-30T16:30:00+05:30",
            "Kolkata Friday + 1bd",
        ),
        (
            KOLKATA,
            "2026-11-27T16:30:00+05:30",
            "1d",
            time(10),
            True,
            "2026-11-30T10:00:00+05:30",
            "Kolkata 1d at 10:00",
        ),
        (
            CHATHAM,
            "2026-09-25T10:00:00+12:45",
            "3d",
            None,
            True,
            "2026-09-28T10:00:00+13:45",
            "Chatham DST starts",
        ),
        (
            CHATHAM,
            "2027-04-02T10:00:00+13:45",
            "3d",
            None,
            True,
            "2027-04-05T10:00:00+12:45",
            "Chatham DST ends",
        ),
        (
            CHATHAM,
            "2026-11-27T16:00:00+13:45",
            "2h",
            None,
            True,
            "2026-11-30T09:00:00+13:45",
            "Chatham after hours → Monday",
        ),
        # Holidays and `at`.
        (
            NEW_YORK,
            "2027-01-15T15:00:00-05:00",
            "1d",
            time(10),
            True,
            "2027-01-19T10:00:00-05:00",
            "Friday + 1d at 10:00, Monday is MLK Day",
        ),
        (
            NEW_YORK,
            "2027-01-15T15:00:00-05:00",
            "1bd",
            None,
            True,
            "2027-01-19T15:00:00-05:00",
            "1bd skips the holiday",
        ),
        (
            NEW_YORK,
            "2026-12-24T12:00:00-05:00",
            None,
            None,
            True,
            "2026-12-24T12:00:00-05:00",
            "Christmas Eve is a working day",
        ),
        (
            NEW_YORK,
            "2026-12-24T17:30:00-05:00",
            None,
            None,
            True,
            "2026-12-28T09:00:00-05:00",
            "Christmas Day (Friday) skipped",
        ),
        (
            NEW_YORK,
            "2026-11-24T09:59:00-05:00",
            None,
            time(10),
            True,
            "2026-11-24T10:00:00-05:00",
            "at just after the wait's end",
        ),
        (
            NEW_YORK,
            "2026-11-24T10:00:01-05:00",
            None,
            time(10),
            True,
            "2026-11-25T10:00:00-05:00",
            "at just before the wait's end",
        ),
    ],
)
def test_due_at_across_zones_dst_and_holidays(
    calendar: SendCalendar,
    base: str,
    wait: str | None,
    at_time: time | None,
    windowed: bool,
    expected: str,
    why: str,
) -> None:
    duration = parse_duration(wait) if wait else None
    assert calendar.due_at(at(base), duration, at_time, windowed=windowed) == at(expected), why


SHORT_FRIDAY = SendCalendar.build(
    "America/New_York", WEEKDAYS, time(9), time(17), overrides={"fri": (None, time(13))}
)


def test_per_day_override_shortens_friday() -> None:
    assert SHORT_FRIDAY.next_opening(at("2026-11-20T12:59:00-05:00")) == at("2026-11-20T12:59:00-05:00")
    assert SHORT_FRIDAY.next_opening(at("2026-11-20T13:00:00-05:00")) == at("2026-11-23T09:00:00-05:00")
    # An `at` that Friday's hours do not hold runs at that time on the next day that does.
    assert SHORT_FRIDAY.due_at(at("2026-11-20T08:00:00-05:00"), None, time(15), windowed=True) == at(
        "2026-11-23T15:00:00-05:00"
    )
    assert SHORT_FRIDAY.due_at(at("2026-11-19T08:00:00-05:00"), None, time(15), windowed=True) == at(
        "2026-11-19T15:00:00-05:00"
    )


def spreading(seed: int) -> SendCalendar:
    return SendCalendar.build(
        "America/New_York", WEEKDAYS, time(9), time(17), spread=timedelta(minutes=45), spread_seed=seed
    )


def test_spread_scatters_openings_and_at_times_but_not_mid_window_times() -> None:
    saturday = at("2026-11-21T12:00:00-05:00")
    monday_nine = at("2026-11-23T09:00:00-05:00")
    offsets = {
        spreading(seed).due_at(saturday, None, None, windowed=True) - monday_nine for seed in range(500)
    }
    assert min(offsets) == timedelta(0) and max(offsets) == timedelta(minutes=44)
    assert len(offsets) == 45  # every minute of the spread is used
    assert spreading(7).due_at(saturday, None, None, windowed=True) == monday_nine + timedelta(minutes=7)
    assert spreading(7).due_at(saturday, None, time(10), windowed=True) == at("2026-11-23T10:07:00-05:00")
    mid_window = at("2026-11-23T11:23:00-05:00")
    assert spreading(7).due_at(mid_window, None, None, windowed=True) == mid_window
    # Never past the window's end: at 16:50 only ten minutes are left.
    late = spreading(44).due_at(at("2026-11-23T08:00:00-05:00"), None, time(16, 50), windowed=True)
    assert at("2026-11-23T16:50:00-05:00") <= late < at("2026-11-23T17:00:00-05:00")


def test_per_day_limit_resets_at_the_mailbox_calendars_local_midnight() -> None:
    from seqctl.engine.limits import day_start, held_until
    from seqctl.spec.mailboxes import Limits

    tokyo = SendCalendar.build("Asia/Tokyo")
    now = at("2026-11-23T14:30:00Z")  # 23:30 in Tokyo
    assert day_start(tokyo, now) == at("2026-11-23T00:00:00+09:00")
    held = held_until(Limits(per_day=2), now=now, last_hour=0, since_day_start=2,
                      oldest_in_hour=None, latest=None, calendar=tokyo)  # fmt: skip
    assert held == (at("2026-11-24T00:00:00+09:00"), "per_day 2 reached")
    # On the fall-back day New York's day is 25 hours long.
    new_york = SendCalendar.build("America/New_York")
    sunday = at("2026-11-01T12:00:00-05:00")
    assert day_start(new_york, sunday) == at("2026-11-01T00:00:00-04:00")
    held = held_until(Limits(per_day=1), now=sunday, last_hour=0, since_day_start=1,
                      oldest_in_hour=None, latest=None, calendar=new_york)  # fmt: skip
    assert held is not None and held[0] == at("2026-11-02T00:00:00-05:00")


def test_zone_data_comes_from_the_tzdata_package_not_the_host() -> None:
    import zoneinfo

    import seqctl  # noqa: F401 - importing seqctl pins the zone source

    assert zoneinfo.TZPATH == ()
    assert zoneinfo.ZoneInfo.no_cache("Pacific/Chatham").utcoffset(datetime(2026, 11, 23)) == timedelta(
        hours=13, minutes=45
    )
