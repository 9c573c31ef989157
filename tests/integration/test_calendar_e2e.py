"""Timing end to end: a DST weekend ticked minute by minute, working hours, scheduled starts, preview."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Cli, at, outbox_messages, write

# Europe changes its clocks on Sunday 2026-10-25 (Berlin CEST→CET, London BST→GMT);
# New York keeps EDT until a week later.
DST_WEEKEND = """\
mailboxes:
  - key: ada
    from: "Ada <ada@example.com>"
sequences:
  - key: dst
    mailbox: ada
    calendar:
      timezone: America/New_York
      window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
    steps:
      - {id: intro, type: email, subject: "Hi {{ contact.first_name }}", body: "Hello"}
      - {id: bump, type: email, wait: 2d, at: "10:00", thread: true, body: "Bump"}
"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # 4,000+ ticks: one backend is enough
def test_a_dst_weekend_ticked_minute_by_minute_in_three_zones(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    from seqctl.delivery.pool import TransportPool
    from seqctl.services.tick import Tick
    from seqctl.store.db import Database

    cli.ok("import", str(write(tmp_path / "dst.yaml", DST_WEEKEND)))
    csv = "email,first_name,timezone\nberlin@example.com,B,Europe/Berlin\nlondon@example.com,L,Europe/London\nny@example.com,N,America/New_York\n"
    enroll_at = "2026-10-23T15:00:00Z"  # Friday: 17:00 in Berlin (closed), 16:00 London, 11:00 New York
    cli.ok("enroll", "dst", "--csv", str(write(tmp_path / "c.csv", csv)), now=enroll_at)

    db = Database(cli.db_url)
    pool = TransportPool()
    try:
        now, end = at(enroll_at), at("2026-10-26T14:01:00Z")
        while now < end:  # cron, every minute, for three days
            Tick(db, now=now, pool=pool).run()
            now += timedelta(minutes=1)
    finally:
        pool.close()
        db.dispose()

    sent = {
        (m["To"].addresses[0].addr_spec, m["Subject"]): parsedate_to_datetime(m["Date"])
        for m in outbox_messages(outbox)
    }
    zones = {"berlin": "Europe/Berlin", "london": "Europe/London", "ny": "America/New_York"}
    local = {key: when.astimezone(ZoneInfo(zones[key[0].split("@")[0]])) for key, when in sent.items()}
    expected = {
        ("london@example.com", "Hi L"): datetime(2026, 10, 23, 16, 0),  # at once: in London's window (BST)
        ("ny@example.com", "Hi N"): datetime(2026, 10, 23, 11, 0),  # at once (EDT)
        ("berlin@example.com", "Hi B"): datetime(2026, 10, 26, 9, 0),  # Monday's opening, now CET
        ("london@example.com", "Re: Hi L"): datetime(2026, 10, 26, 10, 0),  # Sunday + at 10:00 → Monday, GMT
        ("ny@example.com", "Re: Hi N"): datetime(2026, 10, 26, 10, 0),  # still EDT: 14:00Z
    }
    assert {key: value.replace(tzinfo=None) for key, value in local.items()} == expected
    assert sent[("berlin@example.com", "Hi B")] == at("2026-10-26T08:00:00Z")  # +01:00 after the change
    assert sent[("london@example.com", "Re: Hi L")] == at("2026-10-26T10:00:00Z")  # +00:00
    assert sent[("ny@example.com", "Re: Hi N")] == at("2026-10-26T14:00:00Z")  # -04:00


WORKING_HOURS = """\
mailboxes:
  - key: ada
    from: "Ada <ada@example.com>"
owners:
  - key: sam
    calendar:
      timezone: Europe/London
      window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:30", overrides: {fri: {end: "15:00"}}}
sequences:
  - key: calls
    mailbox: ada
    owner: sam
    starts_at: 2026-12-01T07:00
    calendar:
      timezone: America/New_York
      window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00", spread: 30m}
    steps:
      - {id: call, type: task, kind: call, note: "Call {{ contact.first_name }}"}
      - {id: after, type: email, wait: 1d, subject: "Following our call", body: "Hi {{ contact.first_name }}"}
  - key: nobody
    mailbox: ada
    calendar:
      timezone: America/New_York
      window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
    steps:
      - {id: todo, type: task, kind: todo, note: "Look up {{ contact.first_name }}"}
"""


def test_scheduled_start_working_hours_and_spread(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    cli.ok("import", str(write(tmp_path / "w.yaml", WORKING_HOURS)))
    cli.ok(
        "contacts",
        "import",
        str(
            write(
                tmp_path / "c.csv",
                "email,first_name,timezone\nkim@example.com,Kim,Asia/Tokyo\nlee@example.com,Lee,\n",
            )
        ),
    )
    cli.add_contacts_for("calls", "--email", "kim@example.com")
    cli.ok("enroll", "calls", "--email", "kim@example.com", now="2026-11-23T10:00:00Z")
    cli.add_contacts_for("nobody", "--email", "lee@example.com")
    cli.ok("enroll", "nobody", "--email", "lee@example.com", now="2026-11-27T22:00:00Z")  # Friday 17:00 NY
    assert cli.ok("tick", "--json", now="2026-11-28T03:00:00Z").json()["tasks"] == 1  # Lee's

    queue = {q["email"]: q for q in cli.ok("queue", "--json", now="2026-11-23T10:00:00Z").json()}
    assert queue["kim@example.com"]["status"] == "scheduled"
    # The sequence starts on December 1st, 07:00 in Kim's own zone (Tokyo; tasks have no window).
    assert queue["kim@example.com"]["due"].startswith("2026-11-30T22:00:00")
    assert cli.ok("tick", "--json", now="2026-11-30T21:59:00Z").json()["tasks"] == 0
    assert cli.ok("tick", "--json", now="2026-11-30T22:00:00Z").json()["tasks"] == 1
    # Lee's task was created after hours (Friday night New York): due Monday 09:00 New York,
    # the sequence's hours in the sequence's zone, since nobody owns it.
    tasks = {t["email"]: t for t in cli.ok("tasks", "--json").json()}
    assert at(tasks["lee@example.com"]["due"]) == at("2026-11-30T09:00:00-05:00")
    # Kim's task, created at 22:00 London time, is due when Sam starts work: 09:00 London.
    assert at(tasks["kim@example.com"]["due"]) == at("2026-12-01T09:00:00Z")
    assert tasks["kim@example.com"]["owner"] == "sam"

    cli.ok("task", "done", str(tasks["kim@example.com"]["id"]), now="2026-12-01T10:00:00Z")
    # The email after the call: 1d later is 19:00 in Tokyo, closed; the next opening, 09:00,
    # with this contact's spread offset.
    due = at(cli.ok("queue", "calls", "--json").json()[0]["due"])
    opening = at("2026-12-03T09:00:00+09:00")
    assert opening <= due < opening + timedelta(minutes=30)
    preview = cli.ok(
        "preview", "calls", "--email", "kim@example.com", "--start", "2026-11-23T10:00:00Z", "--json"
    ).json()
    assert [s["step"] for s in preview["steps"]] == ["call", "after"]
    assert preview["steps"][0]["utc"] == "2026-11-30T22:00:00+00:00"  # held for the sequence's start
    assert preview["steps"][0]["task"]["due_utc"] == "2026-12-01T09:00:00+00:00"
    assert preview["steps"][0]["task"]["due_local"] == "Tue 2026-12-01 09:00 GMT"  # in Sam's zone
    # The preview's email time is the very instant the tick chose (the same spread offset).
    assert at(preview["steps"][1]["utc"]) == due


def test_enrolling_a_contact_with_a_bad_time_zone_is_reported_not_deferred_to_3am(
    cli: Cli, tmp_path: Path
) -> None:
    bad = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
sequences:
  - key: setter
    mailbox: ada
    steps:
      - {id: s, type: action, set: {timezone: "Mars/Olympus"}, enroll: target}
  - key: target
    mailbox: ada
    steps:
      - {id: e, type: email, subject: x, body: y}
"""
    cli.ok("import", str(write(tmp_path / "bad.yaml", bad)))
    cli.add_contacts_for("setter", "--email", "m@example.com")
    cli.ok("enroll", "setter", "--email", "m@example.com", now="2026-11-23T10:00:00Z")
    cli.ok("tick", now="2026-11-23T10:00:00Z")
    log = cli.ok("log", "setter", "--email", "m@example.com", "--json").json()[0]["timeline"]
    enrolled = next(item for item in log if item["what"] == "action")["detail"]["enroll"]
    assert enrolled["enrollment"] is None and "unknown time zone 'Mars/Olympus'" in enrolled["skipped"]


PREVIEW = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
sequences:
  - key: p
    mailbox: ada
    calendar:
      timezone: Europe/Paris
      window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
      holidays: FR
    steps:
      - {id: hello, type: email, subject: "Bonjour {{ contact.first_name }}", body: "Hi {{ contact.company }}"}
      - id: opened
        type: branch
        wait: 2bd
        if: {event: opened, step: hello}
        then: call
        else: bump
      - {id: call, type: task, kind: call, note: "Call {{ contact.first_name }}", next: end}
      - id: bump
        type: email
        wait: 1d
        at: "10:00"
        thread: true
        variants:
          - {id: a, body: "A {{ contact.title }}"}
          - {id: b, body: "B {{ contact.nickname }}"}
      - {id: again, type: action, wait: 3d, goto: bump}
"""


def test_preview_shows_both_ways_local_and_utc_times_and_rendered_text(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write(tmp_path / "p.yaml", PREVIEW)))
    before = cli.ok("queue", "--json").json()
    # Thursday 2026-12-24, 16:30 in Kolkata: Paris' window is open on Christmas Eve.
    found = cli.ok(
        "preview", "p", "--timezone", "Asia/Kolkata", "--start", "2026-12-24T11:00:00Z", "--json"
    ).json()
    assert found["timezone"] == "Asia/Kolkata" and found["contact"]["sample"] is True
    hello, branch = found["steps"]
    assert hello["local"] == "Thu 2026-12-24 16:30 IST" and hello["subject"] == "Bonjour Alex"
    assert hello["body"] == "Hi Example Co"
    # 2bd: Christmas Day is a French holiday, so Monday and Tuesday.
    assert branch["step"] == "opened" and branch["local"] == "Tue 2026-12-29 16:30 IST"
    assert [s["step"] for s in branch["then"]] == ["call"]
    bump, again, loop = branch["else"]
    assert bump["local"] == "Thu 2026-12-31 10:00 IST"  # Wednesday's 10:00 is before the wait ends
    assert [
        (v["variant"], v.get("subject"), v.get("body"), v.get("body_error")) for v in bump["variants"]
    ] == [
        ("a", "Re: Bonjour Alex", "A Head of Sales", None),
        ("b", "Re: Bonjour Alex", None, "step bump variant b body: contact.nickname is not set"),
    ]
    assert again["action"] == {"goto": "bump"} and loop == {
        "step": "bump",
        "type": "loop",
        "note": "goes back to bump",
    }
    assert cli.ok("queue", "--json").json() == before  # nothing queued
    text = cli.ok("preview", "p", "--start", "2026-12-24T11:00:00Z").stdout
    assert "Thu 2026-12-24 12:00 CET" in text and "then:" in text and "else:" in text
    unknown = cli("preview", "p", "--email", "nobody@example.com")
    assert unknown.code == 2 and "no such contact" in unknown.stderr


def test_per_day_limit_counts_the_mailboxs_local_day(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    spec = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>", timezone: Asia/Tokyo, limits: {per_day: 1}}
sequences:
  - key: s
    mailbox: ada
    steps:
      - {id: e, type: email, subject: "x", body: "y"}
"""
    cli.ok("import", str(write(tmp_path / "s.yaml", spec)))
    cli.add_contacts_for("s", "--email", "a@example.com", "--email", "b@example.com")
    cli.ok("enroll", "s", "--email", "a@example.com", "--email", "b@example.com", now="2026-11-23T14:00:00Z")
    first = cli.ok("tick", "--json", now="2026-11-23T14:50:00Z").json()  # 23:50 in Tokyo
    assert (first["sent"], first["claimed"]) == (1, 1)  # the mailbox may send one: one is claimed
    waiting = cli.ok("queue", "--json", now="2026-11-23T14:51:00Z").json()
    assert [w["why"] for w in waiting] == [
        "held by a mailbox limit (mailbox ada: per_day 1 reached; frees at 2026-11-24 00:00 JST)"
    ]
    held = cli.ok("tick", "--json", now="2026-11-23T14:59:00Z").json()
    assert (held["sent"], held["claimed"]) == (0, 0)  # left where it is, at no cost
    assert cli.ok("tick", "--json", now="2026-11-23T15:00:00Z").json()["sent"] == 1  # Tokyo's midnight
    assert len(outbox_messages(outbox)) == 2


def test_preview_and_the_tick_give_a_task_to_the_same_owner_after_an_assign_step(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
sequences:
  - key: s
    mailbox: ada
    owner: sam
    steps:
      - {id: check, type: branch, if: {event: opened}, then: hand-over, else: call}
      - {id: hand-over, type: action, assign: bea, next: call}
      - {id: call, type: task, kind: call, note: "Call for {{ owner }}"}
""")))  # fmt: skip
    cli.add_contacts_for("--email", "kim@example.com")
    preview = cli.ok("preview", "s", "--email", "kim@example.com", "--json", now="2026-11-23T10:00:00Z").json()
    branch = preview["steps"][0]
    after_assign = next(e for e in branch["then"] if e["step"] == "call")["task"]
    without = next(e for e in branch["else"] if e["step"] == "call")["task"]
    assert (after_assign["owner"], after_assign["note"]) == ("bea", "Call for bea")
    assert (without["owner"], without["note"]) == ("sam", "Call for sam")  # the other way keeps the owner
    cli.ok("enroll", "s", "--email", "kim@example.com", now="2026-11-23T10:00:00Z")
    cli.ok("event", "opened", "--email", "kim@example.com", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    [task] = cli.ok("tasks", "--json").json()
    assert (task["owner"], task["note"]) == (after_assign["owner"], after_assign["note"])
