from __future__ import annotations

from pathlib import Path

from tests.conftest import EXAMPLE, Cli, write


def test_csv_import_reports_bad_rows_and_imports_the_rest(cli: Cli, tmp_path: Path) -> None:
    csv = write(tmp_path / "c.csv", (
        "Email,first_name,company,timezone,tags\n"
        "Ada@Example.com,Ada,Acme,Europe/London,vip;east\n"
        "not-an-email,Bob,Acme,,\n"
        "carol@example.com,Carol,,Mars/Base,\n"
        "dave@example.com,Dave\n"
        "erin@example.com,Erin,,,\n"
    ))  # fmt: skip
    result = cli.ok("contacts", "import", str(csv), "--json").json()
    assert result["created"] == 2
    assert [(p["line"], p["error"].split(" ")[0]) for p in result["problems"]] == [
        (3, "'not-an-email'"),
        (4, "unknown"),
        (5, "expected"),
    ]
    again = cli.ok("contacts", "import", str(csv), "--json").json()
    assert again["created"] == 0 and again["unchanged"] == 2


def test_empty_cell_leaves_the_field_unset_so_templates_fail_clearly(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(EXAMPLE))
    csv = write(
        tmp_path / "c.csv", "email,first_name,company\nok@example.com,Ok,Acme\nnoname@example.com,,Acme\n"
    )
    cli.ok("enroll", "cold-outreach", "--csv", str(csv), now="2026-11-23T15:00:00Z")
    report = cli.ok("tick", "--now", "2026-11-23T15:00:00Z", "--json").json()
    assert report["sent"] == 1 and report["failed"] == 1
    failed = cli.ok("queue", "--failed", "--json").json()
    assert [f["email"] for f in failed] == ["noname@example.com"]
    assert "contact.first_name is not set" in failed[0]["error"]


def test_missing_csv_or_email_column_is_invalid_input(cli: Cli, tmp_path: Path) -> None:
    assert cli("contacts", "import", str(tmp_path / "nope.csv")).code == 2
    no_email = write(tmp_path / "n.csv", "name\nx\n")
    result = cli("contacts", "import", str(no_email))
    assert result.code == 2 and "no 'email' column" in result.stderr
