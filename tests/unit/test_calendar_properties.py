"""Property-based checks of the calendar against a brute-force oracle written from the rules.

The oracle reads wall-clock time directly (`instant.astimezone(zone)`), minute by minute,
so it shares no search code with the calendar. Windows open and close between 04:00 and
24:00, away from the 00:00-03:59 hours in which every zone here changes its clocks; the
gap and fold rules have exact table tests in test_calendar.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqctl.engine.calendar import HolidayRules, SendCalendar
from seqctl.spec.durations import Duration

ZONES = [
    "UTC", "America/New_York", "America/Los_Angeles", "Europe/Berlin", "Europe/London",
    "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe", "America/St_Johns", "Asia/Tehran",
]  # fmt: skip
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

clock = st.builds(time, st.integers(4, 23), st.sampled_from([0, 15, 30, 45]))


@st.composite
def calendars(draw: st.DrawFn) -> SendCalendar:
    days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
    start = draw(clock)
    end = draw(clock.filter(lambda c: c > start) | st.just(time.max))
    overrides = {}
    if draw(st.booleans()):
        day = draw(st.sampled_from(days))
        own_end = draw(clock.filter(lambda c: c > start) | st.just(time.max))
        overrides[day] = (None, own_end)
    holidays = draw(st.frozensets(st.dates(date(2026, 1, 1), date(2028, 12, 31)), max_size=40))
    return SendCalendar.build(
        draw(st.sampled_from(ZONES)), days, start, end, HolidayRules(dates=holidays), overrides=overrides
    )


instants = st.datetimes(datetime(2026, 1, 1), datetime(2028, 6, 30)).map(lambda d: d.replace(tzinfo=UTC))
waits = st.none() | st.builds(
    Duration, st.integers(0, 10), st.sampled_from(["m", "h", "d", "bd"])
)  # fmt: skip


def allowed(calendar: SendCalendar, instant: datetime) -> bool:
    """Inside the window on an allowed day, by wall-clock time (the oracle)."""
    local = instant.astimezone(calendar.zone)
    hours = calendar.hours[local.weekday()]
    if hours is None or local.date() in calendar.holidays:
        return False
    start, end = hours
    return start <= local.time() and (end == time.max or local.time() < end)


def wait_end(calendar: SendCalendar, base: datetime, wait: Duration | None) -> datetime:
    """The wait's end by the rules, computed naively: local days by wall time, `bd` by counting."""
    if wait is None:
        return base
    if wait.is_absolute:
        return base + wait.as_timedelta()
    local = base.astimezone(calendar.zone)
    day, remaining = local.date(), wait.amount
    if wait.unit == "d":
        day += timedelta(days=wait.amount)
    while wait.unit == "bd" and remaining:
        day += timedelta(days=1)
        if calendar.hours[day.weekday()] is not None and day not in calendar.holidays:
            remaining -= 1
    return calendar.localize(day, local.time())  # the gap/fold rule, tested exactly elsewhere


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendar=calendars(), base=instants, wait=waits)
def test_a_send_time_is_allowed_after_the_wait_and_the_earliest_such_minute(
    calendar: SendCalendar, base: datetime, wait: Duration | None
) -> None:
    due = calendar.due_at(base, wait, None, windowed=True)
    earliest = wait_end(calendar, base, wait)
    assert due >= earliest
    assert allowed(calendar, due)
    assert due.astimezone(calendar.zone).date() not in calendar.holidays
    # Minimal: no earlier minute from the wait's end on is allowed.
    probe = earliest
    while probe < due:
        assert not allowed(calendar, probe), (probe, due)
        probe = (probe + timedelta(minutes=1)).replace(second=0, microsecond=0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendar=calendars(), base=instants, wait=waits, at_time=clock)
def test_an_at_step_runs_at_that_local_time_on_the_first_day_that_allows_it(
    calendar: SendCalendar, base: datetime, wait: Duration | None, at_time: time
) -> None:
    if not any(h is not None and h[0] <= at_time < h[1] for h in calendar.hours):
        return  # validation refuses an `at` outside the window on every day
    due = calendar.due_at(base, wait, at_time, windowed=True)
    earliest = wait_end(calendar, base, wait)
    local = due.astimezone(calendar.zone)
    assert due >= earliest and allowed(calendar, due)
    assert local.time() == at_time
    day = earliest.astimezone(calendar.zone).date()
    while day < local.date():  # no earlier day had `at` free, after the wait, in its window
        candidate = datetime.combine(day, at_time, tzinfo=calendar.zone)
        assert candidate < earliest or not allowed(calendar, candidate), (candidate, due)
        day += timedelta(days=1)


@settings(max_examples=100, deadline=None)
@given(calendar=calendars(), base=instants, seed=st.integers(0, 2**32 - 1), spread=st.integers(1, 120))
def test_spread_stays_in_the_window_and_within_the_spread(
    calendar: SendCalendar, base: datetime, seed: int, spread: int
) -> None:
    exact = calendar.due_at(base, None, None, windowed=True)
    spread_calendar = SendCalendar(
        calendar.zone, calendar.hours, calendar.holidays, timedelta(minutes=spread), seed
    )
    scattered = spread_calendar.due_at(base, None, None, windowed=True)
    assert exact <= scattered < exact + timedelta(minutes=spread)
    assert allowed(calendar, scattered)
