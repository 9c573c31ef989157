"""The sequence-file format as frozen pydantic models; unknown keys are errors.

These models are the contract of SPEC section 2. Cross-field rules (dangling step
references, cycles, template syntax) live in `checks.py`.
"""

from __future__ import annotations

import re
import typing
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from seqctl.spec.durations import Duration
from seqctl.spec.fields import ClockTime, DurationField, Key, Strict
from seqctl.spec.mailboxes import ListUnsubscribe, Mailbox
from seqctl.spec.notify import NotifyTarget
from seqctl.zones import check_timezone

END = "end"  # where `next:` (or a branch) ends the enrollment; not a step id
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")

ExitEvent = Literal[
    "replied", "bounced", "unsubscribed", "complained", "meeting_booked", "auto_replied", "domain_replied"
]
EXIT_EVENTS: tuple[ExitEvent, ...] = typing.get_args(ExitEvent)
DEFAULT_EXIT_ON: tuple[ExitEvent, ...] = ("replied", "bounced", "unsubscribed", "meeting_booked")


class DayHours(Strict):
    """One weekday's own hours; an unset bound keeps the window's."""

    start: ClockTime | None = None
    end: ClockTime | None = None


class Window(Strict):
    days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS))
    start: ClockTime = time(0, 0)
    end: ClockTime = time.max
    overrides: dict[Weekday, DayHours] = Field(
        default_factory=dict, description='Per-weekday hours, e.g. {fri: {end: "13:00"}}'
    )
    spread: DurationField | None = Field(
        default=None,
        description="Scatter sends that would all start at the opening (or an `at` time) over this "
        "many minutes, at a fixed offset per enrollment",
    )

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a send window needs at least one day, or no send would ever go out")
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: time, info: Any) -> time:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError(_CROSSES_MIDNIGHT)
        return value

    @field_validator("spread")
    @classmethod
    def _spread(cls, value: Duration | None) -> Duration | None:
        if value is not None and (
            not value.is_absolute or not 0 < value.as_timedelta().total_seconds() <= 86400
        ):
            raise ValueError("spread is a length of time in m or h, at most 24h (e.g. 45m)")
        return value

    @model_validator(mode="after")
    def _overrides_fit(self) -> Window:
        for day in self.overrides:
            if day not in self.days:
                raise ValueError(f"overrides: {day} is not one of the window's days; add it to days")
        for weekday, (start, end) in self.day_hours().items():
            if end <= start:
                raise ValueError(f"overrides: {weekday} ends before it starts; " + _CROSSES_MIDNIGHT)
        return self

    def day_hours(self) -> dict[Weekday, tuple[time, time]]:
        """Each sending day's (start, end): its override where it has one, else the window's."""
        hours: dict[Weekday, tuple[time, time]] = {}
        for day in self.days:
            own = self.overrides.get(day) or DayHours()
            hours[day] = (own.start or self.start, own.end or self.end)
        return hours


_CROSSES_MIDNIGHT = (
    "the window's end must be after its start on the same day "
    "(windows that cross midnight are not supported: use two days' hours instead)"
)


class Calendar(Strict):
    timezone: str = "UTC"
    window: Window | None = None
    holidays: list[str] | str | None = Field(
        default=None,
        description="Country code (US, DE, GB-SCT...) and/or ISO dates (2026-12-24).",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("holidays", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 2026-12-24 as a date; the stored definition keeps text.
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, list):
            return [item.isoformat() if isinstance(item, date) else item for item in value]
        return value

    @field_validator("holidays")
    @classmethod
    def _holiday_codes(cls, value: list[str] | str | None) -> list[str] | str | None:
        from seqctl.engine.calendar import parse_holidays

        if value is not None:
            parse_holidays(value)
        return value


class StepBase(Strict):
    id: Key
    wait: DurationField | None = None
    at: ClockTime | None = None
    description: str | None = None

    @field_validator("at")
    @classmethod
    def _at_is_time(cls, value: time | None) -> time | None:
        if value == time.max:
            raise ValueError('"24:00" is not a time of day; use "00:00"')
        return value


class Variant(Strict):
    id: Key
    subject: str | None = None
    body: str
    html: str | None = None
    weight: int = Field(default=1, ge=1)


class EmailStep(StepBase):
    type: Literal["email"]
    subject: str | None = None
    body: str | None = None
    html: str | None = None
    variants: list[Variant] | None = None
    thread: bool = False
    next: str | None = None


class TaskStep(StepBase):
    type: Literal["task"]
    kind: Literal["email", "call", "linkedin", "todo"]
    note: str
    auto_complete: DurationField | None = None
    next: str | None = None


class Condition(Strict):
    event: Literal["opened", "clicked", "replied"]
    step: str | None = None
    within: DurationField | None = None
    negate: bool = Field(default=False, alias="not")
    url: str | None = Field(
        default=None,
        description="Only clicks on links matching this pattern (* matches anything), e.g. '*/pricing*'",
    )
    automated: bool = Field(
        default=False, description="Count opens and clicks that look automated (mail scanners) too"
    )

    @model_validator(mode="after")
    def _url_for_clicks(self) -> Condition:
        if self.url is not None and self.event != "clicked":
            raise ValueError("url: narrows clicks; use it with event: clicked")
        return self


class BranchStep(StepBase):
    type: Literal["branch"]
    if_: Condition = Field(alias="if")
    then: str
    else_: str = Field(alias="else")


class ActionStep(StepBase):
    type: Literal["action"]
    tag: list[str] | str | None = None
    untag: list[str] | str | None = None
    set: dict[str, str | int | float | bool] | None = None
    assign: str | None = None
    enroll: str | None = None
    exit: str | None = None
    goto: str | None = None
    notify: str | None = Field(default=None, description="a notify target's key: tell it now")
    message: str | None = Field(default=None, description="with notify: the text (a template)")
    next: str | None = None

    def tags(self, which: str) -> list[str]:
        value = getattr(self, which)
        return [value] if isinstance(value, str) else list(value or [])


Step = Annotated[EmailStep | TaskStep | BranchStep | ActionStep, Field(discriminator="type")]


def model_for_step_type(step_type: Any) -> type[BaseModel] | None:
    models: dict[Any, type[BaseModel]] = {"email": EmailStep, "task": TaskStep, "branch": BranchStep, "action": ActionStep}
    return models.get(step_type)


def _instant_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"a start is a date or date-time like 2026-12-01 or 2026-12-01T09:00, not {value!r}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date or date-time like 2026-12-01T09:00") from None
    return value


StartText = Annotated[
    str,
    BeforeValidator(_instant_text),
    WithJsonSchema({"type": "string", "examples": ["2026-12-01", "2026-12-01T09:00"]}),
]


class Owner(Strict):
    """A person manual tasks are for; their working hours set when a task is due."""

    key: Key
    name: str | None = None
    email: str | None = Field(default=None, description="where `notify` targets with email: owner write")
    calendar: Calendar | None = Field(
        default=None, description="Working hours: timezone, window (days, start, end, overrides), holidays"
    )

    @field_validator("email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and (not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+", value) or not value.isascii()):
            raise ValueError(f"{value!r} is not an email address like ada@example.com")
        return value

    @field_validator("calendar")
    @classmethod
    def _no_spread(cls, value: Calendar | None) -> Calendar | None:
        if value is not None and value.window is not None and value.window.spread is not None:
            raise ValueError("spread is for sending windows, not working hours")
        return value


class Tracking(Strict):
    opens: bool = Field(default=True, description="An open pixel at the end of HTML bodies")
    clicks: bool = Field(default=True, description="HTML links through the click redirect")


_TRACK_ALL, _TRACK_NOTHING = Tracking(opens=True, clicks=True), Tracking(opens=False, clicks=False)


class Sequence(Strict):
    key: Key
    name: str | None = None
    description: str | None = None
    mailbox: str
    owner: str | None = None
    calendar: Calendar | None = None
    starts_at: StartText | None = Field(
        default=None,
        description="No enrollment starts before this date or local time (in the contact's zone)",
    )
    exit_on: list[ExitEvent] = Field(default_factory=lambda: list(DEFAULT_EXIT_ON))
    exclusive: bool = Field(
        default=False,
        description="A contact with an open enrollment in another exclusive sequence is not enrolled in this one",
    )
    list_unsubscribe: ListUnsubscribe | None = Field(
        default=None, description="Overrides the mailbox's list_unsubscribe for this sequence's emails"
    )
    tracking: Tracking | bool = Field(
        default=False,
        description="Opt in to open and click tracking (true, or {opens, clicks}); needs the mailbox's "
        "tracking_url and SEQCTL_SECRET",
    )
    steps: list[Step] = Field(min_length=1)

    def step(self, step_id: str) -> EmailStep | TaskStep | BranchStep | ActionStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def step_ids(self) -> list[str]:
        return [step.id for step in self.steps]

    def successors(self, index: int) -> list[str]:
        """Step ids (or END) that may follow step number `index`."""
        step = self.steps[index]
        following = self.steps[index + 1].id if index + 1 < len(self.steps) else END
        if isinstance(step, BranchStep):
            return [step.then, step.else_]
        if isinstance(step, ActionStep):
            if step.exit is not None:
                return []
            return [step.goto or step.next or following]
        return [step.next or following]

    def tracked(self) -> Tracking:
        """What this sequence tracks (`tracking: true` is both opens and clicks)."""
        if isinstance(self.tracking, Tracking):
            return self.tracking
        return _TRACK_ALL if self.tracking else _TRACK_NOTHING


class SpecFile(Strict):
    mailboxes: list[Mailbox] = Field(default_factory=list)
    owners: list[Owner] = Field(default_factory=list)
    notify: list[NotifyTarget] = Field(default_factory=list)
    sequences: list[Sequence] = Field(default_factory=list)
