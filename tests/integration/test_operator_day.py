"""The operator's day (SPEC §3): safe re-enrollment, exclusive sequences, a sequence paused
or archived as a whole, `import --prune`, `move`, and the `sequences` and `enrollments`
views — each through the real CLI, on SQLite and Postgres."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, outbox_messages, write

FILE = """\
mailboxes:
  - key: ada
    from: "Ada <ada@example.com>"
sequences:
  - key: cold
    mailbox: ada
    exclusive: true
    steps:
      - {id: hello, type: email, subject: "Hello {{ contact.email }}", body: "one"}
      - {id: call, type: task, kind: call, wait: 1d, note: "Call"}
      - {id: bump, type: email, wait: 2d, thread: true, body: "two"}
  - key: warm
    mailbox: ada
    exclusive: true
    steps:
      - {id: only, type: email, subject: "Warm", body: "x"}
  - key: news
    mailbox: ada
    steps:
      - {id: only, type: email, subject: "News", body: "x"}
"""
T0 = "2026-11-23T10:00:00Z"  # a Monday


def setup(cli: Cli, tmp_path: Path, *emails: str) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", FILE)))
    cli.ok("contacts", "import", str(write(tmp_path / "c.csv", "email\n" + "".join(f"{e}\n" for e in emails))))


def recipients(outbox: Path) -> list[str]:
    return sorted(m["To"].addresses[0].addr_spec for m in outbox_messages(outbox))


def skipped(cli: Cli, *args: str) -> dict[str, str]:
    report = cli.ok("enroll", *args, "--json", now=T0).json()
    return {item["email"]: item["reason"] for item in report["skipped"]}


def test_re_enrolling_skips_everyone_who_was_in_it_and_again_repeats_completed_or_cancelled(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "done@x.com", "cancelled@x.com", "new@x.com")
    cli.ok("enroll", "news", "--email", "done@x.com", "--email", "cancelled@x.com", now=T0)
    cli.ok("cancel", "news", "--email", "cancelled@x.com", now=T0)
    cli.ok("tick", "--now", T0)
    statuses = {e["email"]: (e["status"], e["exit_reason"]) for e in cli.ok("enrollments", "news", "--json").json()}
    assert statuses == {"done@x.com": ("completed", None), "cancelled@x.com": ("exited", "manual")}
    # Re-running the enrollment with a new lead added enrolls the new lead only.
    reasons = skipped(cli, "news", "--email", "done@x.com", "--email", "cancelled@x.com", "--email", "new@x.com")
    assert "was in news" in reasons["done@x.com"] and "--again" in reasons["done@x.com"]
    assert "cancelled" in reasons["cancelled@x.com"] and "new@x.com" not in reasons
    summary = cli.ok("enroll", "news", "--email", "done@x.com", now=T0).stderr
    assert "enrolled 0, skipped 1 (--verbose lists them)" in summary and "was in" not in summary
    again = cli.ok("enroll", "news", "--again", "--email", "done@x.com", "--email", "cancelled@x.com",
                   "--json", now=T0).json()  # fmt: skip
    assert sorted(e["email"] for e in again["enrolled"]) == ["cancelled@x.com", "done@x.com"]
    # Enrolled again, they are open: a second --again is "already in".
    assert "already in news" in skipped(cli, "news", "--again", "--email", "done@x.com")["done@x.com"]
    cli.ok("tick", "--now", "2026-11-23T10:01:00Z")
    assert recipients(outbox) == ["cancelled@x.com", "done@x.com", "done@x.com", "new@x.com"]


def test_a_contact_who_replied_or_bounced_is_never_enrolled_again_even_with_again(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "kenji@x.com", "gone@x.com", "new@x.com")
    cli.ok("enroll", "cold", "--email", "kenji@x.com", "--email", "gone@x.com", now=T0)
    cli.ok("tick", "--now", T0)
    cli.ok("event", "replied", "--email", "kenji@x.com", "--at", "2026-11-23T11:00:00Z")
    cli.ok("event", "bounced", "--email", "gone@x.com", "--at", "2026-11-23T11:00:00Z")
    reasons = skipped(cli, "cold", "--again", "--email", "kenji@x.com", "--email", "gone@x.com", "--email", "new@x.com")
    assert "exited: replied" in reasons["kenji@x.com"] and "only a completed or cancelled" in reasons["kenji@x.com"]
    assert "suppressed" in reasons["gone@x.com"]  # a hard bounce suppresses the address first
    assert "new@x.com" not in reasons
    cli.ok("tick", "--now", "2026-11-26T10:00:00Z")
    assert recipients(outbox).count("kenji@x.com") == 1


def test_exclusive_sequences_do_not_share_a_contact_and_others_are_unaffected(cli: Cli, tmp_path: Path) -> None:
    setup(cli, tmp_path, "a@x.com")
    cli.ok("enroll", "cold", "--email", "a@x.com", now=T0)
    reasons = skipped(cli, "warm", "--email", "a@x.com")
    assert "in exclusive sequence cold" in reasons["a@x.com"]
    assert skipped(cli, "news", "--email", "a@x.com") == {}  # not exclusive: enrolled
    cli.ok("cancel", "cold", "--email", "a@x.com", now=T0)
    assert skipped(cli, "warm", "--email", "a@x.com") == {}


def test_a_paused_sequence_holds_every_enrollment_including_new_ones_until_resumed(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "before@x.com", "after@x.com", "alone@x.com")
    cli.ok("enroll", "cold", "--email", "before@x.com", "--email", "alone@x.com", now=T0)
    cli.ok("pause", "cold", "--email", "alone@x.com", now=T0)  # paused on its own, before the sequence
    out = cli.ok("pause", "cold", now=T0)
    assert "sequence cold: paused; 1 enrollment(s) held" in out.stderr
    cli.ok("enroll", "cold", "--email", "after@x.com", now="2026-11-23T10:01:00Z")
    assert cli.ok("tick", "--now", "2026-11-23T10:02:00Z", "--json").json()["sent"] == 0
    assert outbox_messages(outbox) == []
    queue = {q["email"]: q["why"] for q in cli.ok("queue", "--json", now="2026-11-23T10:02:00Z").json()}
    assert queue["after@x.com"].startswith("sequence paused") and queue["alone@x.com"] == "paused"
    [listed] = [s for s in cli.ok("sequences", "--json").json() if s["key"] == "cold"]
    assert listed["status"] == "paused" and listed["enrollments"]["active"] == 2
    # Resuming an enrollment on its own while the sequence is paused keeps it held.
    cli.ok("resume", "cold", "--email", "alone@x.com", now="2026-11-23T10:03:00Z")
    assert cli.ok("tick", "--now", "2026-11-23T10:04:00Z", "--json").json()["sent"] == 0
    assert "sequence cold: resumed; 3 enrollment(s) released" in cli.ok("resume", "cold", now="2026-11-23T10:05:00Z").stderr
    cli.ok("tick", "--now", "2026-11-23T10:05:00Z")
    assert recipients(outbox) == ["after@x.com", "alone@x.com", "before@x.com"]


def test_pausing_a_sequence_fences_out_work_made_due_meanwhile(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    """A task done while the sequence is paused makes the next step due; the tick holds it."""
    setup(cli, tmp_path, "a@x.com")
    cli.ok("enroll", "cold", "--email", "a@x.com", now=T0)
    cli.ok("tick", "--now", T0)
    cli.ok("tick", "--now", "2026-11-24T10:00:00Z")  # the call task
    cli.ok("pause", "cold", now="2026-11-24T11:00:00Z")
    [task] = cli.ok("tasks", "--json").json()
    cli.ok("task", "done", str(task["id"]), now="2026-11-24T11:00:00Z")
    assert cli.ok("tick", "--now", "2026-11-27T10:00:00Z", "--json").json()["sent"] == 0
    cli.ok("resume", "cold", now="2026-11-27T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-27T10:00:00Z")
    assert recipients(outbox) == ["a@x.com", "a@x.com"]


def test_archive_exits_open_enrollments_refuses_enrolling_keeps_stats_and_import_restores(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "a@x.com", "b@x.com")
    cli.ok("enroll", "cold", "--email", "a@x.com", "--email", "b@x.com", now=T0)
    cli.ok("tick", "--now", T0)
    assert "2 open enrollment(s) exited" in cli.ok("archive", "cold", now="2026-11-23T11:00:00Z").stderr
    exits = {e["email"]: (e["status"], e["exit_reason"]) for e in cli.ok("enrollments", "cold", "--json").json()}
    assert exits == {"a@x.com": ("exited", "archived"), "b@x.com": ("exited", "archived")}
    refused = cli("enroll", "cold", "--email", "a@x.com", now=T0)
    assert refused.code == 2 and "archived" in refused.stderr
    assert "cold" not in [s["key"] for s in cli.ok("sequences", "--json").json()]
    assert "cold" in [s["key"] for s in cli.ok("sequences", "--all", "--json").json()]
    [stats] = cli.ok("stats", "cold", "--json").json()
    assert stats["exits"] == {"archived": 2}
    cli.ok("tick", "--now", "2026-11-27T10:00:00Z")
    assert len(outbox_messages(outbox)) == 2  # nothing more went out
    plan = cli.ok("import", str(tmp_path / "s.yaml")).stdout
    assert "sequence cold: restored" in plan
    assert [s["status"] for s in cli.ok("sequences", "--json").json() if s["key"] == "cold"] == ["active"]


def test_import_names_sequences_the_files_do_not_contain_and_prune_archives_them(
    cli: Cli, tmp_path: Path
) -> None:
    setup(cli, tmp_path, "a@x.com")
    cli.ok("enroll", "news", "--email", "a@x.com", now=T0)
    without_news = FILE[: FILE.index("  - key: news")]
    smaller = write(tmp_path / "smaller.yaml", without_news)
    plan = " ".join(cli.ok("import", str(smaller)).stdout.split())  # lines wrap at the terminal's width
    assert "sequence news: not in files (left alone (1 open enrollment(s)); --prune archives it)" in plan
    assert [s["status"] for s in cli.ok("sequences", "--json").json() if s["key"] == "news"] == ["active"]
    dry = cli.ok("import", str(smaller), "--prune", "--dry-run", "--json").json()
    assert {"kind": "sequence", "key": "news", "state": "archived"}.items() <= dry["changes"][-1].items()
    cli.ok("import", str(smaller), "--prune")
    assert [s["status"] for s in cli.ok("sequences", "--all", "--json").json() if s["key"] == "news"] == ["archived"]
    [enrollment] = cli.ok("enrollments", "news", "--json").json()
    assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "archived")


def test_move_puts_an_enrollment_on_another_step_and_keeps_the_thread(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "a@x.com")
    cli.ok("enroll", "cold", "--email", "a@x.com", now=T0)
    cli.ok("tick", "--now", T0)
    bad = cli("move", "cold", "--email", "a@x.com", "--step", "nope", now=T0)
    assert bad.code == 2 and "no such step" in bad.stderr
    cli.ok("move", "cold", "--email", "a@x.com", "--step", "bump", now="2026-11-23T12:00:00Z")
    [entry] = cli.ok("enrollments", "cold", "--json").json()
    assert entry["step"] == "bump" and entry["next_run_at"].startswith("2026-11-25T12:00:00")  # wait 2d from now
    cli.ok("tick", "--now", "2026-11-25T12:00:00Z")
    hello, bump = outbox_messages(outbox)
    assert bump["In-Reply-To"] == hello["Message-ID"] and bump["Subject"] == "Re: " + hello["Subject"]
    moved = [x for x in cli.ok("log", "--id", str(entry["id"]), "--json").json()[0]["timeline"] if x["outcome"] == "moved"]
    assert moved and moved[0]["detail"]["from"] == "call" and moved[0]["detail"]["to"] == "bump"


def test_enrollments_lists_finished_ones_and_filters(cli: Cli, tmp_path: Path) -> None:
    setup(cli, tmp_path, "a@x.com", "b@x.com")
    cli.ok("enroll", "news", "--email", "a@x.com", "--email", "b@x.com", now=T0)
    cli.ok("tick", "--now", T0)
    cli.ok("enroll", "cold", "--email", "a@x.com", now=T0)
    every = cli.ok("enrollments", "--json").json()
    assert len(every) == 3
    assert set(every[0]) >= {"id", "sequence", "email", "status", "step", "next_run_at", "exit_reason", "owner",
                             "enrolled_at"}  # fmt: skip
    assert [e["sequence"] for e in cli.ok("enrollments", "--email", "a@x.com", "--json").json()] == ["cold", "news"]
    done = cli.ok("enrollments", "--status", "completed", "--json").json()
    assert sorted(e["email"] for e in done) == ["a@x.com", "b@x.com"]
    bad = cli("enrollments", "--status", "done")
    assert bad.code == 2 and "not one of" in bad.stderr
    assert "a@x.com" in cli.ok("enrollments", "news").stdout


def test_stats_keep_a_step_that_a_re_import_removed(cli: Cli, tmp_path: Path) -> None:
    setup(cli, tmp_path, "a@x.com")
    cli.ok("enroll", "cold", "--email", "a@x.com", now=T0)
    cli.ok("tick", "--now", T0)
    without_hello = FILE.replace('      - {id: hello, type: email, subject: "Hello {{ contact.email }}", body: "one"}\n', "")
    without_hello = without_hello.replace("thread: true, ", 'subject: "Bump", ')
    cli.ok("import", str(write(tmp_path / "v2.yaml", without_hello)))
    [stats] = cli.ok("stats", "cold", "--json").json()
    steps = {s["step"]: s for s in stats["steps"]}
    assert steps["hello"]["removed"] is True and steps["hello"]["sent"] == 1
    assert "removed" not in steps["call"] and stats["version"] == 2
    assert "hello (removed)" in cli.ok("stats", "cold").stdout
    # Put back, it is a step again.
    cli.ok("import", str(tmp_path / "s.yaml"))
    assert "removed" not in cli.ok("stats", "cold", "--json").json()[0]["steps"][0]
