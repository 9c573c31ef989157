"""Mailboxes and sequences (with their steps) as imported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from seqctl.store.records import MailboxRecord, SequenceRecord
from seqctl.store.tables import MailboxRow, OwnerRow, SequenceRow, StepRow, table_of

M = table_of(MailboxRow)
OWNERS = table_of(OwnerRow)
S = table_of(SequenceRow)
ST = table_of(StepRow)


def mailboxes(tx: Connection) -> dict[str, MailboxRecord]:
    rows = tx.execute(
        select(
            M.c.id, M.c.key, M.c.definition, M.c.paused_until, M.c.pause_reason, M.c.outages, M.c.held_reason,
            M.c.held_at,
        )
    )  # fmt: skip
    return {row.key: MailboxRecord(*row) for row in rows}


def upsert_mailbox(tx: Connection, key: str, definition: dict[str, Any], now: datetime) -> str:
    """Insert or update; returns created, updated or unchanged."""
    return _upsert_definition(tx, M, key, definition, now)


def owners(tx: Connection) -> dict[str, dict[str, Any]]:
    return {row.key: row.definition for row in tx.execute(select(OWNERS.c.key, OWNERS.c.definition))}


def upsert_owner(tx: Connection, key: str, definition: dict[str, Any], now: datetime) -> str:
    return _upsert_definition(tx, OWNERS, key, definition, now)


def _upsert_definition(
    tx: Connection, table: Any, key: str, definition: dict[str, Any], now: datetime
) -> str:
    existing = tx.execute(select(table.c.id, table.c.definition).where(table.c.key == key)).first()
    if existing is None:
        tx.execute(insert(table).values(key=key, definition=definition, updated_at=now))
        return "created"
    if existing.definition == definition:
        return "unchanged"
    tx.execute(update(table).where(table.c.id == existing.id).values(definition=definition, updated_at=now))
    return "updated"


def record_outage(tx: Connection, key: str, reason: str) -> int:
    """Count one more consecutive outage of the mailbox; returns the new count."""
    tx.execute(update(M).where(M.c.key == key).values(outages=M.c.outages + 1, pause_reason=reason))
    return int(tx.execute(select(M.c.outages).where(M.c.key == key)).scalar_one())


def pause_mailbox(tx: Connection, key: str, until: datetime) -> None:
    tx.execute(update(M).where(M.c.key == key).values(paused_until=until))


def hold_mailbox(tx: Connection, key: str, reason: str, now: datetime) -> bool:
    """Hold the mailbox's sending until `release_mailbox`; False when it was held already."""
    held = tx.execute(
        update(M).where(M.c.key == key, M.c.held_reason.is_(None)).values(held_reason=reason, held_at=now)
    )
    return bool(held.rowcount)


def hold_reasons(tx: Connection) -> dict[str, str]:
    """Why each held mailbox is held (a tick reports them, even when it claims nothing)."""
    rows = tx.execute(select(M.c.key, M.c.held_reason).where(M.c.held_reason.is_not(None)))
    return {row.key: row.held_reason for row in rows}


def is_held(tx: Connection, key: str) -> bool:
    return tx.execute(select(M.c.held_reason).where(M.c.key == key)).scalar() is not None


def release_mailbox(tx: Connection, key: str) -> bool:
    """Release a held mailbox (and forget its outages); False when it was not held."""
    released = tx.execute(
        update(M).where(M.c.key == key, M.c.held_reason.is_not(None)).values(held_reason=None, held_at=None)
    )
    return bool(released.rowcount)


def clear_outage(tx: Connection, key: str) -> None:
    tx.execute(update(M).where(M.c.key == key).values(paused_until=None, pause_reason=None, outages=0))


def sequences(tx: Connection) -> dict[str, SequenceRecord]:
    """Every sequence with its steps folded back into the definition, by key."""
    steps: dict[int, list[dict[str, Any]]] = {}
    for step in tx.execute(
        select(ST.c.sequence_id, ST.c.definition).order_by(ST.c.sequence_id, ST.c.position)
    ):
        steps.setdefault(step.sequence_id, []).append(step.definition)
    found = {}
    for row in tx.execute(
        select(S.c.id, S.c.key, S.c.name, S.c.mailbox_key, S.c.definition, S.c.digest, S.c.version)
    ):
        definition = {**row.definition, "steps": steps.get(row.id, [])}
        found[row.key] = SequenceRecord(
            row.id, row.key, row.name, row.mailbox_key, definition, row.digest, row.version
        )
    return found


def upsert_sequence(
    tx: Connection, key: str, definition: dict[str, Any], digest: str, now: datetime
) -> tuple[int, str]:
    """Store the sequence and replace its steps; returns (id, created|updated|unchanged)."""
    steps = definition["steps"]
    header = {k: v for k, v in definition.items() if k != "steps"}
    existing = tx.execute(select(S.c.id, S.c.digest).where(S.c.key == key)).first()
    values = {
        "name": header.get("name"),
        "mailbox_key": header["mailbox"],
        "definition": header,
        "digest": digest,
    }
    if existing is None:
        sequence_id = tx.execute(
            insert(S).values(key=key, version=1, created_at=now, updated_at=now, **values).returning(S.c.id)
        ).scalar_one()
        state = "created"
    elif existing.digest == digest:
        return existing.id, "unchanged"
    else:
        sequence_id = existing.id
        tx.execute(
            update(S).where(S.c.id == sequence_id).values(version=S.c.version + 1, updated_at=now, **values)
        )
        tx.execute(delete(ST).where(ST.c.sequence_id == sequence_id))
        state = "updated"
    tx.execute(
        insert(ST),
        [
            {
                "sequence_id": sequence_id,
                "step_id": step["id"],
                "position": index,
                "type": step["type"],
                "definition": step,
            }
            for index, step in enumerate(steps)
        ],
    )
    return sequence_id, state
