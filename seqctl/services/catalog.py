"""The imported sequences and mailboxes as validated models, loaded once per command."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from seqctl.engine.calendar import SendCalendar
from seqctl.engine.schedule import working_hours
from seqctl.errors import NotFound
from seqctl.services.notifying import Notifier
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import Owner, Sequence
from seqctl.spec.notify import NotifyTarget
from seqctl.store import catalog as catalog_store
from seqctl.store import notifications as notification_store
from seqctl.store.db import Database
from seqctl.store.records import MailboxRecord, SequenceRecord


@dataclass(frozen=True)
class LoadedSequence:
    record: SequenceRecord
    model: Sequence


class Catalog:
    def __init__(
        self,
        sequences: dict[str, LoadedSequence],
        mailboxes: dict[str, MailboxRecord],
        owners: dict[str, dict[str, Any]] | None = None,
        notify_targets: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.sequences = sequences
        self.by_id = {s.record.id: s for s in sequences.values()}
        self.mailbox_records = mailboxes
        self.mailboxes = {key: Mailbox.model_validate(r.definition) for key, r in mailboxes.items()}
        self.owners = {key: Owner.model_validate(d) for key, d in (owners or {}).items()}
        self.notify_targets = {key: NotifyTarget.model_validate(d) for key, d in (notify_targets or {}).items()}
        self._working_hours: dict[tuple[str, str], SendCalendar] = {}

    @classmethod
    def load(cls, db: Database) -> Catalog:
        with db.read() as tx:
            records = catalog_store.sequences(tx)
            mailboxes = catalog_store.mailboxes(tx)
            owners = catalog_store.owners(tx)
            targets = notification_store.targets(tx)
        return cls(
            {key: LoadedSequence(r, Sequence.model_validate(r.definition)) for key, r in records.items()},
            mailboxes,
            owners,
            targets,
        )

    @cached_property
    def notifier(self) -> Notifier:
        """Who hears of what (the imported `notify:` targets)."""
        return Notifier.of(self)

    def sequence(self, key: str) -> LoadedSequence:
        try:
            return self.sequences[key]
        except KeyError:
            known = ", ".join(sorted(self.sequences)) or "none imported yet"
            raise NotFound(f"no sequence {key!r} (known: {known})") from None

    def mailbox_for(self, sequence: Sequence) -> Mailbox | None:
        return self.mailboxes.get(sequence.mailbox)

    def working_hours(self, owner: str | None, sequence: Sequence) -> SendCalendar:
        """When `owner` works, for a task of `sequence` (see `schedule.working_hours`)."""
        key = (owner or "", sequence.key)
        if key not in self._working_hours:
            self._working_hours[key] = working_hours(
                self.owners.get(owner or ""), sequence, self.mailbox_for(sequence)
            )
        return self._working_hours[key]
