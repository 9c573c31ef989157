"""`contacts list|show|export|erase` (SPEC §3), on SQLite and Postgres. The erase test
searches every text column of every table for the person afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli, mail_fixture, outbox_messages, text_values, write

FILE = """\
mailboxes:
  - key: ada
    from: "Ada <ada@example.com>"
    tracking_url: "https://t.example.com"
sequences:
  - key: s
    mailbox: ada
    tracking: true
    steps:
      - {id: hello, type: email, subject: "Hello {{ contact.first_name }} at {{ contact.company }}",
         body: "Hi {{ contact.first_name }}", html: "<p>Hi {{ contact.first_name }}, see <a href='https://example.com/p'>this</a></p>"}
      - {id: mark, type: action, set: {stage: contacted}, tag: touched}
      - {id: call, type: task, kind: call, wait: 1d, note: "Call {{ contact.first_name }} {{ contact.last_name }} at {{ contact.company }}"}
"""
T0 = "2026-11-23T10:00:00Z"


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQCTL_SECRET", "x" * 32)


def setup(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", FILE)))
    csv = (
        "Email,First Name,Last Name,Company,Tags\n"
        "zelda@zorblax.io,Zelda,Quixotica,Zorblax Industries,lead;vip\n"
        "other@example.org,Otto,Normal,Plain Co,lead\n"
    )
    cli.ok("contacts", "import", str(write(tmp_path / "c.csv", csv)))
    cli.ok("enroll", "s", "--tag", "lead", now=T0)


def test_list_show_and_export_round_trip(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    setup(cli, tmp_path)
    cli.ok("tick", "--now", T0)
    listed = cli.ok("contacts", "list", "--json").json()
    assert [c["email"] for c in listed] == ["other@example.org", "zelda@zorblax.io"]
    assert cli.ok("contacts", "list", "--tag", "vip", "--json").json()[0]["tags"] == ["lead", "touched", "vip"]
    shown = cli.ok("contacts", "show", "zelda@zorblax.io", "--json").json()
    assert shown["fields"]["stage"] == "contacted"  # what a set: action wrote
    assert [(e["sequence"], e["status"], e["step"]) for e in shown["enrollments"]] == [("s", "active", "call")]
    assert shown["suppressed"] is None
    assert "Zelda" in cli.ok("contacts", "show", "zelda@zorblax.io").stdout
    missing = cli("contacts", "show", "nobody@example.com")
    assert missing.code == 2 and "no contact" in missing.stderr

    exported = tmp_path / "out.csv"
    assert "exported 2 contact(s)" in cli.ok("contacts", "export", str(exported)).stderr
    again = cli("contacts", "export", str(exported))
    assert again.code == 2 and "already exists" in again.stderr
    header = exported.read_text().splitlines()[0]
    assert header == "email,company,first_name,last_name,stage,tags"
    # Read back into an empty database it gives the same contacts.
    fresh = Cli(cli.db_url, tmp_path)
    fresh.ok("contacts", "import", str(exported))
    assert fresh.ok("contacts", "list", "--json").json() == listed


def test_erase_leaves_nothing_of_the_person_anywhere_and_the_address_suppressed(
    cli: Cli, tmp_path: Path, outbox: Path
) -> None:
    setup(cli, tmp_path)
    cli.ok("tick", "--now", T0)
    sent = {str(m["To"]).split("<")[-1].rstrip(">"): str(m["Message-ID"]) for m in outbox_messages(outbox)}
    events = [
        {"type": "opened", "email": "zelda@zorblax.io", "message_id": sent["zelda@zorblax.io"],
         "at": "2026-11-23T10:05:00Z", "user_agent": "Mozilla/5.0 (Zelda's laptop)"},
        {"type": "clicked", "email": "zelda@zorblax.io", "message_id": sent["zelda@zorblax.io"],
         "at": "2026-11-23T10:06:00Z", "url": "https://example.com/p?who=zelda@zorblax.io"},
    ]  # fmt: skip
    cli.ok("events", "import", str(write(tmp_path / "e.jsonl", "".join(json.dumps(e) + "\n" for e in events))))
    inbox = tmp_path / "inbox"
    (inbox / "new").mkdir(parents=True)
    (inbox / "cur").mkdir()
    reply = mail_fixture("reply.eml", original=sent["zelda@zorblax.io"], contact="zelda@zorblax.io")
    (inbox / "new" / "1.z").write_bytes(reply.replace(b"Subject: Re:", b"Subject: Re: Zelda says"))
    cli.ok("inbox", "sync", "--maildir", str(inbox), "--mailbox", "ada", now="2026-11-23T12:00:00Z")
    cli.ok("tick", "--now", "2026-11-24T10:00:00Z")  # Otto's call task
    cli.ok("suppress", "add", "zelda@zorblax.io")
    before = [v for v in text_values(cli.db_url) if "zelda" in v[2].lower()]
    assert {table for table, _, _ in before} >= {"contacts", "messages", "events", "inbound_messages", "suppressions"}

    out = cli.ok("contacts", "erase", "zelda@zorblax.io", now="2026-11-25T10:00:00Z")
    assert "zelda@zorblax.io: erased" in out.stderr

    person = ("zelda", "zorblax", "quixotica")
    left = [v for v in text_values(cli.db_url) if any(p in v[2].lower() for p in person)]
    assert left == []
    # Otto is untouched; the counts stay.
    assert "Otto" in json.dumps(cli.ok("contacts", "show", "other@example.org", "--json").json())
    [stats] = cli.ok("stats", "s", "--json").json()
    assert stats["steps"][0]["sent"] == 2
    # The address is never mailed again, even when it comes back in a CSV.
    [kept] = cli.ok("suppress", "list", "--json").json()
    assert kept["value"].startswith("erased:") and "zelda" not in kept["value"]
    cli.ok("contacts", "import", str(write(tmp_path / "back.csv", "email\nZelda@Zorblax.io\n")))
    report = cli.ok("enroll", "s", "--email", "zelda@zorblax.io", "--json", now="2026-11-26T10:00:00Z").json()
    assert report["enrolled"] == [] and "suppressed (erased" in report["skipped"][0]["reason"]
    assert [c["email"] for c in cli.ok("contacts", "list", "--json").json()] == [
        "other@example.org", "zelda@zorblax.io"
    ]


def test_erase_needs_the_secret_and_says_so(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup(cli, tmp_path)
    monkeypatch.delenv("SEQCTL_SECRET")
    refused = cli("contacts", "erase", "zelda@zorblax.io")
    assert refused.code == 2 and "SEQCTL_SECRET is not set" in refused.stderr
    assert cli.ok("contacts", "show", "zelda@zorblax.io", "--json").json()["fields"]["first_name"] == "Zelda"
