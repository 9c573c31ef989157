"""`seqctl sends`: the emails that went out (and those of unknown outcome) in a period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seqctl.errors import InvalidInput
from seqctl.services.catalog import Catalog
from seqctl.store import sends
from seqctl.store.db import Database


def went_out(
    db: Database,
    *,
    since: datetime,
    until: datetime,
    mailbox_key: str | None,
    sequence_key: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    if until <= since:
        raise InvalidInput("--until must be after --since")
    catalog = Catalog.load(db)
    if mailbox_key is not None and mailbox_key not in catalog.mailboxes:
        raise InvalidInput(f"--mailbox {mailbox_key}: no such mailbox ({', '.join(sorted(catalog.mailboxes))})")
    sequence_id = catalog.sequence(sequence_key).record.id if sequence_key else None
    with db.read() as tx:
        rows = sends.went_out(
            tx, since=since, until=until, mailbox_key=mailbox_key, sequence_id=sequence_id, limit=limit
        )
    return [
        {"id": r["id"], "at": r["at"].isoformat(), "mailbox": r["mailbox_key"], "email": r["recipient"],
         "sequence": r["sequence"], "step": r["step_id"], "variant": r["variant"], "subject": r["subject"],
         "message_id": r["message_id"], "status": r["status"]}
        for r in rows
    ]  # fmt: skip
