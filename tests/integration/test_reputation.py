"""The reputation breaker (SPEC §5) over a hundred real sends, and events that name no
message counting for the contact's last email (SPEC §1)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, outbox_messages, write

SEQ = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
sequences:
  - key: s
    mailbox: ada
    steps:
      - {id: one, type: email, subject: "Quick question", body: "Hi"}
      - {id: two, type: email, wait: 1d, thread: true, body: "Bump"}
"""
PEOPLE = [f"p{n:03d}@example.org" for n in range(100)]


def _send_hundred(cli: Cli, tmp_path: Path, outbox: Path) -> dict[str, str]:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    contacts = tmp_path / "people.csv"
    contacts.write_text("email\n" + "\n".join(PEOPLE) + "\n")
    cli.ok("contacts", "import", str(contacts))
    cli.ok("enroll", "s", "--csv", str(contacts), now="2026-11-23T10:00:00Z")
    assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["sent"] == 100
    return {str(m["To"]): str(m["Message-ID"]) for m in outbox_messages(outbox)}


def _bounce(tmp_path: Path, cli: Cli, name: str, sent: dict[str, str], people: list[str], reason: str) -> dict:
    lines = [json.dumps({"type": "bounced", "message_id": sent[p], "reason": reason, "at": "2026-11-23T10:05:00Z"})
             for p in people]  # fmt: skip
    return cli.ok("events", "import", str(write(tmp_path / name, "\n".join(lines) + "\n")), "--json").json()


def test_bounces_past_five_percent_of_the_last_hundred_sends_pause_the_mailbox(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    sent = _send_hundred(cli, tmp_path, outbox)
    # A DMARC rejection (5.7.26) is the sender's problem: the contact exits, nothing is
    # suppressed, nothing pauses, but it counts toward the breaker.
    _bounce(tmp_path, cli, "dmarc.jsonl", sent, PEOPLE[:1], "auth_failed")
    assert cli.ok("suppress", "list", "--json").json() == []
    [ada] = cli.ok("mailboxes", "--json").json()
    assert (ada["state"], ada["recent_sends"], ada["recent_bounces"]) == ("active", 100, 1)
    # Four hard bounces: five of a hundred is not past 5%.
    _bounce(tmp_path, cli, "hard.jsonl", sent, PEOPLE[1:5], "user_unknown")
    assert cli.ok("mailboxes", "--json").json()[0]["state"] == "active"
    # Soft bounces of the recipient's own (a full mailbox) do not count.
    _bounce(tmp_path, cli, "full.jsonl", sent, PEOPLE[5:15], "mailbox_full")
    assert cli.ok("mailboxes", "--json").json()[0]["state"] == "active"
    # A "blocked" one is the sixth: the mailbox pauses.
    _bounce(tmp_path, cli, "blocked.jsonl", sent, PEOPLE[15:16], "blocked")
    [ada] = cli.ok("mailboxes", "--json").json()
    assert ada["state"] == "paused" and "6 bounces in the last 100 sends" in ada["why"]

    # The next day nothing of the mailbox goes out, and every view says why.
    report = cli.ok("tick", "--now", "2026-11-24T10:00:00Z", "--json").json()
    assert report["sent"] == 0 and "reputation" in report["paused_mailboxes"]["ada"]
    summary = cli("tick", "--now", "2026-11-24T10:01:00Z")
    assert "mailbox ada paused: reputation" in summary.stderr + summary.stdout
    queue = cli.ok("queue", "--json", now="2026-11-24T10:02:00Z").json()
    assert queue and all("reputation" in row["why"] for row in queue)
    # Until an operator resumes it: the held bumps are due at once.
    cli.ok("mailbox", "resume", "ada", now="2026-11-24T11:00:00Z")
    assert cli.ok("tick", "--now", "2026-11-24T11:00:00Z", "--json").json()["sent"] == 100 - 16


def test_one_complaint_in_a_hundred_sends_pauses_the_mailbox(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    sent = _send_hundred(cli, tmp_path, outbox)
    line = json.dumps({"type": "complained", "message_id": sent[PEOPLE[7]], "at": "2026-11-23T12:00:00Z"})
    report = cli.ok("events", "import", str(write(tmp_path / "c.jsonl", line + "\n")), "--json").json()
    assert (report["suppressed"], report["exited"]) == (1, 1)
    [ada] = cli.ok("mailboxes", "--json").json()
    assert ada["state"] == "paused" and "1 spam complaint" in ada["why"]
    log = cli.ok("log", "s", "--email", PEOPLE[7], "--json").json()[0]
    assert log["exit_reason"] == "complained"


def test_events_without_a_message_id_count_for_the_last_email(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    three = SEQ + '      - {id: three, type: email, wait: 5d, thread: true, body: "Last one"}\n'
    cli.ok("import", str(write(tmp_path / "s.yaml", three)))
    cli.add_contacts_for("s", "--email", "a@example.org", "--email", "b@example.org")
    cli.ok("enroll", "s", "--email", "a@example.org", "--email", "b@example.org", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-24T10:00:00Z")  # both got the bump: the last email is step two
    # A reply matched by its sender's address only (no threading headers) …
    inbox = tmp_path / "inbox"
    for sub in ("new", "cur", "tmp"):
        (inbox / sub).mkdir(parents=True)
    (inbox / "new" / "1").write_bytes(
        b"From: A <a@example.org>\r\nTo: ada@example.com\r\nSubject: hello\r\nMessage-ID: <r1@example.org>\r\n"
        b"Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nLet's talk.\r\n"
    )
    cli.ok("inbox", "sync", "--maildir", str(inbox), "--mailbox", "ada", now="2026-11-24T12:05:00Z")
    # … and one recorded by hand without --message-id.
    cli.ok("event", "replied", "--email", "b@example.org", "--at", "2026-11-24T13:00:00Z")
    steps = {s["step"]: s for s in cli.ok("stats", "s", "--json").json()[0]["steps"]}
    assert (steps["one"]["replied"], steps["two"]["replied"]) == (0, 2)
