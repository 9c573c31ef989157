"""The real clock, for what other systems check against it: an OAuth token's expiry (the
provider's clock) and a webhook's timestamp (the receiver rejects one minutes off).
`--now` moves seqctl's schedule, never these. Everything else takes `now` as a parameter."""

from __future__ import annotations

from datetime import UTC, datetime


def real_clock() -> datetime:
    return datetime.now(UTC)
