"""`seqctl inbox sync` against a real IMAP server (Dovecot on loopback): every kind of mail
lands as the right event, once; a rebuilt folder (new UIDVALIDITY) adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, events_by_email, mail_fixture, outbox_messages, write
from tests.imap_server import ImapServer, running_dovecot

SEQ = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>", imap: "${ADA_IMAP_URL}", reputation: {complaint_rate: 10%}}
sequences:
  - key: s
    mailbox: ada
    steps:
      - {id: one, type: email, subject: "Quick question", body: "Hi"}
      - {id: two, type: email, wait: 1d, thread: true, body: "Bump"}
"""

# (contact, fixture it sends back, the events it must leave)
MAIL = [
    ("reply@a.com", "reply.eml", [("replied", None)]),
    ("quoted@q.com", "reply_quoting_without_headers.eml", [("replied", None)]),
    ("away@c.com", "out_of_office_en.eml", [("auto_replied", None)]),
    ("hard@b.com", "dsn_hard.eml", [("bounced", "hard")]),
    ("delayed@s.com", "dsn_soft.eml", None),  # a delay notice changes nothing
    ("full@f.com", "postfix_final_4xx.eml", [("bounced", "soft")]),  # given up: exits, not suppressed
    ("dmarc@m.com", "gmail_dmarc_5726.eml", [("bounced", "soft")]),  # the sender's DMARC: suppresses no one
    ("gmail@g.com", "gmail_bounce.eml", [("bounced", "hard")]),
    ("exchange@x.com", "exchange_ndr.eml", [("bounced", "hard")]),
    ("unsub@e.com", "unsubscribe.eml", [("unsubscribed", None)]),
    ("spam@p.com", "arf_complaint.eml", [("complained", None)]),
]
QUIET = "quiet@d.com"


@pytest.fixture
def imap(monkeypatch: pytest.MonkeyPatch) -> Iterator[ImapServer]:
    with running_dovecot() as server:
        monkeypatch.setenv("ADA_IMAP_URL", server.url("Replies"))
        yield server


def _send_first_emails(cli: Cli, tmp_path: Path, outbox: Path) -> dict[str, str]:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    people = [email for email, _, _ in MAIL] + [QUIET]
    cli.add_contacts_for("s", *[arg for p in people for arg in ("--email", p)])
    cli.ok("enroll", "s", *[arg for p in people for arg in ("--email", p)], now="2026-11-23T10:00:00Z")
    assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["sent"] == len(people)
    return {str(m["To"]): str(m["Message-ID"]) for m in outbox_messages(outbox)}


def _append_all(imap: ImapServer, sent: dict[str, str]) -> None:
    for contact, fixture, _ in MAIL:
        imap.append("Replies", mail_fixture(fixture, original=sent[contact], contact=contact))
    imap.append("Replies", mail_fixture("junk.eml", original="<none@x>", contact="nobody@x.com"))


def test_each_kind_of_mail_lands_as_its_event_once(
    cli: Cli, db_url: str, tmp_path: Path, outbox: Path, imap: ImapServer
) -> None:
    sent = _send_first_emails(cli, tmp_path, outbox)
    _append_all(imap, sent)

    report = cli.ok("inbox", "sync", "--json", now="2026-11-23T18:00:00Z").json()
    assert report["read"] == 12 and report["unmatched"] == 1 and report["errors"] == []
    assert (report["reply"], report["bounce"], report["auto_reply"], report["unsubscribe"]) == (3, 5, 1, 1)
    assert (report["complaint"], report["delivery_report"]) == (1, 1)
    events = events_by_email(db_url)
    assert {email: events.get(email) for email, _, _ in MAIL} == {email: want for email, _, want in MAIL}
    assert QUIET not in events

    # A second sync reads nothing: it asks only for UIDs above the last one read.
    again = cli.ok("inbox", "sync", "--mailbox", "ada", "--json", now="2026-11-23T18:05:00Z").json()
    assert again["read"] == 0
    assert events_by_email(db_url) == events

    # The folder is rebuilt with the same mail (new UIDVALIDITY): rescanned, nothing added.
    imap.recreate("Replies")
    _append_all(imap, sent)
    rebuilt = cli.ok("inbox", "sync", "--json", now="2026-11-23T18:10:00Z").json()
    assert rebuilt["read"] == 0 and rebuilt["already_read"] == 12
    assert events_by_email(db_url) == events

    # The next day's bump goes to the quiet one and to the delayed one only; the
    # out-of-office contact waits for its return date.
    cli.ok("tick", "--now", "2026-11-24T10:00:00Z")
    bumps = sorted(str(m["To"]) for m in outbox_messages(outbox) if str(m["Subject"]).startswith("Re:"))
    assert bumps == ["delayed@s.com", QUIET]
    suppressed = {r["value"] for r in cli.ok("suppress", "list", "--json").json()}
    assert suppressed == {"hard@b.com", "gmail@g.com", "exchange@x.com", "unsub@e.com", "spam@p.com"}
    listed = {row["contact"]: row for row in cli.ok("inbox", "list", "--json").json()}
    assert (listed["full@f.com"]["kind"], listed["full@f.com"]["bounce"], listed["full@f.com"]["reason"]) == (
        "bounce", "soft", "mailbox_full",
    )  # fmt: skip
    assert listed["dmarc@m.com"]["reason"] == "auth_failed" and listed["dmarc@m.com"]["address"] == "dmarc@m.com"
    assert listed["delayed@s.com"]["kind"] == "delivery_report" and listed["delayed@s.com"]["bounce"] is None
    assert listed["away@c.com"]["returns_on"] == "2026-12-05"
    assert listed["spam@p.com"]["kind"] == "complaint"


def test_a_reply_between_two_ticks_stops_the_next_step(
    cli: Cli, tmp_path: Path, outbox: Path, imap: ImapServer
) -> None:
    sent = _send_first_emails(cli, tmp_path, outbox)
    imap.append("Replies", mail_fixture("reply.eml", original=sent["reply@a.com"], contact="reply@a.com"))
    cli.ok("inbox", "sync", now="2026-11-23T18:00:00Z")
    cli.ok("tick", "--now", "2026-11-24T10:00:00Z")
    bumped = {str(m["To"]) for m in outbox_messages(outbox) if str(m["Subject"]).startswith("Re:")}
    assert "reply@a.com" not in bumped and QUIET in bumped
    log = cli.ok("log", "s", "--email", "reply@a.com", "--json").json()
    assert (log[0]["status"], log[0]["exit_reason"]) == ("exited", "replied")


@pytest.mark.parametrize("starttls", [False, True], ids=["imaps", "starttls"])
def test_over_tls(
    cli: Cli, tmp_path: Path, outbox: Path, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    starttls: bool,
) -> None:  # fmt: skip
    # With STARTTLS the server refuses a login before TLS (ssl = required).
    with running_dovecot(tls_files, starttls=starttls) as server:
        monkeypatch.setenv("ADA_IMAP_URL", server.url("INBOX"))
        sent = _send_first_emails(cli, tmp_path, outbox)
        server.append("INBOX", mail_fixture("reply.eml", original=sent["reply@a.com"], contact="reply@a.com"))
        report = cli.ok("inbox", "sync", "--json", now="2026-11-23T18:00:00Z").json()
    assert report["read"] == 1 and report["reply"] == 1


def test_a_mailbox_that_cannot_be_read_is_reported_without_its_password(
    cli: Cli, tmp_path: Path, outbox: Path, imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _send_first_emails(cli, tmp_path, outbox)
    monkeypatch.setenv("ADA_IMAP_URL", imap.url("Replies").replace("s3cret", "wrong"))
    result = cli("inbox", "sync", now="2026-11-23T18:00:00Z")
    assert result.code == 1 and "mailbox ada" in result.stderr and "Traceback" not in result.stderr
    assert "wrong" not in result.stderr and "s3cret" not in result.stderr
    monkeypatch.delenv("ADA_IMAP_URL")
    unset = cli("inbox", "sync", now="2026-11-23T18:00:00Z")
    assert unset.code == 1 and "${ADA_IMAP_URL} is not set" in unset.stderr


def test_a_mailbox_without_imap_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ.replace(', imap: "${ADA_IMAP_URL}"', ""))))
    result = cli("inbox", "sync", "--mailbox", "ada")
    assert result.code == 2 and "has no imap" in result.stderr


def test_a_folder_with_a_non_ascii_name(
    cli: Cli, tmp_path: Path, outbox: Path, imap: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqctl.inbound.imap import mailbox_name

    assert mailbox_name("Réponses & co/日本語") == "R&AOk-ponses &- co/&ZeVnLIqe-"  # RFC 3501 §5.1.3
    sent = _send_first_emails(cli, tmp_path, outbox)
    imap.append(mailbox_name("Réponses"), mail_fixture("reply.eml", original=sent["reply@a.com"], contact="reply@a.com"))
    monkeypatch.setenv("ADA_IMAP_URL", imap.url("R%C3%A9ponses"))
    report = cli.ok("inbox", "sync", "--json", now="2026-11-23T18:00:00Z").json()
    assert report["read"] == 1 and report["reply"] == 1
