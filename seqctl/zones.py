"""Time zone names, checked without the weight of the sequence-file models: every command
checks `--tz`, and cron's every-minute tick must not import pydantic for it."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}$")


def check_timezone(name: str) -> str:
    """The name when it is an IANA zone; ValueError otherwise (never the zone files' path)."""
    shown = name if len(name) <= 40 else name[:40] + "…"
    problem = ValueError(f"unknown time zone {shown!r} (use an IANA name like Europe/Paris)")
    if not isinstance(name, str) or len(name) > 64 or not _ZONE_NAME.match(name):
        raise problem
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones, like "America"
        raise problem from None
    return name
