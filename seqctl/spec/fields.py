"""The building blocks of the sequence-file models: keys, durations, times of day,
percentages, time zones, and the strict base every model derives from."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from seqctl.spec.durations import Duration, parse_duration

_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"

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


def _percent(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1]
    return value


Percent = Annotated[float, BeforeValidator(_percent), Field(ge=0, le=100)]


