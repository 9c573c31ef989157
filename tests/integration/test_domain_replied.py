"""`exit_on: [domain_replied]`: a reply from anyone at a company ends its colleagues'
enrollments in that sequence; free-mail addresses are no company."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, mail_fixture, outbox_messages, write

SEQS = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
sequences:
  - key: accounts
    mailbox: ada
    exit_on: [replied, domain_replied]
    steps:
      - {id: one, type: email, subject: "Hi", body: "Hi"}
      - {id: two, type: email, wait: 1d, thread: true, body: "Bump"}
  - key: other
    mailbox: ada
    steps:
      - {id: one, type: email, subject: "Hi", body: "Hi"}
      - {id: two, type: email, wait: 1d, thread: true, body: "Bump"}
"""


def _statuses(cli: Cli, sequence: str) -> dict[str, tuple[str, str | None]]:
    found = {}
    for email in ("cto@acme.com", "vp@sales.acme.com", "ceo@acme.co.uk", "me@gmail.com", "you@gmail.com"):
        log = cli("log", sequence, "--email", email, "--json")
        if log.code == 0:
            found[email] = (log.json()[0]["status"], log.json()[0]["exit_reason"])
    return found


def test_a_reply_from_one_person_ends_the_company_in_sequences_that_ask(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQS)))
    everyone = ["cto@acme.com", "vp@sales.acme.com", "ceo@acme.co.uk", "me@gmail.com", "you@gmail.com"]
    cli.add_contacts_for("accounts", *[a for e in everyone for a in ("--email", e)])
    cli.ok("enroll", "accounts", *[a for e in everyone for a in ("--email", e)], now="2026-11-23T10:00:00Z")
    cli.add_contacts_for("other", "--email", "vp@sales.acme.com")
    cli.ok("enroll", "other", "--email", "vp@sales.acme.com", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")

    cli.ok("event", "replied", "--email", "cto@acme.com", now="2026-11-23T12:00:00Z")
    cli.ok("event", "replied", "--email", "me@gmail.com", now="2026-11-23T12:00:00Z")
    assert _statuses(cli, "accounts") == {
        "cto@acme.com": ("exited", "replied"),
        "vp@sales.acme.com": ("exited", "domain_replied"),
        "ceo@acme.co.uk": ("active", None),  # another registrable domain
        "me@gmail.com": ("exited", "replied"),
        "you@gmail.com": ("active", None),  # gmail.com is not a company
    }
    assert _statuses(cli, "other") == {"vp@sales.acme.com": ("active", None)}  # does not ask
    tick = cli.ok("tick", "--now", "2026-11-24T10:00:00Z", "--json").json()
    assert tick["sent"] == 3  # ceo@acme.co.uk, you@gmail.com, and vp@ in `other`


def test_a_colleague_answering_the_thread_ends_the_company(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQS)))
    cli.add_contacts_for("accounts", "--email", "cto@acme.com", "--email", "vp@sales.acme.com")
    cli.ok("enroll", "accounts", "--email", "cto@acme.com", "--email", "vp@sales.acme.com", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    sent = {str(m["To"]): str(m["Message-ID"]) for m in outbox_messages(outbox)}
    inbox = tmp_path / "inbox"
    (inbox / "new").mkdir(parents=True)
    (inbox / "new" / "1").write_bytes(
        mail_fixture("reply.eml", original=sent["cto@acme.com"], contact="assistant@acme.com")
    )
    report = cli.ok("inbox", "sync", "--maildir", str(inbox), "--json", now="2026-11-23T18:00:00Z").json()
    assert report["reply"] == 1 and report["exited"] == 2
    assert _statuses(cli, "accounts") == {
        "cto@acme.com": ("exited", "replied"),
        "vp@sales.acme.com": ("exited", "domain_replied"),
    }
