"""Everything seqctl reads from the environment, in one place. Secrets stay here and in
the transport; nothing prints them."""

from __future__ import annotations

import os
import re

from seqctl.engine.retry import DEFAULT_MAX_ATTEMPTS
from seqctl.errors import InvalidInput
from seqctl.zones import check_timezone

DEFAULT_DATABASE_URL = "sqlite:///seqctl.db"
_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def database_url(cli_value: str | None) -> str:
    return cli_value or os.environ.get("SEQCTL_DATABASE_URL") or DEFAULT_DATABASE_URL


def display_zone(cli_value: str | None) -> str:
    """The zone tables show times in: --tz, else SEQCTL_DISPLAY_TZ, else the machine's own
    (TZ, or the zone /etc/localtime links to), else UTC."""
    chosen = cli_value or os.environ.get("SEQCTL_DISPLAY_TZ")
    if chosen:
        try:
            return check_timezone(chosen)
        except ValueError as exc:
            where = "--tz" if cli_value else "SEQCTL_DISPLAY_TZ"
            raise InvalidInput(f"{where}: {exc}") from None
    for candidate in (os.environ.get("TZ", "").lstrip(":"), _localtime_zone()):
        try:
            return check_timezone(candidate) if candidate else "UTC"
        except ValueError:
            continue
    return "UTC"


def _localtime_zone() -> str:
    """The IANA name /etc/localtime links to ("" when it is not a link into a zone folder)."""
    target = os.path.realpath("/etc/localtime")
    _, found, name = target.partition("/zoneinfo/")
    return name if found else ""


def outbox_path() -> str:
    return os.environ.get("SEQCTL_OUTBOX") or "outbox"


def default_smtp_url() -> str | None:
    return os.environ.get("SEQCTL_SMTP_URL") or None


def max_attempts() -> int:
    raw = os.environ.get("SEQCTL_MAX_ATTEMPTS")
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"SEQCTL_MAX_ATTEMPTS must be a whole number ≥ 1, not {raw!r}")
    return int(raw)


DEFAULT_SOFT_BOUNCE_LIMIT = 3


def soft_bounce_limit() -> int:
    """Soft bounces of one address within 30 days that count as a hard bounce (0: never)."""
    raw = os.environ.get("SEQCTL_SOFT_BOUNCE_LIMIT")
    if not raw:
        return DEFAULT_SOFT_BOUNCE_LIMIT
    if not raw.isdigit():
        raise InvalidInput(f"SEQCTL_SOFT_BOUNCE_LIMIT must be a whole number ≥ 0, not {raw!r}")
    return int(raw)


SECRET_VARIABLE = "SEQCTL_SECRET"


def tracking_secret() -> str | None:
    """The key that signs tracking and unsubscribe links (None when unset)."""
    value = os.environ.get(SECRET_VARIABLE) or None
    if value is not None and len(value) < 16:
        raise InvalidInput(f"{SECRET_VARIABLE} must be at least 16 characters (e.g. `openssl rand -hex 32`)")
    return value


def resolve_reference(value: str) -> str | None:
    """`${NAME}` → the environment's NAME (None when unset)."""
    match = _REFERENCE.match(value)
    if not match:
        return value
    return os.environ.get(match.group(1)) or None
