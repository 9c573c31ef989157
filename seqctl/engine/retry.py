"""Backoff for transient failures: exponential, capped, with deterministic jitter."""

from __future__ import annotations

import hashlib
from datetime import timedelta

BASE = timedelta(minutes=2)
CAP = timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 5


MAILBOX_PAUSE_BASE = timedelta(minutes=1)
MAILBOX_PAUSE_CAP = timedelta(minutes=30)


def mailbox_pause(outages: int) -> timedelta:
    """How long a mailbox rests after its `outages`-th consecutive failure: 1m, 2m, 4m … 30m.

    A circuit breaker: while it rests, its enrollments stay due without spending retries;
    the first send after the pause probes the server again.
    """
    pause: timedelta = MAILBOX_PAUSE_BASE * 2 ** max(outages - 1, 0)
    return min(pause, MAILBOX_PAUSE_CAP)


def backoff(attempt: int, enrollment_id: int) -> timedelta:
    """Delay before attempt `attempt + 1`: 2m, 4m, 8m … up to 6h, plus up to 25% jitter.

    The jitter is derived from the enrollment so that retries of many enrollments
    spread out, yet a test can predict them.
    """
    delay: timedelta = min(BASE * 2 ** max(attempt - 1, 0), CAP)
    digest = hashlib.sha256(f"{enrollment_id}:{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:2], "big") / 65535 * 0.25
    return delay + delay * fraction
