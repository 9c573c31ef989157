"""The store's contract, tested once and run per backend (huey-style): claims, the fence
and the send transitions, through the very functions the tick calls."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from seqctl.services.importer import import_files
from seqctl.store import activity, claims, sends
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.catalog import sequences
from tests.conftest import ada_sequence, at, write

NOW = at("2026-11-23T10:00:00+00:00")
LEASE = timedelta(seconds=60)


@pytest.fixture
def store(db: Any, tmp_path: Path) -> Any:
    """A database with one sequence and five contacts enrolled, all due at NOW."""
    spec = write(tmp_path / "s.yaml", ada_sequence("      - {id: one, type: email, subject: Hi, body: b}\n"))
    import_files(db, [str(spec)], now=NOW, dry_run=False, on_removed=None)
    with db.write() as tx:
        sequence_id = sequences(tx)["s"].id
        emails = [f"p{n}@example.org" for n in range(5)]
        contact_store.upsert_many(tx, [(email, {}, ()) for email in emails], NOW)
        contacts = contact_store.by_emails(tx, emails)
        enrollment_store.create_many(tx, sequence_id, [
            {
                "contact_id": contacts[email].id, "status": "active", "current_step": "one", "step_due_at": NOW,
                "next_run_at": NOW, "waiting_on": None, "owner": None, "started_at": NOW, "created_at": NOW,
            }
            for email in emails
        ])  # fmt: skip
    return db


def claim(db: Any, now: Any = NOW, limit: int = 10) -> list[Any]:
    with db.write() as tx:
        return claims.claim_due(tx, now=now, limit=limit, lease_until=now + LEASE)


def test_a_claim_leases_what_is_due_and_a_second_tick_gets_nothing_until_the_lease_ends(store: Any) -> None:
    first = claim(store, limit=3)
    assert len(first) == 3 and all(c.lease_token == 1 for c in first)
    rest = claim(store)
    assert {c.enrollment_id for c in rest}.isdisjoint(c.enrollment_id for c in first) and len(rest) == 2
    assert claim(store, NOW + timedelta(seconds=59)) == []  # every row is leased
    again = claim(store, NOW + LEASE)  # a dead tick's claims fall due by themselves
    assert len(again) == 5 and all(c.lease_token == 2 for c in again)


def test_the_fence_refuses_a_claim_an_operator_changed_since(store: Any) -> None:
    [held, changed] = claim(store, limit=2)
    with store.write() as tx:
        assert enrollment_store.guarded_update(
            tx, changed.enrollment_id, NOW, where={"status": ("scheduled", "active")}, status="paused"
        )
        assert not enrollment_store.guarded_update(tx, changed.enrollment_id, NOW, where={"status": "active"})
        tokens = enrollment_store.current_tokens(tx, [held.enrollment_id, changed.enrollment_id])
    assert tokens[held.enrollment_id] == held.lease_token  # still ours: its writes go through
    assert tokens[changed.enrollment_id] != changed.lease_token  # fenced off


def test_claims_of_two_hosts_at_once_never_overlap(store: Any) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite serialises claims with its write lock; SKIP LOCKED is Postgres's")
    started, release = threading.Event(), threading.Event()
    found: dict[str, list[Any]] = {}

    def first_host() -> None:
        with store.write() as tx:  # holds its claimed rows locked until release
            found["first"] = claims.claim_due(tx, now=NOW, limit=2, lease_until=NOW + LEASE)
            started.set()
            release.wait(10)

    thread = threading.Thread(target=first_host)
    thread.start()
    assert started.wait(10)
    try:
        found["second"] = claim(store)  # runs while the first transaction is open
    finally:
        release.set()
        thread.join(10)
    first, second = ({c.enrollment_id for c in found[k]} for k in ("first", "second"))
    assert len(first) == 2 and len(second) == 3 and first.isdisjoint(second)


def begin(tx: Any, enrollment_id: int, recipient: str, message_id: str = "<m1@example.com>") -> int | None:
    return sends.begin_send(
        tx, enrollment_id=enrollment_id, step_id="one", message_id=message_id, mailbox_key="ada",
        recipient=recipient, subject="Hi", variant=None, raw="raw", now=NOW, erasure_key=None,
    )  # fmt: skip


def test_a_send_moves_sending_to_one_outcome_once(store: Any) -> None:
    [c] = claim(store, limit=1)
    with store.write() as tx:
        row_id = begin(tx, c.enrollment_id, "p0@example.org")
        assert row_id is not None
        assert sends.settle_send(tx, row_id, "sent", now=NOW, attempt=1)
        assert not sends.settle_send(tx, row_id, "unknown", now=NOW)  # no longer `sending`
        message = sends.by_id(tx, row_id)
        assert message is not None and (message.status, message.sent_at) == ("sent", NOW)
    with pytest.raises(IntegrityError), store.write() as tx:  # one intent per (enrollment, step)
        begin(tx, c.enrollment_id, "p0@example.org", "<m2@example.com>")


def test_only_a_certainly_unsent_send_is_tried_again_and_only_at_its_own_attempt(store: Any) -> None:
    [c] = claim(store, limit=1)
    with store.write() as tx:
        row_id = begin(tx, c.enrollment_id, "p0@example.org")
        assert row_id is not None
        assert not sends.retry_send(tx, row_id, recipient="p0@example.org", raw="r", subject="s", now=NOW, erasure_key=None)
        assert sends.settle_send(tx, row_id, "not_sent", now=NOW, attempt=1)
        assert sends.retry_send(tx, row_id, recipient="p0@example.org", raw="r2", subject="s", now=NOW, erasure_key=None)
        assert not sends.settle_send(tx, row_id, "sent", now=NOW, attempt=1)  # a stale tick's attempt
        assert sends.settle_send(tx, row_id, "unknown", now=NOW, attempt=2)
        assert not sends.retry_send(tx, row_id, recipient="p0@example.org", raw="r", subject="s", now=NOW, erasure_key=None)


def test_suppression_is_checked_by_the_statement_that_writes_the_intent(store: Any) -> None:
    [first, second] = claim(store, limit=2)
    with store.write() as tx:
        activity.suppress(tx, "p0@example.org", "address", "unsubscribed", NOW)
        activity.suppress(tx, "example.net", "domain", "manual", NOW)
        assert begin(tx, first.enrollment_id, "P0@example.org") is None
        assert begin(tx, second.enrollment_id, "x@example.net", "<m3@example.com>") is None
        row_id = begin(tx, second.enrollment_id, "p1@example.org", "<m4@example.com>")
        assert row_id is not None and sends.settle_send(tx, row_id, "retry", now=NOW, attempt=1)
        activity.suppress(tx, "p1@example.org", "address", "bounced", NOW)
        assert not sends.retry_send(tx, row_id, recipient="p1@example.org", raw="r", subject="s", now=NOW, erasure_key=None)


def test_mailbox_usage_counts_what_left_or_may_have(store: Any) -> None:
    claimed = claim(store)
    outcomes = ["sent", "unknown", "bounced", "not_sent", "failed"]
    with store.write() as tx:
        for number, (c, outcome) in enumerate(zip(claimed, outcomes, strict=True)):
            row_id = begin(tx, c.enrollment_id, f"p{number}@example.org", f"<u{number}@example.com>")
            assert row_id is not None and sends.settle_send(tx, row_id, outcome, now=NOW, attempt=1)
        usage = sends.usage(tx, "ada", hour_start=NOW - timedelta(hours=1), day_start=NOW - timedelta(hours=10))
    assert (usage.last_hour, usage.since_day_start) == (3, 3)  # sent, unknown, bounced
