"""Tables stay readable in an 80-column terminal (SPEC §3): no line is wider, no date or
time is cut, times are shown in the display zone (`--tz`), and summaries are words, not
Python reprs. Rendered through the real CLI with long keys, addresses and reasons."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Cli, write

FILE = """\
mailboxes:
  - {key: enterprise-outbound, from: "Ada <ada@example.com>", limits: {per_day: 1}}
sequences:
  - key: q1-enterprise-cold-outreach-emea
    mailbox: enterprise-outbound
    steps:
      - {id: introduction-email, type: email, subject: "Quick question", body: "Hi"}
      - id: did-they-open-the-intro
        type: branch
        wait: 1d
        if: {event: opened, step: introduction-email}
        then: discovery-call
        else: discovery-call
      - {id: discovery-call, type: task, kind: call, note: "Call {{ contact.email }} about the renewal"}
"""
PEOPLE = ["maximilian.von.habsburg-lothringen@enterprise-customer.example.com", "b@example.org"]


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def test_listings_fit_80_columns_and_never_cut_a_time(cli: Cli, tmp_path: Path, narrow: None) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", FILE)))
    cli.ok("contacts", "import", str(write(tmp_path / "c.csv", "email\n" + "\n".join(PEOPLE) + "\n")))
    key = "q1-enterprise-cold-outreach-emea"
    cli.ok("enroll", key, "--email", PEOPLE[0], "--email", PEOPLE[1], now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")  # one sent, one held by per_day
    cli.ok("event", "opened", "--email", PEOPLE[0], "--at", "2026-11-23T11:00:00Z")
    cli.ok("tick", "--now", "2026-11-24T10:00:00Z")  # the branch, the task; the other email
    outputs = {
        "queue": cli.ok("--tz", "America/New_York", "queue", now="2026-11-24T10:00:00Z").stdout,
        "enrollments": cli.ok("--tz", "America/New_York", "enrollments").stdout,
        "stats": cli.ok("stats").stdout,
        "log": cli.ok("--tz", "America/New_York", "log", key, "--email", PEOPLE[0]).stdout,
        "tasks": cli.ok("--tz", "America/New_York", "tasks").stdout,
        "sequences": cli.ok("sequences").stdout,
    }
    for name, text in outputs.items():
        too_wide = [line for line in text.splitlines() if len(line) > 80]
        assert too_wide == [], (name, too_wide)
        assert "…" not in text, name
        assert "{'" not in text and "':" not in text, (name, text)  # no Python repr
        assert not re.search(r"\d{4}-\d{2}-\d{2}T\d", text), (name, text)  # no raw ISO instants
    # Times in New York, whole: the task was created at 05:00 there.
    assert "2026-11-24 05:00" in outputs["tasks"]
    assert "2026-11-23 05:00" in outputs["log"] and "2026-11-23 06:00" in outputs["log"]  # sent; opened
    assert "2 enrollment(s): 2 active" in outputs["stats"] and "1 (50%)" in outputs["stats"]  # words, rates


def test_a_bad_display_zone_is_a_clear_error(cli: Cli) -> None:
    bad = cli("--tz", "Mars/Olympus", "queue")
    assert bad.code == 2 and "--tz" in bad.stderr and "unknown time zone" in bad.stderr
