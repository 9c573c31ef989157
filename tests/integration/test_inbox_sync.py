"""`seqctl inbox sync --maildir`: what comes back stops, pauses or suppresses, once."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, ada_sequence, mail_fixture, outbox_messages, write

SEQ = ada_sequence(
    """\
      - {id: one, type: email, subject: "Quick question", body: "Hi"}
      - {id: two, type: email, wait: 1d, thread: true, body: "Bump"}
"""
)


def deliver(inbox: Path, name: str, fixture: str, original: str, contact: str) -> None:
    (inbox / "new").mkdir(parents=True, exist_ok=True)
    (inbox / "cur").mkdir(exist_ok=True)
    (inbox / "new" / name).write_bytes(mail_fixture(fixture, original=original, contact=contact))


def test_replies_bounces_and_out_of_office_between_two_ticks(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    people = ["reply@a.com", "bounce@b.com", "away@c.com", "quiet@d.com", "unsub@e.com"]
    cli.add_contacts_for("s", *[arg for p in people for arg in ("--email", p)])
    cli.ok("enroll", "s", *[arg for p in people for arg in ("--email", p)], now="2026-11-23T10:00:00Z")
    assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["sent"] == 5
    sent = {str(m["To"]): str(m["Message-ID"]) for m in outbox_messages(outbox)}

    inbox = tmp_path / "inbox"
    deliver(inbox, "1.a", "reply.eml", sent["reply@a.com"], "reply@a.com")
    deliver(inbox, "2.b", "dsn_hard.eml", sent["bounce@b.com"], "bounce@b.com")
    deliver(inbox, "3.c", "out_of_office_en.eml", sent["away@c.com"], "away@c.com")
    deliver(inbox, "4.e", "unsubscribe.eml", sent["unsub@e.com"], "unsub@e.com")
    deliver(inbox, "5.x", "junk.eml", "<none@x>", "nobody@x.com")
    first = cli.ok(
        "inbox", "sync", "--maildir", str(inbox), "--mailbox", "ada", "--json", now="2026-11-23T18:00:00Z"
    )
    report = first.json()
    assert report["read"] == 5 and report["unmatched"] == 1
    assert (report["reply"], report["bounce"], report["auto_reply"], report["unsubscribe"]) == (2, 1, 1, 1)
    assert report["exited"] == 3 and report["paused"] == 1
    unmatched = cli.ok("inbox", "list", "--unmatched", "--json").json()
    assert [(m["sender"], m["outcome"]) for m in unmatched] == [("deals@shop.example", "unmatched")]  # junk.eml
    listed = cli.ok("inbox", "list", "--json").json()
    assert len(listed) == 5 and {m["kind"] for m in listed} == {"reply", "bounce", "auto_reply", "unsubscribe"}
    # A reader moved one message to cur/: still the same message, not read again.
    (inbox / "new" / "1.a").rename(inbox / "cur" / "1.a:2,S")
    again = cli.ok("inbox", "sync", "--maildir", str(inbox), "--json", now="2026-11-23T18:05:00Z").json()
    assert again["read"] == 0 and again["already_read"] == 5

    # The next day's bump goes only to the one who said nothing.
    assert cli.ok("tick", "--now", "2026-11-24T10:00:00Z", "--json").json()["sent"] == 1
    bumps = [str(m["To"]) for m in outbox_messages(outbox) if str(m["Subject"]).startswith("Re:")]
    assert bumps == ["quiet@d.com"]
    # The out-of-office contact is back on Saturday 5 December: the bump waits until then.
    assert cli.ok("tick", "--now", "2026-12-04T23:00:00Z", "--json").json()["sent"] == 0
    assert cli.ok("tick", "--now", "2026-12-05T00:00:00Z", "--json").json()["sent"] == 1
    suppressed = {r["value"]: r["reason"] for r in cli.ok("suppress", "list", "--json").json()}
    assert suppressed == {"bounce@b.com": "bounced", "unsub@e.com": "unsubscribed"}
    exits = {e["email"]: e for e in cli.ok("queue", "--json").json()}
    assert "reply@a.com" not in exits


def test_not_a_maildir_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("inbox", "sync", "--maildir", str(tmp_path / "nowhere"))
    assert result.code == 2 and "not a Maildir" in result.stderr and "Traceback" not in result.stderr


def test_two_syncs_at_once_read_each_message_once(cli: Cli, db_url: str, tmp_path: Path) -> None:
    import threading
    from datetime import UTC, datetime

    from seqctl.services.inbox import sync_maildir
    from seqctl.store.db import Database

    inbox = tmp_path / "inbox"
    for n in range(40):
        text = f"From: person{n}@example.org\nTo: ada@example.com\nSubject: hello {n}\nMessage-ID: <m{n}@example.org>\n\nHi\n"
        deliver_text = inbox / "new" / f"{n}.x"
        deliver_text.parent.mkdir(parents=True, exist_ok=True)
        (inbox / "cur").mkdir(exist_ok=True)
        deliver_text.write_text(text)
    reports, errors = [], []

    def sync() -> None:
        db = Database(db_url)
        try:
            reports.append(sync_maildir(db, str(inbox), mailbox_key="ada", now=datetime(2026, 11, 23, tzinfo=UTC)))
        except Exception as exc:
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.read for r in reports) == 40
    assert len(cli.ok("inbox", "list", "--limit", "100", "--json").json()) == 40


def test_mail_matched_only_by_its_sender_must_come_to_a_mailbox_the_contact_hears_from(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    two_mailboxes = SEQ.replace(
        'mailboxes:\n  - {key: ada, from: "Ada <ada@example.com>"}\n',
        'mailboxes:\n  - {key: ada, from: "Ada <ada@example.com>"}\n  - {key: bob, from: "Bob <bob@example.com>"}\n',
    )
    cli.ok("import", str(write(tmp_path / "s.yaml", two_mailboxes)))
    cli.add_contacts_for("s", "--email", "grace@example.org")
    cli.ok("enroll", "s", "--email", "grace@example.org", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    for mailbox, expected in (("bob", 1), ("ada", 0)):
        inbox = tmp_path / mailbox
        # No In-Reply-To or References: only the sender says who it is.
        deliver(inbox, "1.q", "reply_quoting_without_headers.eml", "<unused@x>", "grace@example.org")
        report = cli.ok("inbox", "sync", "--maildir", str(inbox), "--mailbox", mailbox, "--json").json()
        assert report["unmatched"] == expected, mailbox
