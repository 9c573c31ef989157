"""`seqctl suppress`: addresses and whole domains, honoured by every sequence."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, ada_sequence, outbox_messages, write

SEQ = ada_sequence(
    """\
      - {id: one, type: email, subject: "Hi", body: "b"}
"""
)


def test_suppressed_addresses_and_domains_are_never_mailed(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    emails = ["keep@ok.com", "gone@ok.com", "a@rival.io", "b@sub.rival.io"]
    cli.add_contacts_for("s", *[arg for e in emails for arg in ("--email", e)])
    cli.ok("enroll", "s", *[arg for e in emails for arg in ("--email", e)], now="2026-11-23T10:00:00Z")
    # Suppressed after enrolling: the send path itself refuses them.
    out = cli.ok("suppress", "add", "GONE@ok.com", "@rival.io").stderr
    assert "address gone@ok.com: suppressed" in out and "domain rival.io: suppressed" in out
    assert "already suppressed" in cli.ok("suppress", "add", "rival.io").stderr
    report = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert report["sent"] == 2 and report["exited"] == 2
    assert sorted(str(m["To"]) for m in outbox_messages(outbox)) == ["b@sub.rival.io", "keep@ok.com"]
    listed = cli.ok("suppress", "list", "--json").json()
    assert [(r["value"], r["kind"], r["reason"]) for r in listed] == [
        ("gone@ok.com", "address", "manual"),
        ("rival.io", "domain", "manual"),
    ]
    assert [r["value"] for r in cli.ok("suppress", "list", "--kind", "domain", "--json").json()] == [
        "rival.io"
    ]
    # A new enrollment of a suppressed address is skipped with the reason.
    cli.add_contacts_for("s", "--email", "c@rival.io")
    assert "suppressed" in cli.ok("enroll", "s", "--email", "c@rival.io", "--verbose").stderr
    cli.ok("suppress", "remove", "rival.io")
    assert cli("suppress", "remove", "rival.io").code == 1  # nothing was removed
    assert [r["value"] for r in cli.ok("suppress", "list", "--json").json()] == ["gone@ok.com"]


def test_suppress_import_is_all_or_nothing_with_file_and_line(cli: Cli, tmp_path: Path) -> None:
    good = write(
        tmp_path / "dnc.csv", "email,reason\nx@a.com,unsubscribed\n# a comment\n\nb.org\n@c.net,complained\n"
    )
    assert "suppressed 3 new, 0 already" in cli.ok("suppress", "import", str(good)).stderr
    assert "suppressed 0 new, 3 already" in cli.ok("suppress", "import", str(good)).stderr
    bad = write(tmp_path / "bad.txt", "y@a.com\nnot an address\nz@a.com,sometimes\n")
    result = cli("suppress", "import", str(bad))
    assert result.code == 2 and "Traceback" not in result.stderr
    assert f"{bad}:2:" in result.stderr and f"{bad}:3: unknown reason 'sometimes'" in result.stderr
    values = {r["value"]: r["reason"] for r in cli.ok("suppress", "list", "--json").json()}
    assert values == {"x@a.com": "unsubscribed", "b.org": "manual", "c.net": "complained"}
    assert cli("suppress", "add", "not-a-domain").code == 2
