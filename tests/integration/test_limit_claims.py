"""A mailbox's limits decide what a tick claims (SPEC §3, `queue` names the limit) and
`min_gap` tolerates cron's start jitter; on SQLite and Postgres."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, outbox_messages, write


def setup(cli: Cli, tmp_path: Path, limits: str, count: int) -> None:
    spec = f"""\
mailboxes:
  - {{key: ada, from: "Ada <ada@example.com>", limits: {limits}}}
  - {{key: bob, from: "Bob <bob@example.com>"}}
sequences:
  - key: s
    mailbox: ada
    steps:
      - {{id: e, type: email, subject: "x", body: "y"}}
      - {{id: t, type: action, wait: 1h, tag: later}}
  - key: free
    mailbox: bob
    steps:
      - {{id: e, type: email, subject: "x", body: "y"}}
"""
    cli.ok("import", str(write(tmp_path / "s.yaml", spec)))
    csv = "email\n" + "".join(f"c{n}@example.com\n" for n in range(count))
    cli.ok("contacts", "import", str(write(tmp_path / "c.csv", csv)))
    cli.ok("enroll", "s", "--csv", str(tmp_path / "c.csv"), now="2026-11-23T10:00:00Z")


def test_a_tick_claims_no_more_of_a_mailboxs_emails_than_it_may_send(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path, "{per_day: 3}", 20)
    cli.ok("enroll", "free", "--email", "c0@example.com", now="2026-11-23T10:00:00Z")
    first = cli.ok("tick", "--json", now="2026-11-23T10:00:00Z").json()
    assert (first["sent"], first["claimed"]) == (4, 4)  # three of ada's, and bob's one
    again = cli.ok("tick", "--json", now="2026-11-23T10:01:00Z").json()
    assert (again["sent"], again["claimed"], again["deferred"]) == (0, 0, 17)
    later_again = cli.ok("tick", "--json", now="2026-11-23T10:02:00Z").json()
    assert (later_again["claimed"], later_again["deferred"]) == (0, 0)  # nothing of it is even due
    # What else is due still runs: the action steps after the three sends.
    later = cli.ok("tick", "--json", now="2026-11-23T11:00:00Z").json()
    assert (later["sent"], later["actions"], later["claimed"]) == (0, 3, 3)
    # Held until midnight: deferred together at the first tick that found the limit reached.
    assert cli.ok("queue", "s", "--due", "--json", now="2026-11-23T11:00:00Z").json() == []
    held = [q for q in cli.ok("queue", "s", "--json", now="2026-11-23T11:00:00Z").json() if q["step"] == "e"]
    assert len(held) == 17 and {q["next_run_at"][:19] for q in held} == {"2026-11-24T00:00:00"}
    assert {q["why"] for q in held} == {
        "held by a mailbox limit (mailbox ada: per_day 3 reached; frees at 2026-11-24 00:00 UTC)"
    }
    next_day = cli.ok("tick", "--json", now="2026-11-24T00:00:00Z").json()
    assert (next_day["sent"], next_day["claimed"]) == (3, 3)
    assert len(outbox_messages(outbox)) == 7


def test_a_paused_mailbox_costs_the_tick_nothing_and_says_why(cli: Cli, tmp_path: Path) -> None:
    setup(cli, tmp_path, "{per_hour: 100}", 5)
    cli.ok("mailbox", "pause", "ada", "--reason", "warming up", now="2026-11-23T10:00:00Z")
    report = cli.ok("tick", "--json", now="2026-11-23T10:00:00Z").json()
    assert (report["sent"], report["claimed"]) == (0, 0)
    [why] = {q["why"] for q in cli.ok("queue", "--json", now="2026-11-23T10:00:00Z").json()}
    assert why == "mailbox paused (mailbox ada paused: warming up)"
    cli.ok("mailbox", "resume", "ada", now="2026-11-23T10:05:00Z")
    assert cli.ok("tick", "--json", now="2026-11-23T10:05:00Z").json()["sent"] == 5


def test_min_gap_tolerates_crons_start_jitter(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    """With min_gap 60s and a tick every minute that starts a little early or late, one
    email goes each minute, not one every two minutes."""
    setup(cli, tmp_path, "{min_gap: 60s}", 4)
    sent = [
        cli.ok("tick", "--json", now=at).json()["sent"]
        for at in ("2026-11-23T10:00:02Z", "2026-11-23T10:00:58Z", "2026-11-23T10:01:57Z", "2026-11-23T10:02:30Z")
    ]
    assert sent == [1, 1, 1, 0]  # 56 s and 59 s after the last send go; 33 s does not
    assert len(outbox_messages(outbox)) == 3


def test_an_email_held_past_its_window_waits_for_the_window(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    """per_day frees at midnight, but the sequence sends 09:00-17:00: the held emails go at
    09:00, not at midnight."""
    spec = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>", limits: {per_day: 1}}
sequences:
  - key: s
    mailbox: ada
    calendar: {timezone: UTC, window: {start: "09:00", end: "17:00"}}
    steps:
      - {id: e, type: email, subject: "x", body: "y"}
"""
    cli.ok("import", str(write(tmp_path / "s.yaml", spec)))
    cli.ok("contacts", "import", str(write(tmp_path / "c.csv", "email\na@x.com\nb@x.com\n")))
    cli.ok("enroll", "s", "--email", "a@x.com", "--email", "b@x.com", now="2026-11-23T10:00:00Z")
    assert cli.ok("tick", "--json", now="2026-11-23T10:00:00Z").json()["sent"] == 1
    cli.ok("tick", "--json", now="2026-11-23T10:01:00Z")
    midnight = cli.ok("tick", "--json", now="2026-11-24T00:00:00Z").json()
    assert midnight["sent"] == 0 and midnight["deferred"] == 1
    [waiting] = cli.ok("queue", "--json", now="2026-11-24T00:00:00Z").json()
    assert waiting["next_run_at"].startswith("2026-11-24T09:00:00") and waiting["why"] == "outside the send window"
    assert cli.ok("tick", "--json", now="2026-11-24T09:00:00Z").json()["sent"] == 1
    assert len(outbox_messages(outbox)) == 2
