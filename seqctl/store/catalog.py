"""Mailboxes and sequences (with their steps) as imported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

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
    return upsert_definition(tx, M, key, definition, now)


def owners(tx: Connection) -> dict[str, dict[str, Any]]:
    return {row.key: row.definition for row in tx.execute(select(OWNERS.c.key, OWNERS.c.definition))}


def upsert_owner(tx: Connection, key: str, definition: dict[str, Any], now: datetime) -> str:
    return upsert_definition(tx, OWNERS, key, definition, now)


def upsert_definition(
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


def is_held(tx: Connection, key: str) -> bool:
    return held_reason(tx, key) is not None


def held_reason(tx: Connection, key: str) -> str | None:
    return tx.execute(select(M.c.held_reason).where(M.c.key == key)).scalar()


def release_mailbox(tx: Connection, key: str) -> bool:
    """Release a held mailbox (and forget its outages); False when it was not held."""
    released = tx.execute(
        update(M).where(M.c.key == key, M.c.held_reason.is_not(None)).values(held_reason=None, held_at=None)
    )
    return bool(released.rowcount)


def clear_outage(tx: Connection, key: str) -> None:
    tx.execute(update(M).where(M.c.key == key).values(paused_until=None, pause_reason=None, outages=0))


def sequences(tx: Connection) -> dict[str, SequenceRecord]:
    """Every sequence (archived ones too) with its current steps folded back into the
    definition, by key."""
    steps: dict[int, list[dict[str, Any]]] = {}
    removed: dict[int, list[dict[str, Any]]] = {}
    for step in tx.execute(
        select(ST.c.sequence_id, ST.c.definition, ST.c.removed_at).order_by(
            ST.c.sequence_id, ST.c.position
        )
    ):
        if step.removed_at is None:
            steps.setdefault(step.sequence_id, []).append(step.definition)
        else:
            removed.setdefault(step.sequence_id, []).append(step.definition)
    found = {}
    for row in tx.execute(
        select(
            S.c.id, S.c.key, S.c.name, S.c.mailbox_key, S.c.definition, S.c.digest, S.c.version, S.c.status
        )
    ):
        definition = {**row.definition, "steps": steps.get(row.id, [])}
        found[row.key] = SequenceRecord(
            row.id, row.key, row.name, row.mailbox_key, definition, row.digest, row.version, row.status,
            tuple(removed.get(row.id, ())),
        )  # fmt: skip
    return found


def set_sequence_status(tx: Connection, sequence_id: int, status: str, now: datetime) -> bool:
    """False when the sequence had that status already."""
    changed = tx.execute(
        update(S).where(S.c.id == sequence_id, S.c.status != status).values(status=status, status_at=now)
    )
    return bool(changed.rowcount)


def upsert_sequence(
    tx: Connection, key: str, definition: dict[str, Any], digest: str, now: datetime
) -> tuple[int, str]:
    """Store the sequence and its steps; returns (id, created|updated|unchanged). A step the
    new definition drops is kept, marked removed, so its history stays readable."""
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
        state = "updated"
    kept = {
        row.step_id: row.id
        for row in tx.execute(select(ST.c.step_id, ST.c.id).where(ST.c.sequence_id == sequence_id))
    }
    ids = [step["id"] for step in steps]
    tx.execute(
        update(ST)
        .where(ST.c.sequence_id == sequence_id, ST.c.step_id.not_in(ids), ST.c.removed_at.is_(None))
        .values(removed_at=now, position=ST.c.position + len(steps))  # after the current steps
    )
    rows = [
        {
            "sequence_id": sequence_id,
            "step_id": step["id"],
            "position": index,
            "type": step["type"],
            "definition": step,
        }
        for index, step in enumerate(steps)
    ]
    if changed := [row for row in rows if row["step_id"] in kept]:
        tx.execute(
            update(ST)
            .where(ST.c.sequence_id == bindparam("b_sequence_id"), ST.c.step_id == bindparam("b_step"))
            .values(
                position=bindparam("b_position"), type=bindparam("b_type"), definition=bindparam("b_definition"),
                removed_at=None,
            ),
            [{f"b_{k}": v for k, v in r.items()} | {"b_step": r["step_id"]} for r in changed],
        )  # fmt: skip
    if new := [row for row in rows if row["step_id"] not in kept]:
        tx.execute(insert(ST), new)
    return sequence_id, state
