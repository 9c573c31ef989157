"""`seqctl sends` (what went out) and `seqctl test-send` (a step to myself, through the
real transport, touching nothing), on SQLite and Postgres."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, RecordingHandler, mail_fixture, outbox_messages, write

FILE = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>", limits: {per_day: 5}}
  - {key: bob, from: "Bob <bob@example.com>"}
sequences:
  - key: cold
    mailbox: ada
    steps:
      - {id: intro, type: email, subject: "Hi {{ contact.first_name }}", body: "Hello {{ contact.first_name }}"}
      - {id: call, type: task, kind: call, note: "Call"}
      - {id: bump, type: email, wait: 1d, thread: true, body: "Bump, {{ contact.first_name }}"}
  - key: news
    mailbox: bob
    steps:
      - id: only
        type: email
        variants:
          - {id: a, subject: "News A", body: "a"}
          - {id: b, subject: "News B", body: "b"}
"""


def setup(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", FILE)))
    csv = "email,first_name\nann@x.com,Ann\nben@y.com,Ben\n"
    cli.ok("contacts", "import", str(write(tmp_path / "c.csv", csv)))


def test_sends_lists_what_went_out_with_filters(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    setup(cli, tmp_path)
    cli.ok("enroll", "cold", "--email", "ann@x.com", now="2026-11-23T09:00:00Z")
    cli.ok("enroll", "news", "--email", "ben@y.com", now="2026-11-24T09:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T09:00:00Z")
    cli.ok("tick", "--now", "2026-11-24T09:00:00Z")
    today = cli.ok("--tz", "UTC", "sends", "--json", now="2026-11-24T12:00:00Z").json()
    assert [(s["email"], s["sequence"], s["step"], s["mailbox"]) for s in today] == [
        ("ben@y.com", "news", "only", "bob")
    ]
    assert today[0]["variant"] in ("a", "b") and today[0]["subject"].startswith("News")
    assert today[0]["message_id"].startswith("<") and today[0]["status"] == "sent"
    both = cli.ok("sends", "--since", "2026-11-23T00:00:00Z", "--json", now="2026-11-24T12:00:00Z").json()
    assert [s["email"] for s in both] == ["ben@y.com", "ann@x.com"]  # newest first
    ada = cli.ok("sends", "--since", "2026-11-23T00:00:00Z", "--mailbox", "ada", "--json").json()
    assert [s["subject"] for s in ada] == ["Hi Ann"]
    cold = cli.ok("sends", "--since", "2026-11-01T00:00:00Z", "--until", "2026-11-23T09:00:00Z", "--json").json()
    assert cold == []  # the end is not included
    table = cli.ok("sends", "--since", "2026-11-23T00:00:00Z", now="2026-11-24T12:00:00Z").stdout
    assert "ann@x.com" in table and "2026-11-23 09:00" in table
    bad = cli("sends", "--mailbox", "nope")
    assert bad.code == 2 and "no such mailbox" in bad.stderr


def test_test_send_goes_through_the_real_transport_and_touches_nothing(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler
) -> None:
    setup(cli, tmp_path)
    cli.ok("enroll", "cold", "--email", "ann@x.com", now="2026-11-23T09:00:00Z")
    sent = cli.ok("test-send", "cold", "bump", "--to", "me@ops.example", "--email", "ann@x.com", "--json",
                  now="2026-11-23T09:00:00Z").json()  # fmt: skip
    [message] = smtp_server.parsed()
    assert message["To"].addresses[0].addr_spec == "me@ops.example"
    assert str(message["Subject"]) == "[test] Re: Hi Ann"  # a threaded step: the thread's subject
    assert "Bump, Ann" in message.get_body(("plain",)).get_content()
    assert str(message["Message-ID"]) == sent["message_id"] and sent["message_id"].startswith("<seqctl-test.")
    assert message["List-Unsubscribe"] is None
    # No enrollment moved, no send recorded, no limit used, no statistic.
    [enrollment] = cli.ok("enrollments", "--json").json()
    assert enrollment["step"] == "intro"
    assert cli.ok("sends", "--since", "2026-11-01T00:00:00Z", "--json").json() == []
    assert cli.ok("mailboxes", "--json", now="2026-11-23T09:00:00Z").json()[0]["sent_today"] == 0
    assert cli.ok("stats", "cold", "--json").json()[0]["steps"][0]["sent"] == 0
    # A sample contact and a chosen variant; a non-email step and an unknown step are refused.
    sample = cli.ok("test-send", "news", "only", "--to", "me@ops.example", "--variant", "b", "--json").json()
    assert sample["variant"] == "b" and sample["subject"] == "[test] News B"
    task = cli("test-send", "cold", "call", "--to", "me@ops.example")
    assert task.code == 2 and "only an email step" in task.stderr
    assert cli("test-send", "cold", "nope", "--to", "me@ops.example").code == 2
    assert cli("test-send", "cold", "intro").code == 2  # --to is needed


def test_a_reply_to_a_test_send_is_not_a_reply_to_the_sequence(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    setup(cli, tmp_path)
    cli.ok("enroll", "cold", "--email", "ann@x.com", now="2026-11-23T09:00:00Z")
    # The operator tests the step to a colleague who is also a contact, who replies to it.
    sent = cli.ok("test-send", "cold", "intro", "--to", "ann@x.com", "--json", now="2026-11-23T08:00:00Z").json()
    assert [str(m["Message-ID"]) for m in outbox_messages(outbox)] == [sent["message_id"]]
    inbox = tmp_path / "inbox"
    (inbox / "new").mkdir(parents=True)
    (inbox / "cur").mkdir()
    (inbox / "new" / "1.r").write_bytes(mail_fixture("reply.eml", original=sent["message_id"], contact="ann@x.com"))
    report = cli.ok("inbox", "sync", "--maildir", str(inbox), "--json", now="2026-11-23T08:30:00Z").json()
    assert report["unmatched"] == 1 and report["exited"] == 0
    [enrollment] = cli.ok("enrollments", "--json").json()
    assert enrollment["status"] == "active"
