"""What one tick did: counters by outcome, the errors it met and the mailboxes held.

Its own module because both the tick (which owns a report) and the batch runner (which
adds to it) need it, and neither should import the other to get it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


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

    def add(self, counts: Mapping[str, int], errors: list[str]) -> None:
        """A work item's counters and errors, once its writes are committed."""
        for name, count in counts.items():
            setattr(self, name, getattr(self, name) + count)
        self.errors.extend(errors)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.isoformat()
        return data
