"""Bulk writes bypass SQLAlchemy's per-row work on SQLite: what they store must be exactly
what SQLAlchemy would have stored (the same text for times, so comparisons still hold)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select

from seqctl.store import activity, bulk
from seqctl.store.tables import ContactRow, EnrollmentRow, ExecutionRow, SequenceRow
from tests.conftest import at

NOW = at("2026-11-23T10:00:00+01:00")


def _enrollment(tx: Any) -> int:
    sequence = tx.execute(insert(SequenceRow.__table__).values(
        key="s", mailbox_key="m", definition={}, digest="d", version=1, created_at=NOW, updated_at=NOW)).inserted_primary_key[0]  # fmt: skip
    contact = tx.execute(insert(ContactRow.__table__).values(
        email="a@b.com", fields={}, created_at=NOW, updated_at=NOW)).inserted_primary_key[0]  # fmt: skip
    return int(tx.execute(insert(EnrollmentRow.__table__).values(
        sequence_id=sequence, contact_id=contact, status="active", started_at=NOW, created_at=NOW, updated_at=NOW,
    )).inserted_primary_key[0])  # fmt: skip


def test_bulk_rows_read_back_as_sqlalchemy_writes_them(db: Any) -> None:
    X = ExecutionRow.__table__
    with db.write() as tx:
        enrollment_id = _enrollment(tx)
        rows = [
            {"enrollment_id": enrollment_id, "step_id": f"s{n}", "kind": "action", "outcome": "done",
             "at": NOW + timedelta(microseconds=n * 1500), "detail": {"n": n, "tags": ["x", "é"]},
             **({"error": "boom"} if n % 3 == 0 else {})}
            for n in range(20)
        ]  # fmt: skip
        activity.record_executions(tx, rows)  # the bulk path (20 rows, two column sets)
        tx.execute(insert(X), rows[0] | {"step_id": "reference", "error": None})  # SQLAlchemy's own path
    with db.read() as tx:
        stored = activity.executions(tx, enrollment_id)
        raw = {r.step_id: r.at for r in tx.execute(select(X.c.step_id, X.c.at.cast(X.c.step_id.type).label("at")))}
    by_step = {e.step_id: e for e in stored}
    for n, row in enumerate(rows):
        found = by_step[f"s{n}"]
        assert found.at == row["at"] and found.detail == row["detail"] and found.error == row.get("error")
    assert raw["s0"] == raw["reference"]  # the same stored text (SQLite) or value (Postgres)
    assert [e.step_id for e in stored if e.step_id != "reference"] == [f"s{n}" for n in range(20)]


def test_bulk_refuses_naive_times(db: Any) -> None:
    import pytest

    with db.write() as tx:
        enrollment_id = _enrollment(tx)
        naive = [{"enrollment_id": enrollment_id, "step_id": "x", "kind": "k", "outcome": "o",
                  "at": NOW.replace(tzinfo=None), "detail": {}} for _ in range(10)]  # fmt: skip
        with pytest.raises(Exception, match="naive datetime"):
            bulk.executemany(tx, insert(ExecutionRow.__table__), naive)
