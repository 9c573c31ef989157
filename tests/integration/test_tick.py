"""The tick through the real CLI: idempotence, every step type, exits, failures contained."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, outbox_messages, write

FLOW = """\
mailboxes:
  - key: ada
    from: "Ada Lovelace <ada@example.com>"
sequences:
  - key: flow
    mailbox: ada
    owner: ada
    steps:
      - {id: hello, type: email, subject: "Hello {{ contact.first_name }}", body: "Hi {{ contact.first_name }} at {{ contact.company }}", html: "<p>{{ contact.company }}</p>"}
      - {id: tagit, type: action, tag: [touched], set: {stage: contacted}}
      - id: opened
        type: branch
        wait: 1d
        if: {event: opened, step: hello}
        then: call
        else: bump
      - {id: call, type: task, kind: call, note: "Call {{ contact.first_name }}", next: end}
      - {id: bump, type: email, thread: true, body: "Bumping, {{ contact.first_name }}"}
      - {id: bye, type: action, wait: 1d, exit: "done bumping"}
  - key: other
    mailbox: ada
    steps:
      - {id: only, type: email, subject: "Other", body: "x"}
"""


def setup(cli: Cli, tmp_path: Path, csv: str) -> None:
    cli.ok("import", str(write(tmp_path / "flow.yaml", FLOW)))
    cli.ok("enroll", "flow", "--csv", str(write(tmp_path / "c.csv", csv)), now="2026-11-23T10:00:00Z")


def test_ticking_twice_at_the_same_instant_sends_nothing_the_second_time(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "email,first_name,company\na@example.com,A,Acme\nb@example.com,B,Beta\n")
    first = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    second = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert first["sent"] == 2 and first["actions"] == 2
    assert second["claimed"] == 0 and second["sent"] == 0
    assert len(outbox_messages(outbox)) == 2


def test_branch_task_and_thread(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    setup(
        cli, tmp_path, "email,first_name,company\nopen@example.com,Olga,Acme\nquiet@example.com,Quinn,Beta\n"
    )
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    hello = {m["To"].addresses[0].addr_spec: m for m in outbox_messages(outbox)}
    cli.ok(
        "event",
        "opened",
        "--email",
        "open@example.com",
        "--message-id",
        hello["open@example.com"]["Message-ID"].strip("<>"),
        now="2026-11-23T12:00:00Z",
    )
    report = cli.ok("tick", "--now", "2026-11-24T10:00:00Z", "--json").json()
    assert report["branched"] == 2 and report["tasks"] == 1 and report["sent"] == 1
    tasks = cli.ok("tasks", "--json").json()
    assert [(t["email"], t["kind"], t["note"], t["owner"], t["sequence"], t["step"]) for t in tasks] == [
        ("open@example.com", "call", "Call Olga", "ada", "flow", "call")
    ]
    assert tasks[0]["id"] and tasks[0]["due"].startswith("2026-11-24T10:00")
    bump = [m for m in outbox_messages(outbox) if m["To"].addresses[0].addr_spec == "quiet@example.com"][-1]
    assert bump["Subject"] == "Re: Hello Quinn"
    assert bump["In-Reply-To"] == hello["quiet@example.com"]["Message-ID"]
    cli.ok("task", "done", str(tasks[0]["id"]), "--outcome", "booked", now="2026-11-24T11:00:00Z")
    assert cli.ok("tasks", "--json").json() == []
    log = cli.ok("log", "flow", "--email", "open@example.com", "--json").json()[0]
    assert log["status"] == "completed"
    cli.ok("tick", "--now", "2026-11-25T10:00:00Z")
    quiet = cli.ok("log", "flow", "--email", "quiet@example.com", "--json").json()[0]
    assert (quiet["status"], quiet["exit_reason"]) == ("exited", "action")


def test_action_tags_and_sets_fields(cli: Cli, tmp_path: Path) -> None:
    setup(cli, tmp_path, "email,first_name,company\na@example.com,A,Acme\n")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    cli.ok("import", str(write(tmp_path / "again.yaml", FLOW)))  # unchanged
    report = cli.ok("enroll", "other", "--tag", "touched", "--json", now="2026-11-23T10:00:00Z").json()
    assert [e["email"] for e in report["enrolled"]] == ["a@example.com"]


def test_reply_exits_before_the_next_step(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    setup(cli, tmp_path, "email,first_name,company\na@example.com,A,Acme\n")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    cli.ok("event", "replied", "--email", "a@example.com", now="2026-11-23T15:00:00Z")
    log = cli.ok("log", "--id", "1", "--json").json()[0]
    assert (log["status"], log["exit_reason"]) == ("exited", "replied")
    cli.ok("tick", "--now", "2026-11-30T10:00:00Z")
    assert len(outbox_messages(outbox)) == 1


def test_unsubscribe_suppresses_the_address_for_every_sequence(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "email,first_name,company\na@example.com,A,Acme\n")
    cli.ok("event", "unsubscribed", "--email", "a@example.com", now="2026-11-23T09:00:00Z")
    cli.add_contacts_for("other", "--email", "a@example.com", "--json")
    skipped = cli.ok(
        "enroll", "other", "--email", "a@example.com", "--json", now="2026-11-23T10:00:00Z"
    ).json()
    assert skipped["enrolled"] == [] and "suppressed" in skipped["skipped"][0]["reason"]
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    assert outbox_messages(outbox) == []


def test_enrolling_twice_is_reported_and_skipped(cli: Cli, tmp_path: Path) -> None:
    setup(cli, tmp_path, "email,first_name,company\na@example.com,A,Acme\n")
    cli.add_contacts_for("flow", "--email", "A@example.com")
    again = cli("enroll", "flow", "--email", "A@example.com", now="2026-11-23T10:00:00Z")
    assert again.code == 0 and "skipped 1 (--verbose lists them)" in again.stderr
    again = cli("enroll", "flow", "--email", "A@example.com", "--verbose", now="2026-11-23T10:00:00Z")
    assert again.code == 0 and "already in flow" in again.stderr


def test_missing_variable_fails_that_enrollment_only_and_retry_requeues_it(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "email,first_name,company\ngood@example.com,G,Acme\nbad@example.com,B,\n")
    report = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert report["sent"] == 1 and report["failed"] == 1
    failed = cli.ok("queue", "--failed", "--json").json()
    assert failed[0]["email"] == "bad@example.com" and "contact.company is not set" in failed[0]["error"]
    assert all("Hi B at" not in str(m) for m in outbox_messages(outbox))
    cli.ok("contacts", "import", str(write(tmp_path / "fix.csv", "email,company\nbad@example.com,Fixed\n")))
    cli.ok("retry", str(failed[0]["id"]), now="2026-11-23T11:00:00Z")
    assert cli.ok("tick", "--now", "2026-11-23T11:00:00Z", "--json").json()["sent"] == 1


def test_contact_data_with_crlf_and_html_cannot_inject(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    cli.ok("import", str(write(tmp_path / "flow.yaml", FLOW)))
    csv = 'email,first_name,company\neve@example.com,"Eve\r\nBcc: victim@example.com","<b>Evil</b> & Co"\n'
    cli.ok("enroll", "flow", "--csv", str(write(tmp_path / "c.csv", csv)), now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    [message] = outbox_messages(outbox)
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in html


def test_pause_resume_cancel(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    setup(cli, tmp_path, "email,first_name,company\na@example.com,A,Acme\nb@example.com,B,Beta\n")
    cli.ok("pause", "flow", "--email", "a@example.com", now="2026-11-23T09:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    assert [m["To"].addresses[0].addr_spec for m in outbox_messages(outbox)] == ["b@example.com"]
    cli.ok("resume", "flow", "--email", "a@example.com", now="2026-11-23T12:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T12:00:00Z")
    assert len(outbox_messages(outbox)) == 2
    cli.ok("cancel", "flow", now="2026-11-23T13:00:00Z")
    assert cli.ok("queue", "--json").json() == []
    stats = cli.ok("stats", "flow", "--json").json()[0]
    assert stats["exits"] == {"manual": 2}


def test_dry_run_changes_nothing(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    setup(cli, tmp_path, "email,first_name,company\na@example.com,A,Acme\n")
    due = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--dry-run", "--json").json()
    assert [(d["email"], d["step"], d["type"]) for d in due["due"]] == [("a@example.com", "hello", "email")]
    assert outbox_messages(outbox) == []
    assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["sent"] == 1


def test_bad_input_exits_2_with_one_line(cli: Cli, tmp_path: Path) -> None:
    setup(cli, tmp_path, "email,first_name,company\na@example.com,A,Acme\n")
    for args in (["tick", "--now", "2026-11-23T10:00:00"], ["enroll", "nope", "--email", "a@example.com"],
                 ["event", "waved", "--email", "a@example.com"], ["resolve", "99", "--sent"], ["task", "done", "5"],
                 ["enroll", "flow", "--email", "x@example.com", "--step", "missing"]):  # fmt: skip
        result = cli(*args)
        assert result.code == 2, (args, result)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("seqctl: "), (args, result.stderr)


def test_uninitialised_database_says_run_init(tmp_path: Path) -> None:
    fresh = Cli(f"sqlite:///{tmp_path / 'new.db'}", tmp_path)
    result = fresh("queue")
    assert result.code == 1 and "seqctl init" in result.stderr
