"""The imported sequences and mailboxes as validated models, loaded once per command."""

from __future__ import annotations

from dataclasses import dataclass

from seqctl.errors import NotFound
from seqctl.spec.models import Mailbox, Sequence
from seqctl.store import catalog as catalog_store
from seqctl.store.db import Database
from seqctl.store.records import MailboxRecord, SequenceRecord


@dataclass(frozen=True)
class LoadedSequence:
    record: SequenceRecord
    model: Sequence


class Catalog:
    def __init__(self, sequences: dict[str, LoadedSequence], mailboxes: dict[str, MailboxRecord]) -> None:
        self.sequences = sequences
        self.by_id = {s.record.id: s for s in sequences.values()}
        self.mailbox_records = mailboxes
        self.mailboxes = {key: Mailbox.model_validate(r.definition) for key, r in mailboxes.items()}

    @classmethod
    def load(cls, db: Database) -> Catalog:
        with db.read() as tx:
            records = catalog_store.sequences(tx)
            mailboxes = catalog_store.mailboxes(tx)
        return cls(
            {key: LoadedSequence(r, Sequence.model_validate(r.definition)) for key, r in records.items()},
            mailboxes,
        )

    def sequence(self, key: str) -> LoadedSequence:
        try:
            return self.sequences[key]
        except KeyError:
            known = ", ".join(sorted(self.sequences)) or "none imported yet"
            raise NotFound(f"no sequence {key!r} (known: {known})") from None

    def mailbox_for(self, sequence: Sequence) -> Mailbox | None:
        return self.mailboxes.get(sequence.mailbox)
