"""What one tick did: counters by outcome, the errors it met and the mailboxes held.

Its own module because both the tick (which owns a report) and the batch runner (which
adds to it) need it, and neither should import the other to get it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """How a run went, for health pings and the metrics: `ok`, and one line saying so."""

    ok: bool
    line: str


@dataclass
class TickReport:
    now: datetime
    claimed: int = 0
    sent: int = 0
    tasks: int = 0
    branched: int = 0
    actions: int = 0
    exited: int = 0
    completed: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    lost_lease: int = 0
    errors: list[str] = field(default_factory=list)
    due: list[dict[str, Any]] = field(default_factory=list)
    # Mailboxes held by an operator or the reputation breaker, with why: none of their
    # emails goes out until `seqctl mailbox resume`.
    paused_mailboxes: dict[str, str] = field(default_factory=dict)
    notifications: dict[str, int] = field(default_factory=dict)  # delivered after the tick, by outcome

    def add(self, counts: Mapping[str, int], errors: list[str]) -> None:
        """A work item's counters and errors, once its writes are committed."""
        for name, count in counts.items():
            setattr(self, name, getattr(self, name) + count)
        self.errors.extend(errors)

    def summary(self) -> str:
        line = (
            f"tick {self.now:%Y-%m-%dT%H:%M:%SZ}: claimed {self.claimed}, sent {self.sent}, tasks {self.tasks}, "
            f"branched {self.branched}, actions {self.actions}, exited {self.exited}, completed {self.completed}, "
            f"deferred {self.deferred}, retried {self.retried}, failed {self.failed}, unknown {self.unknown}"
        )
        if any(self.notifications.values()):
            line += ", notifications " + ", ".join(f"{n} {k}" for k, n in self.notifications.items() if n)
        return line

    def outcome(self) -> Outcome:
        """How the tick went, for health pings and the metrics: failing when a step failed,
        a send's outcome is unknown, or something needs an operator (the errors)."""
        ok = not (self.errors or self.failed or self.unknown)
        return Outcome(ok, self.summary() + ("" if ok else "; " + "; ".join(self.errors[:3])))

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.isoformat()
        return data


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retrying": self.retrying, "failed": self.failed}

    def words(self) -> str:
        return f"notifications: {self.delivered} delivered, {self.retrying} to retry, {self.failed} failed"
