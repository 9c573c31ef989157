"""validate / import: all-or-nothing, idempotent, safe for running enrollments."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EXAMPLE, Cli, write

SIMPLE = """\
mailboxes:
  - key: ada
    from: "Ada <ada@example.com>"
sequences:
  - key: s
    mailbox: ada
    steps:
      - {id: one, type: email, subject: "Hi {{ contact.email }}", body: "b"}
      - {id: two, type: email, wait: 1d, subject: "Again", body: "b"}
      - {id: three, type: email, wait: 1d, subject: "Last", body: "b"}
"""


def test_import_twice_changes_nothing(cli: Cli) -> None:
    first = cli.ok("import", str(EXAMPLE), "--json").json()
    assert {c["state"] for c in first["changes"]} == {"created"}
    second = cli.ok("import", str(EXAMPLE), "--json").json()
    assert {c["state"] for c in second["changes"]} == {"unchanged"}
    stats = cli.ok("stats", "--json").json()
    assert [s["version"] for s in stats] == [1, 1]


def test_validate_reports_position_and_exits_2_without_touching_the_database(
    cli: Cli, tmp_path: Path
) -> None:
    bad = write(tmp_path / "bad.yaml", SIMPLE.replace('subject: "Again"', 'subjekt: "Again"'))
    result = cli("validate", str(bad))
    assert result.code == 2
    assert result.stderr.startswith(f"{bad}:9:42: ") and "unknown key 'subjekt'" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.ok("stats", "--json").json() == []


def test_import_is_all_or_nothing_across_files(cli: Cli, tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", SIMPLE)
    bad = write(
        tmp_path / "bad.yaml",
        SIMPLE.replace("key: s\n", "key: t\n").replace(
            'wait: 1d, subject: "Last"', 'wait: soon, subject: "Last"'
        ),
    )
    result = cli("import", str(good), str(bad))
    assert result.code == 2 and "bad duration 'soon'" in result.stderr
    assert cli.ok("stats", "--json").json() == []


def test_import_refuses_unknown_mailbox_and_duplicate_keys_across_files(cli: Cli, tmp_path: Path) -> None:
    orphan = write(tmp_path / "orphan.yaml", SIMPLE.replace("    mailbox: ada", "    mailbox: bob"))
    result = cli("import", str(orphan))
    assert (
        result.code == 2
        and "no mailbox 'bob' is defined" in result.stderr
        and f"{orphan}:6:" in result.stderr
    )
    a = write(tmp_path / "a.yaml", SIMPLE)
    b = write(tmp_path / "b.yaml", SIMPLE)
    result = cli("import", str(a), str(b))
    assert result.code == 2 and "is also defined in" in result.stderr


def test_edit_keeps_running_enrollments_on_their_step_ids(cli: Cli, tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", SIMPLE)
    cli.ok("import", str(spec))
    cli.add_contacts_for("s", "--email", "a@example.com")
    cli.ok("enroll", "s", "--email", "a@example.com", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    # Insert a step before `two` and change its text: the enrollment stays on `two`.
    edited = SIMPLE.replace(
        "      - {id: two,", "      - {id: extra, type: action, tag: x}\n      - {id: two,"
    ).replace('"Again"', '"Again, edited"')
    write(spec, edited)
    plan = cli.ok("import", str(spec), "--dry-run", "--json").json()
    change = next(c for c in plan["changes"] if c["key"] == "s")
    assert (
        change["state"] == "updated"
        and "step extra added" in change["details"]
        and "step two changed" in change["details"]
    )
    assert plan["applied"] is False
    cli.ok("import", str(spec))
    queue = cli.ok("queue", "--json").json()
    assert [(q["email"], q["step"]) for q in queue] == [("a@example.com", "two")]
    cli.ok("tick", "--now", "2026-11-24T10:00:00Z")
    log = cli.ok("log", "s", "--email", "a@example.com", "--json").json()[0]
    sent = [e["detail"]["subject"] for e in log["timeline"] if e["outcome"] == "sent"]
    assert sent == ["Hi a@example.com", "Again, edited"]


def test_removing_a_step_with_enrollments_on_it_needs_a_decision(cli: Cli, tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", SIMPLE)
    cli.ok("import", str(spec))
    cli.add_contacts_for("s", "--email", "a@example.com", "--email", "b@example.com")
    cli.ok("enroll", "s", "--email", "a@example.com", "--email", "b@example.com", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    write(spec, SIMPLE.replace('      - {id: two, type: email, wait: 1d, subject: "Again", body: "b"}\n', ""))
    dry_run = cli("import", str(spec), "--dry-run", "--json")  # the real import would refuse: exit 2
    dry = dry_run.json()
    assert dry_run.code == 2 and "2 on two" in dry["refused"] and not dry["applied"]
    assert next(c for c in dry["changes"] if c["key"] == "s")["enrollments_on_removed_steps"] == {"two": 2}
    dry_text = cli("import", str(spec), "--dry-run")
    assert dry_text.code == 2 and "would be refused" in dry_text.stderr and "step two removed" in dry_text.stdout
    refused = cli("import", str(spec))
    assert refused.code == 2 and "2 on two" in refused.stderr and "--on-removed" in refused.stderr
    assert cli("import", str(spec), "--on-removed", "nope").code == 2
    cli.ok("import", str(spec), "--on-removed", "three")
    assert {q["step"] for q in cli.ok("queue", "--json").json()} == {"three"}


def test_removed_steps_can_exit_their_enrollments(cli: Cli, tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", SIMPLE)
    cli.ok("import", str(spec))
    cli.add_contacts_for("s", "--email", "a@example.com")
    cli.ok("enroll", "s", "--email", "a@example.com", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    write(spec, SIMPLE.replace('      - {id: two, type: email, wait: 1d, subject: "Again", body: "b"}\n', ""))
    cli.ok("import", str(spec), "--on-removed", "exit")
    log = cli.ok("log", "s", "--email", "a@example.com", "--json").json()[0]
    assert log["status"] == "exited" and log["exit_reason"] == "manual"


def test_schema_is_json_schema_of_the_format(cli: Cli) -> None:
    schema = cli.ok("schema").json()
    assert schema["title"] == "seqctl sequence file"
    assert "sequences" in schema["properties"]
    assert schema["$defs"]["EmailStep"]["additionalProperties"] is False
