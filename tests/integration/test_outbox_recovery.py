"""The Maildir outbox can always tell what became of a send, so a tick that dies or loses
its claim mid-group never causes a second delivery nor an `unknown`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seqctl.delivery.pool import TransportPool
from seqctl.delivery.transports import MaildirTransport, SendOutcome, SendResult
from seqctl.services.tick import Tick
from seqctl.store.db import Database
from tests.conftest import Cli, ada_sequence, at, outbox_messages, write

SEQ = ada_sequence(
    """\
      - {id: one, type: email, subject: "Hi {{ contact.email }}", body: "b"}
"""
)


class Killed(BaseException):
    """Stands in for SIGKILL."""


class DiesAfter(MaildirTransport):
    """Delivers `survive` messages, then the process 'dies' before the next rename."""

    def __init__(self, path: Path, survive: int) -> None:
        super().__init__(path)
        self.survive = survive

    def send(self, envelope_from: str, recipient: str, raw: str, **kw: Any) -> SendResult:
        if self.survive == 0:
            raise Killed()
        self.survive -= 1
        return super().send(envelope_from, recipient, raw, **kw)


@pytest.fixture
def database(cli: Cli, tmp_path: Path) -> Any:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    csv = "email\n" + "".join(f"c{n}@example.com\n" for n in range(10))
    cli.ok("enroll", "s", "--csv", str(write(tmp_path / "c.csv", csv)), now="2026-11-23T10:00:00Z")
    db = Database(cli.db_url)
    yield db
    db.dispose()


def tick(db: Database, when: str, transport: MaildirTransport) -> Any:
    return Tick(db, now=at(when), pool=TransportPool(lambda mailbox: transport)).run()


def test_a_tick_killed_mid_group_is_finished_by_the_next_without_unknowns(
    database: Database, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    with pytest.raises(Killed):
        tick(database, "2026-11-23T10:00:00Z", DiesAfter(outbox, survive=4))
    # Ten intents committed in one transaction, four delivered, six staged in tmp/.
    assert len(outbox_messages(outbox)) == 4 and len(list((outbox / "tmp").iterdir())) == 6
    report = tick(database, "2026-11-23T10:02:00Z", MaildirTransport(outbox))
    assert (report.sent, report.unknown) == (10, 0)  # 4 found delivered, 6 delivered now
    recipients = sorted(str(m["To"]) for m in outbox_messages(outbox))
    assert recipients == sorted(f"c{n}@example.com" for n in range(10))
    assert list((outbox / "tmp").iterdir()) == []


def test_a_tick_that_lost_its_claim_can_no_longer_deliver_what_it_staged(
    database: Database, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    slow = DiesAfter(outbox, survive=0)
    with pytest.raises(Killed):  # stands in for a tick stalled past its lease
        tick(database, "2026-11-23T10:00:00Z", slow)
    tick(database, "2026-11-23T10:02:00Z", MaildirTransport(outbox))
    assert len(outbox_messages(outbox)) == 10
    # The stalled tick wakes up and tries to deliver its first staged message: withdrawn.
    [name] = list((outbox / "new").iterdir())[:1]
    message_id = next(m["Message-ID"] for m in outbox_messages(outbox))
    late = MaildirTransport(outbox).send(
        "ada@example.com", "c0@example.com", "x", message_id=message_id, attempt=1
    )
    assert late.outcome is SendOutcome.TRANSIENT and len(outbox_messages(outbox)) == 10
    assert name.exists()


def test_recover_reads_new_cur_and_tmp(tmp_path: Path) -> None:
    outbox = MaildirTransport(tmp_path)
    assert outbox.recover("<a@x>", 1) is None  # never staged: nobody can tell
    outbox.stage("<a@x>", 1, "Subject: a\r\n\r\nbody\r\n")
    assert outbox.recover("<a@x>", 1) is SendOutcome.TRANSIENT  # withdrawn, never delivered
    outbox.stage("<b@x>", 1, "Subject: b\r\n\r\nbody\r\n")
    assert outbox.send("f@x", "t@x", "unused", message_id="<b@x>").outcome is SendOutcome.SENT
    assert outbox.recover("<b@x>", 1) is SendOutcome.SENT
    delivered = tmp_path / "new" / MaildirTransport.file_name("<b@x>")
    delivered.rename(tmp_path / "cur" / (delivered.name + ":2,S"))  # a reader has seen it
    assert outbox.recover("<b@x>", 1) is SendOutcome.SENT
    assert (tmp_path / "cur" / (delivered.name + ":2,S")).read_bytes() == b"Subject: b\n\nbody\n"


def test_an_outbox_that_cannot_be_written_pauses_the_mailbox(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the Maildir should be")
    outbox = MaildirTransport(tmp_path / "blocked")
    outbox.stage("<a@x>", 1, "Subject: a\r\n\r\n")
    assert outbox.send("f@x", "t@x", "x", message_id="<a@x>").outcome is SendOutcome.MAILBOX_DOWN
