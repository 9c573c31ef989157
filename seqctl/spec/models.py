"""The sequence-file format as frozen pydantic models; unknown keys are errors.

These models are the contract of SPEC section 2. Cross-field rules (dangling step
references, cycles, template syntax) live in `checks.py`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from seqctl.spec.durations import Duration, parse_duration

_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXIT_EVENTS = (
    "replied", "bounced", "unsubscribed", "complained", "meeting_booked", "auto_replied", "domain_replied",
)  # fmt: skip
BRANCH_EVENTS = ("opened", "clicked", "replied")
TASK_KINDS = ("email", "call", "linkedin", "todo")

Key = Annotated[str, Field(pattern=_KEY, max_length=100)]


def _duration(value: Any) -> Duration:
    return parse_duration(value)


DurationField = Annotated[
    Duration,
    BeforeValidator(_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d+\s*(s|m|h|d|w|bd)$", "examples": ["30m", "3d", "2bd"]}
    ),
]


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value):
        raise ValueError(f'a time of day is written "HH:MM" in quotes, not {value!r}')
    hours, minutes = (int(part) for part in value.split(":"))
    if hours == 24 and minutes == 0:
        return time.max  # "24:00": the end of the day, only meaningful as a window end
    if hours > 23 or minutes > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return time(hours, minutes)


def _clock_text(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


ClockTime = Annotated[
    time,
    BeforeValidator(_clock),
    PlainSerializer(_clock_text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["09:00", "17:30"]}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Limits(Strict):
    per_day: int | None = Field(default=None, ge=1)
    per_hour: int | None = Field(default=None, ge=1)
    min_gap: DurationField | None = None

    @field_validator("min_gap")
    @classmethod
    def _absolute_gap(cls, value: Duration | None) -> Duration | None:
        if value is not None and not value.is_absolute:
            raise ValueError("min_gap is a length of time in s, m or h")
        return value


def _percent(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1]
    return value


Percent = Annotated[float, BeforeValidator(_percent), Field(ge=0, le=100)]
ListUnsubscribe = Literal["one-click", "mailto", "none"]


class Reputation(Strict):
    """The mailbox breaker (SPEC §5): pause sending when, over the last `window` sends,
    bounces (hard, or blocked / auth_failed / rate_limited) or spam complaints pass a rate."""

    bounce_rate: Percent = Field(default=5.0, description="percent of the last `window` sends, e.g. 5%")
    complaint_rate: Percent = Field(default=0.3, description="percent of the last `window` sends, e.g. 0.3%")
    window: int = Field(default=100, ge=10, le=100_000)


class Mailbox(Strict):
    key: Key
    from_: str = Field(alias="from", min_length=3)
    reply_to: str | None = None
    smtp: str | None = None
    imap: str | None = Field(
        default=None, description="${VAR} naming an imaps://user:pass@host:993/INBOX URL for inbox sync"
    )
    limits: Limits = Limits()
    timezone: str | None = None
    unsubscribe_url: str | None = Field(
        default=None, description="HTTPS one-click unsubscribe URL; may use {{ message_id }}"
    )
    tracking_url: str | None = Field(
        default=None,
        description="Public https:// address of `seqctl serve` for this mailbox's open pixel, click "
        "redirects and one-click unsubscribe",
    )
    list_unsubscribe: ListUnsubscribe | None = Field(
        default=None,
        description="The List-Unsubscribe header: one-click (HTTPS + RFC 8058, needs tracking_url or "
        "unsubscribe_url), mailto, or none (out-of-office replies then reach you); default: one-click "
        "when configured, else mailto",
    )
    reputation: Reputation = Reputation()
    tls: Literal["auto", "require"] = Field(
        default="auto",
        description="require: never send the password to an SMTP/IMAP server that offers no STARTTLS",
    )
    ca_file: str | None = Field(
        default=None, description="A CA bundle (PEM) to verify this mailbox's SMTP and IMAP servers with"
    )

    @model_validator(mode="after")
    def _one_click_has_a_url(self) -> Mailbox:
        if self.list_unsubscribe == "one-click" and not (self.unsubscribe_url or self.tracking_url):
            raise ValueError("list_unsubscribe: one-click needs an unsubscribe_url or a tracking_url")
        return self

    @field_validator("from_", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        from email.utils import parseaddr

        if value is None:
            return value
        if "\r" in value or "\n" in value or "@" not in parseaddr(value)[1]:
            raise ValueError(f"{value!r} is not an email address like 'Ada <ada@example.com>'")
        return value

    @field_validator("smtp", "imap")
    @classmethod
    def _secret_reference(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return value
        if not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value):
            raise ValueError(
                f"secrets never live in YAML: write {info.field_name}: ${{SOME_ENV_VAR}} and set the URL there"
            )
        return value

    @field_validator("unsubscribe_url", "tracking_url")
    @classmethod
    def _https(cls, value: str | None, info: Any) -> str | None:
        # unsubscribe_url is a template ("{{ message_id }}" has spaces); tracking_url is not.
        forbidden = "\r\n\t<>\"" + (" " if info.field_name == "tracking_url" else "")
        if value is not None and (not value.startswith("https://") or any(c in value for c in forbidden)):
            raise ValueError(f"{info.field_name} must be an https:// URL")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_timezone(value) if value else value


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like Europe/Paris)") from None
    return name


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class DayHours(Strict):
    """One weekday's own hours; an unset bound keeps the window's."""

    start: ClockTime | None = None
    end: ClockTime | None = None


class Window(Strict):
    days: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
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
        for day, (start, end) in self.day_hours().items():
            if end <= start:
                raise ValueError(f"overrides: {day} ends before it starts; " + _CROSSES_MIDNIGHT)
        return self

    def day_hours(self) -> dict[str, tuple[time, time]]:
        """Each sending day's (start, end): its override where it has one, else the window's."""
        hours = {}
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


ExitReason = Literal[
    "replied", "bounced", "unsubscribed", "meeting_booked", "manual", "domain_replied", "action"
]


class ActionStep(StepBase):
    type: Literal["action"]
    tag: list[str] | str | None = None
    untag: list[str] | str | None = None
    set: dict[str, str | int | float | bool] | None = None
    assign: str | None = None
    enroll: str | None = None
    exit: str | None = None
    goto: str | None = None
    next: str | None = None

    def tags(self, which: str) -> list[str]:
        value = getattr(self, which)
        return [value] if isinstance(value, str) else list(value or [])


Step = Annotated[EmailStep | TaskStep | BranchStep | ActionStep, Field(discriminator="type")]


def model_for_step_type(step_type: Any) -> type[BaseModel] | None:
    return {"email": EmailStep, "task": TaskStep, "branch": BranchStep, "action": ActionStep}.get(step_type)


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
    calendar: Calendar | None = Field(
        default=None, description="Working hours: timezone, window (days, start, end, overrides), holidays"
    )

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
    exit_on: list[
        Literal[
            "replied", "bounced", "unsubscribed", "complained", "meeting_booked", "auto_replied", "domain_replied"
        ]
    ] = Field(default_factory=lambda: ["replied", "bounced", "unsubscribed", "meeting_booked"])
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

    def tracked(self) -> Tracking:
        """What this sequence tracks (`tracking: true` is both opens and clicks)."""
        if isinstance(self.tracking, Tracking):
            return self.tracking
        return _TRACK_ALL if self.tracking else _TRACK_NOTHING


class SpecFile(Strict):
    mailboxes: list[Mailbox] = Field(default_factory=list)
    owners: list[Owner] = Field(default_factory=list)
    sequences: list[Sequence] = Field(default_factory=list)
