"""The real binary, the example file, simulated days: what an operator would see.

Contacts: Grace (New York) opens the bump and gets a call task; Alan (London) never
opens and gets the breakup email; Katherine (Chicago) replies to the intro and exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE, RecordingHandler, at, outbox_messages

CONTACTS = """\
email,first_name,last_name,company,timezone,phone
grace@example.org,Grace,Hopper,Navy Labs,America/New_York,+1 555 0100
alan@example.net,Alan,Turing,Bletchley Analytics,Europe/London,
katherine@example.com,Katherine,Johnson,Langley Flight,America/Chicago,
"""


class Binary:
    def __init__(self, db_url: str, cwd: Path, env: dict[str, str]) -> None:
        self.db_url, self.cwd, self.env = db_url, cwd, {**os.environ, **env}

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "seqctl", "--db", self.db_url, *args],
            cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"seqctl {' '.join(args)}: {done.returncode}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))


@pytest.fixture
def delivery(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> tuple[str, Any]:
    """SQLite runs deliver into the outbox, Postgres runs through a real SMTP server."""
    if db_url.startswith("sqlite"):
        return "outbox", tmp_path / "outbox"
    return "smtp", request.getfixturevalue("smtp_server")


def delivered(delivery: tuple[str, Any]) -> list[Any]:
    kind, target = delivery
    if kind == "outbox":
        return outbox_messages(target)
    assert isinstance(target, RecordingHandler)
    return sorted(target.parsed(), key=lambda m: parsedate_to_datetime(m["Date"]))


def test_example_sequence_end_to_end(db_url: str, tmp_path: Path, delivery: tuple[str, Any]) -> None:
    env = {"SEQCTL_OUTBOX": str(tmp_path / "outbox")}
    if delivery[0] == "smtp":
        env["SEQCTL_SMTP_URL"] = os.environ["SEQCTL_SMTP_URL"]
    else:
        env["SEQCTL_SMTP_URL"] = ""
    run = Binary(db_url, tmp_path, env)
    (tmp_path / "contacts.csv").write_text(CONTACTS)
    run("init")
    run("import", str(EXAMPLE))
    run("contacts", "import", "contacts.csv")
    enrolled = run.json("--now", "2026-11-16T14:00:00Z", "enroll", "cold-outreach", "--csv", "contacts.csv")
    assert len(enrolled["enrolled"]) == 3

    # Monday 09:00 New York: Grace and Alan (14:00 London) are inside their windows;
    # Katherine's window opens at 09:00 Chicago, an hour later.
    assert run.json("tick", "--now", "2026-11-16T14:00:00Z")["sent"] == 2
    assert run.json("tick", "--now", "2026-11-16T14:30:00Z")["sent"] == 0
    assert run.json("tick", "--now", "2026-11-16T15:00:00Z")["sent"] == 1
    intros = {m["To"].addresses[0].addr_spec: m for m in delivered(delivery)}
    grace_intro = intros["grace@example.org"]
    assert grace_intro["Subject"] == "Quick question about Navy Labs"
    assert grace_intro["From"] == "Ada Lovelace <ada@example.com>"
    assert (
        "Hi Grace,\n\nI noticed Navy Labs is growing its team."
        in grace_intro.get_body(("plain",)).get_content()
    )
    assert "<p>Hi Grace,</p>" in grace_intro.get_body(("html",)).get_content()
    assert grace_intro["List-Unsubscribe"] == "<mailto:ada@example.com?subject=unsubscribe>"
    assert parsedate_to_datetime(grace_intro["Date"]) == at("2026-11-16T14:00:00Z")
    assert parsedate_to_datetime(intros["katherine@example.com"]["Date"]) == at("2026-11-16T15:00:00Z")

    # Katherine replies to the intro: she exits at once.
    run(
        "event",
        "replied",
        "--email",
        "katherine@example.com",
        "--message-id",
        intros["katherine@example.com"]["Message-ID"],
        "--at",
        "2026-11-17T16:00:00Z",
    )

    # Bumps: the first 10:00 local at or after 3 days, threaded under the intro. Grace's
    # intro went at 09:00, so Thursday 10:00; Alan's at 14:00 London, so Friday 10:00.
    assert run.json("tick", "--now", "2026-11-19T10:00:00Z")["sent"] == 0
    assert run.json("tick", "--now", "2026-11-19T15:00:00Z")["sent"] == 1
    assert run.json("tick", "--now", "2026-11-20T10:00:00Z")["sent"] == 1
    bumps = {m["To"].addresses[0].addr_spec: m for m in delivered(delivery)[3:]}
    assert set(bumps) == {"grace@example.org", "alan@example.net"}
    grace_bump = bumps["grace@example.org"]
    assert grace_bump["Subject"] == "Re: Quick question about Navy Labs"
    assert grace_bump["In-Reply-To"] == grace_intro["Message-ID"]
    assert grace_bump["References"] == grace_intro["Message-ID"]
    assert parsedate_to_datetime(grace_bump["Date"]) == at("2026-11-19T10:00:00-05:00")
    assert parsedate_to_datetime(bumps["alan@example.net"]["Date"]) == at("2026-11-20T10:00:00+00:00")

    # Grace opens the bump; two days later the branch sends her to a call task.
    run(
        "event",
        "opened",
        "--email",
        "grace@example.org",
        "--message-id",
        grace_bump["Message-ID"].strip("<>"),
        "--at",
        "2026-11-19T16:00:00Z",
    )
    branch_tick = run.json("tick", "--now", "2026-11-22T10:00:00Z")
    assert branch_tick["branched"] == 2 and branch_tick["tasks"] == 1 and branch_tick["sent"] == 0
    [task] = run.json("tasks")
    assert (task["email"], task["kind"], task["owner"], task["step"]) == (
        "grace@example.org",
        "call",
        "ada",
        "call",
    )
    assert task["note"] == "Call Grace at Navy Labs (+1 555 0100)"
    run("--now", "2026-11-23T15:00:00Z", "task", "done", str(task["id"]), "--outcome", "meeting set")

    # Alan never opened: the breakup goes two allowed days after the branch (Tue 10:00 London),
    # then the nurture action moves him to the nurture sequence.
    assert run.json("tick", "--now", "2026-11-23T10:00:00Z")["sent"] == 0
    breakup_tick = run.json("tick", "--now", "2026-11-24T10:00:00Z")
    assert breakup_tick["sent"] == 1 and breakup_tick["actions"] == 1
    breakup = delivered(delivery)[-1]
    assert breakup["To"].addresses[0].addr_spec == "alan@example.net"
    assert breakup["Subject"] in ("Closing the loop", "Should I stop writing?")
    assert parsedate_to_datetime(breakup["Date"]) == at("2026-11-24T10:00:00Z")

    assert len(delivered(delivery)) == 6
    # A second pass at the same instant changes nothing.
    assert run.json("tick", "--now", "2026-11-24T10:00:00Z")["claimed"] == 0

    stats = {s["sequence"]: s for s in run.json("stats")}
    cold = stats["cold-outreach"]
    assert cold["enrollments"] == {"total": 3, "completed": 2, "exited": 1}
    assert cold["exits"] == {"replied": 1}
    steps = {s["step"]: s for s in cold["steps"]}
    assert (steps["intro"]["sent"], steps["intro"]["replied"], steps["intro"]["replied_rate"]) == (
        3,
        1,
        0.3333,
    )
    assert (steps["bump"]["sent"], steps["bump"]["opened"], steps["bump"]["opened_rate"]) == (2, 1, 0.5)
    assert steps["engaged"]["outcomes"] == {"then": 1, "else": 1}
    assert steps["call"]["outcomes"] == {"created": 1, "done": 1}
    assert steps["breakup"]["sent"] == 1 and sum(v["sent"] for v in steps["breakup"]["variants"]) == 1
    assert stats["newsletter-nurture"]["enrollments"] == {"total": 1, "active": 1}
    grace_log = run.json("log", "cold-outreach", "--email", "grace@example.org")[0]
    assert grace_log["status"] == "completed"
    assert [e["outcome"] for e in grace_log["timeline"] if e["what"] == "event"] == ["opened"]
