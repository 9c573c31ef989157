"""Recording notifications (SPEC §8), in the transaction of the change that caused them:
a reply applied, an enrollment exited, failed or completed, a task created, a send of
unknown outcome, a mailbox held, a `notify` step. One row per target that hears of the
event; delivering them is `notify_delivery`'s job, after the commit.

Every caller goes through `Notifier.record`, so which targets hear what is decided in
one place; with no `notify:` targets imported it writes nothing and costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from seqctl.spec.notify import NotifyTarget
from seqctl.store import notifications as notification_store
from seqctl.store.db import Tx
from seqctl.store.records import Enrollment

RETRY_FOR = timedelta(hours=24)  # a notification is retried this long, then failed
STEP = "step"  # the event of a `notify` action step: only its named target hears it


@dataclass(frozen=True)
class Notifier:
    targets: tuple[NotifyTarget, ...]
    sequences_of_mailbox: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, catalog: Any) -> Notifier:
        by_mailbox: dict[str, list[str]] = {}
        for key, loaded in catalog.sequences.items():
            by_mailbox.setdefault(loaded.model.mailbox, []).append(key)
        return cls(
            tuple(catalog.notify_targets[k] for k in sorted(catalog.notify_targets)),
            {mailbox: tuple(keys) for mailbox, keys in by_mailbox.items()},
        )

    def hears(self, event: str, *, sequence: str | None = None, mailbox: str | None = None) -> bool:
        return any(self._hearing(event, sequence, mailbox))

    def _hearing(self, event: str, sequence: str | None, mailbox: str | None) -> list[NotifyTarget]:
        around = self.sequences_of_mailbox.get(mailbox or "", ())
        return [t for t in self.targets if t.hears(event, sequence, around)]

    def rows(
        self, event: str, data: dict[str, Any], *, at: datetime, now: datetime, sequence: str | None = None,
        enrollment_id: int | None = None, mailbox: str | None = None, target: str | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The outbox rows of one event: for each target that hears it (or, for a `notify`
        step, the one it names)."""
        keys = [target] if target is not None else [t.key for t in self._hearing(event, sequence, mailbox)]
        common = {
            "event": event, "sequence_key": sequence, "enrollment_id": enrollment_id, "data": data,
            "occurred_at": at, "next_attempt_at": now, "give_up_at": now + RETRY_FOR,
        }  # fmt: skip
        return [{"target_key": key, **common} for key in keys]

    def record(self, tx: Tx, event: str, data: dict[str, Any], **where: Any) -> int:
        """Write the event's notifications now, in `tx`; how many."""
        rows = self.rows(event, data, **where)
        notification_store.add(tx, rows)
        return len(rows)

    def exited(self, tx: Tx, e: Enrollment, *, reason: str, detail: str | None, now: datetime) -> None:
        """An enrollment ended outside a tick (an event's exit rule, an operator's cancel)."""
        data = enrollment_data(enrollment_id=e.id, email=e.email, sequence=e.sequence_key, step=e.current_step,
                               reason=reason, detail=detail)  # fmt: skip
        self.record(tx, "exited", data, at=now, now=now, sequence=e.sequence_key, enrollment_id=e.id)


def enrollment_data(
    *, enrollment_id: int, email: str, sequence: str, step: str | None, **more: Any
) -> dict[str, Any]:
    """What every enrollment notification carries (SPEC §8: the contact's email, the
    sequence, the step, the enrollment id), and what the event adds."""
    return {"enrollment_id": enrollment_id, "email": email, "sequence": sequence, "step": step} | {
        k: v for k, v in more.items() if v is not None
    }
