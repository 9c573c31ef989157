"""Inbound messages an inbox sync has read (see `services.inbox`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from seqctl.store.tables import InboundRow

IN = InboundRow.__table__


def known(tx: Connection, source_keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(source_keys), 500):
        chunk = source_keys[start : start + 500]
        found.update(tx.execute(select(IN.c.source_key).where(IN.c.source_key.in_(chunk))).scalars())
    return found


def record(tx: Connection, *, now: datetime, **values: Any) -> None:
    tx.execute(insert(IN).values(recorded_at=now, **values))


def listing(tx: Connection, *, unmatched_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    query = select(IN.c.id, IN.c.kind, IN.c.detail, IN.c.sender, IN.c.subject, IN.c.outcome, IN.c.received_at)
    if unmatched_only:
        query = query.where(IN.c.contact_id.is_(None))
    rows = tx.execute(query.order_by(IN.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]
