"""A tick that dies is recovered by the next one, and never causes a second send."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from seqctl.delivery.pool import TransportPool
from seqctl.delivery.transports import MemoryTransport, SendResult
from seqctl.services.tick import Tick
from seqctl.store import claims
from seqctl.store import enrollments as enrollment_store
from tests.conftest import Cli, at, write

SEQ = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
sequences:
  - key: s
    mailbox: ada
    steps:
      - {id: one, type: email, subject: "Hi", body: "b"}
      - {id: two, type: email, wait: 1d, subject: "Again", body: "b"}
"""


class Killed(BaseException):
    """Stands in for SIGKILL in the middle of the SMTP conversation."""


class DiesWhileSending(MemoryTransport):
    def send(self, envelope_from: str, recipient: str, raw: str, **_: object) -> SendResult:
        raise Killed()


@pytest.fixture
def database(cli: Cli, tmp_path: Path) -> Any:
    from seqctl.store.db import Database

    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    cli.add_contacts_for("s", "--email", "a@example.com")
    cli.ok("enroll", "s", "--email", "a@example.com", now="2026-11-23T10:00:00Z")
    db = Database(cli.db_url)
    yield db
    db.dispose()


def test_a_claim_left_by_a_dead_tick_is_taken_over_after_the_lease(cli: Cli, database: Any) -> None:
    now = at("2026-11-23T10:00:00Z")
    with database.write() as tx:
        [claim] = claims.claim_due(tx, now=now, limit=10, lease_until=now + timedelta(seconds=60))
    # The claiming tick "died" here. Within the lease nobody else takes the work ...
    assert cli.ok("tick", "--now", "2026-11-23T10:00:30Z", "--json").json()["claimed"] == 0
    # ... and once the lease has passed, the next tick does.
    assert cli.ok("tick", "--now", "2026-11-23T10:01:00Z", "--json").json()["sent"] == 1
    # The dead tick's token is stale: the fence every tick write passes refuses its late writes.
    with database.write() as tx:
        assert enrollment_store.current_tokens(tx, [claim.enrollment_id])[claim.enrollment_id] != claim.lease_token


def test_a_tick_killed_mid_send_leaves_an_unknown_send_that_is_never_repeated(
    cli: Cli, database: Any
) -> None:
    dying = Tick(
        database, now=at("2026-11-23T10:00:00Z"), pool=TransportPool(lambda mailbox: DiesWhileSending())
    )
    with pytest.raises(Killed):
        dying.run()
    survivor = MemoryTransport()
    report = Tick(
        database, now=at("2026-11-23T10:01:00Z"), pool=TransportPool(lambda mailbox: survivor)
    ).run()
    assert (report.unknown, report.sent) == (1, 0) and survivor.sent == []
    later = Tick(database, now=at("2026-11-30T10:00:00Z"), pool=TransportPool(lambda mailbox: survivor)).run()
    assert later.claimed == 0 and survivor.sent == []
    [unknown] = cli.ok("queue", "--unknown", "--json").json()
    cli.ok("resolve", str(unknown["id"]), "--sent", now="2026-11-30T10:00:00Z")
    # Resolved as sent: the enrollment moves on to `two`, due a day after the first send.
    [queued] = cli.ok("queue", "--json").json()
    assert queued["step"] == "two" and queued["due"].startswith("2026-11-24T10:00")


def test_start_at_holds_the_enrollment_in_scheduled_and_step_picks_the_start(
    cli: Cli, tmp_path: Path
) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    cli.add_contacts_for("s", "--email", "later@example.com", "--start-at", "2026-12-01T09:00:00Z")
    cli.ok(
        "enroll",
        "s",
        "--email",
        "later@example.com",
        "--start-at",
        "2026-12-01T09:00:00Z",
        now="2026-11-23T10:00:00Z",
    )
    cli.add_contacts_for("s", "--email", "skip@example.com", "--step", "two")
    cli.ok("enroll", "s", "--email", "skip@example.com", "--step", "two", now="2026-11-23T10:00:00Z")
    queue = {q["email"]: q for q in cli.ok("queue", "--json", now="2026-11-23T10:00:00Z").json()}
    assert (queue["later@example.com"]["status"], queue["later@example.com"]["why"]) == (
        "scheduled",
        "scheduled start",
    )
    assert queue["skip@example.com"]["step"] == "two"
    assert cli.ok("tick", "--now", "2026-11-30T10:00:00Z", "--json").json()["sent"] == 1
    assert cli.ok("tick", "--now", "2026-12-01T09:00:00Z", "--json").json()["sent"] == 1
