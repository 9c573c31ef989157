"""Hostile and messy input (issue 12): one regression test per input that used to hang,
leak a secret, break a listing or stop more than its own row, mailbox or enrollment.
Each runs on SQLite and Postgres where a database is involved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli, ada_sequence, outbox_messages, write

SECRET = "Sm7pFrag/ment"
SEQUENCE_PREFIX = 'mailboxes:\n  - {key: ada, from: "Ada <ada@example.com>"}\n'


def billion_laughs(levels: int) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def table_snapshot(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every seqctl table: what 'nothing changed' is checked against."""
    from sqlalchemy import text

    from seqctl.store.db import Database
    from seqctl.store.tables import metadata

    db = Database(db_url)
    try:
        with db.read() as tx:
            return {
                name: sorted(map(tuple, tx.execute(text(f"SELECT * FROM {name}")).all()), key=repr)
                for name in sorted(metadata.tables)
            }
    finally:
        db.dispose()


def contacts_in(db_url: str) -> dict[str, dict[str, object]]:
    """Every stored contact's fields by address."""
    from sqlalchemy import text

    from seqctl.store.db import Database

    db = Database(db_url)
    try:
        with db.read() as tx:
            rows = tx.execute(text("SELECT email, fields FROM contacts")).all()
    finally:
        db.dispose()
    return {email: fields if isinstance(fields, dict) else json.loads(fields) for email, fields in rows}


def test_an_alias_bomb_is_refused_at_its_line_before_it_expands(cli: Cli, tmp_path: Path, db_url: str) -> None:
    bomb = write(tmp_path / "bomb.yaml", billion_laughs(9))
    before = table_snapshot(db_url)
    for command in ("validate", "import"):
        result = cli(command, str(bomb))
        assert result.code == 2, result
        assert f"{bomb}:" in result.stderr and "expands to more than" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    assert table_snapshot(db_url) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels"),
        ("a: &a [*a]\n", "refers to a value that contains it"),
        ("? [a, b]\n: c\n", "a key must be plain text"),
        (SEQUENCE_PREFIX + "sequences:\n  - key: s\n    mailbox: ada\n    calendar: {holidays: [2026-24-12]}\n"
         "    steps: [{id: a, type: email, subject: s, body: b}]\n", ":6:27: '2026-24-12' is not a valid value"),
        (SEQUENCE_PREFIX + "sequences:\n  - key: s\n    mailbox: ada\n    starts_at: 2026-13-01\n"
         "    steps: [{id: a, type: email, subject: s, body: b}]\n", ":6:16: '2026-13-01' is not a valid value"),
        (SEQUENCE_PREFIX + "sequences:\n  - key: s\n    mailbox: ada\n    calendar: {timezone: America}\n"
         "    steps: [{id: a, type: email, subject: s, body: b}]\n", ":6:26: 'timezone': unknown time zone 'America'"),
        (ada_sequence("      - {id: a, type: email, wait: 999999999bd, subject: s, body: b}\n"), "longer than ten years"),
        (ada_sequence("      - {id: a, type: email, wait: 3700d, subject: s, body: b}\n"), "longer than ten years"),
        (ada_sequence("      - {id: a, type: email, subject: s, body: '{{ 9 ** (9 ** 9) }}'}\n"), "is too large"),
        (ada_sequence("      - {id: a, type: email, subject: s, body: "
                      "'{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}'}\n"),
         "takes longer than 1 s to render"),
    ],
    ids=["deep", "recursive-alias", "key", "holiday", "starts-at", "zone-folder", "huge-wait", "3700d", "power", "loops"],
)
def test_files_that_would_hang_or_crash_the_loader_get_file_and_line(
    cli: Cli, tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path / "bad.yaml", text)
    result = cli("validate", str(path))
    assert result.code == 2 and expected in result.stderr, result
    assert result.stderr.startswith(f"{path}:") and "Traceback" not in result.stderr


def test_a_file_past_the_size_limit_is_refused_unread(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as file:
        file.write("# " + "x" * 1024 * 1024 + "\n")
        file.truncate(11 * 1024 * 1024)
    result = cli("validate", str(path))
    assert result.code == 2 and "larger than 10 MiB" in result.stderr


def test_an_unparsable_smtp_url_pauses_only_its_mailbox_and_never_shows_the_password(
    cli: Cli, tmp_path: Path, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKEN_SMTP_URL", f"smtp://user:{SECRET}@127.0.0.1:25")
    spec = write(tmp_path / "s.yaml", """\
mailboxes:
  - {key: broken, from: "B <b@example.com>", smtp: "${BROKEN_SMTP_URL}"}
  - {key: fine, from: "F <f@example.com>"}
sequences:
  - {key: b, mailbox: broken, steps: [{id: one, type: email, subject: "Hi", body: "b"}]}
  - {key: f, mailbox: fine, steps: [{id: one, type: email, subject: "Hi", body: "f"}]}
""")  # fmt: skip
    cli.ok("import", str(spec))
    cli.add_contacts_for("--email", "x@example.org")
    cli.ok("enroll", "b", "--email", "x@example.org", now="2026-11-23T10:00:00Z")
    cli.ok("enroll", "f", "--email", "x@example.org", now="2026-11-23T10:00:00Z")
    tick = cli("tick", "--now", "2026-11-23T10:00:00Z")
    report = cli.ok("tick", "--now", "2026-11-23T10:01:00Z", "--json").json()
    queue = cli.ok("queue", "--json", now="2026-11-23T10:02:00Z")
    everything = tick.stdout + tick.stderr + queue.stdout + str(report)
    assert tick.code == 0 and "Sm7pFrag" not in everything and "ment@" not in everything
    assert "mailbox broken: SMTP URL is not valid (user:password must be percent-encoded" in tick.stderr
    assert "sent 1" in tick.stderr  # the other mailbox sent in the same tick
    assert [m["To"] for m in outbox_messages(outbox)] == ["x@example.org"]
    waiting = {item["sequence"]: item for item in queue.json()}
    assert "SMTP URL is not valid" in str(waiting["b"])


def test_a_password_with_reserved_characters_works_percent_encoded() -> None:
    from urllib.parse import quote

    from seqctl.delivery.transports import SmtpSettings

    settings = SmtpSettings.from_url(f"smtps://ada%40example.com:{quote(SECRET + '#?@', safe='')}@mail.example.com")
    assert (settings.username, settings.password, settings.port) == ("ada@example.com", SECRET + "#?@", 465)
    assert SECRET not in repr(settings)


def test_markup_and_escape_sequences_in_stored_mail_cannot_break_or_style_a_listing(
    cli: Cli, tmp_path: Path
) -> None:
    maildir = tmp_path / "in"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1").write_bytes(
        b"From: Mallory <m@example.net>\r\nTo: ada@example.com\r\nSubject: hi [/bold] there [red]x\x1b[2J\r\n"
        b"Message-ID: <evil@example.net>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n"
    )
    cli.ok("inbox", "sync", "--maildir", str(maildir), now="2026-11-23T10:00:00Z")
    listing = cli.ok("inbox", "list")
    assert "MarkupError" not in listing.stderr and "\x1b" not in listing.stdout
    as_json = cli.ok("inbox", "list", "--json")
    assert "\x1b" not in as_json.stdout and as_json.json()[0]["kind"] == "reply"


def test_contact_data_with_markup_shows_as_written_in_tables(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", ada_sequence(
        '      - {id: call, type: task, kind: call, note: "Call {{ contact.first_name }}"}\n'))))  # fmt: skip
    csv = write(tmp_path / "c.csv", 'email,first_name\nx@example.org,"[bold red]Boss[/] \x1b]0;pwned\x07"\n')
    cli.ok("contacts", "import", str(csv))
    cli.ok("enroll", "s", "--email", "x@example.org", now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    tasks = cli.ok("tasks")
    assert "[bold" in tasks.stdout and "\\x1b" in tasks.stdout  # shown as written, the escape as text
    assert "\x1b" not in tasks.stdout and "\x07" not in tasks.stdout


def test_a_bad_time_zone_refuses_its_row_only(cli: Cli, tmp_path: Path) -> None:
    long_zone = "Europe/" + "x" * 300
    csv = write(tmp_path / "c.csv", (
        "email,timezone\n"
        "a@example.org,America\nb@example.org,__pycache__\n"
        f"c@example.org,{long_zone}\nd@example.org,Europe/Paris\n"
    ))  # fmt: skip
    result = cli("contacts", "import", str(csv), "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["created"] == 1 and [p["line"] for p in report["problems"]] == [2, 3, 4]
    assert all("unknown time zone" in p["error"] for p in report["problems"])
    assert "zoneinfo" not in result.stdout + result.stderr and "site-packages" not in result.stdout
    cli.ok("import", str(write(tmp_path / "s.yaml", ada_sequence(
        "      - {id: one, type: email, subject: Hi, body: b}\n"))))  # fmt: skip
    preview = cli("preview", "s", "--timezone", "America")
    assert preview.code == 2 and "unknown time zone 'America'" in preview.stderr


def test_csv_is_read_as_csv_multi_line_cells_bom_and_unicode_line_separators(
    cli: Cli, tmp_path: Path, db_url: str
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_bytes(
        "\ufeffE-mail;First Name;note\r\n"
        'a@example.org;Ada;"line one\nline two"\r\n'
        "b@example.org;Bo\u2028b;x\x85y\r\n"
        "c@example.org;Cy;z\r\n".encode()
    )
    report = cli.ok("contacts", "import", str(csv), "--json").json()
    assert report["created"] == 3 and report["problems"] == []
    stored = contacts_in(db_url)
    assert stored["a@example.org"]["note"] == "line one\nline two"
    assert stored["b@example.org"]["first_name"] == "Bo\u2028b"
    assert stored["b@example.org"]["note"] == "x\x85y"


def test_a_cell_past_the_limit_refuses_the_file_at_its_line(cli: Cli, tmp_path: Path, db_url: str) -> None:
    csv = write(tmp_path / "c.csv", "email,note\na@example.org,ok\nb@example.org,\"" + "x" * 200_000 + "\"\n")
    before = table_snapshot(db_url)
    result = cli("contacts", "import", str(csv))
    assert result.code == 2 and f"{csv}:3: a cell is larger than 64 KiB" in result.stderr
    assert table_snapshot(db_url) == before
    unclosed = write(tmp_path / "d.csv", 'email,note\na@example.org,"never closed\n' + "b@example.org,x\n" * 9000)
    result = cli("contacts", "import", str(unclosed))
    assert result.code == 2 and f"{unclosed}:2:" in result.stderr


def test_a_non_ascii_local_part_is_refused_at_import_with_its_row(cli: Cli, tmp_path: Path, db_url: str) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", ada_sequence(
        "      - {id: one, type: email, subject: Hi, body: b}\n"))))  # fmt: skip
    csv = write(tmp_path / "c.csv", "email\njösé@example.org\nada@exämple.org\n")
    report = cli.ok("contacts", "import", str(csv), "--json").json()
    assert report["created"] == 1 and report["problems"][0]["line"] == 2
    assert "non-ASCII local part" in report["problems"][0]["error"]
    assert list(contacts_in(db_url)) == ["ada@xn--exmple-cua.org"]  # the domain in its IDNA form
    enrolled = cli("enroll", "s", "--email", "jösé@example.org")
    assert "non-ASCII local part" in enrolled.stderr


def test_enroll_by_address_creates_no_contact(cli: Cli, tmp_path: Path, db_url: str) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", ada_sequence(
        "      - {id: one, type: email, subject: Hi, body: b}\n"))))  # fmt: skip
    report = cli.ok("enroll", "s", "--email", "nobody@example.org", "--json").json()
    assert report["enrolled"] == [] and report["skipped"][0]["email"] == "nobody@example.org"
    assert "no such contact" in report["skipped"][0]["reason"]
    assert contacts_in(db_url) == {}


def test_a_group_that_fails_half_way_leaves_no_staged_file(
    cli: Cli, tmp_path: Path, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import seqctl.services.batch.compose as runner

    real_build = runner.build

    def build(outgoing: object) -> str:
        if getattr(outgoing, "recipient", "") == "boom@example.org":
            raise RuntimeError("a bug while building this one message")
        return real_build(outgoing)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "build", build)
    cli.ok("import", str(write(tmp_path / "s.yaml", ada_sequence(
        "      - {id: one, type: email, subject: Hi, body: b}\n"))))  # fmt: skip
    people = ["a@example.org", "boom@example.org", "c@example.org"]
    args = [a for p in people for a in ("--email", p)]
    cli.add_contacts_for(*args)
    cli.ok("enroll", "s", *args, now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    assert sorted(m["To"] for m in outbox_messages(outbox)) == ["a@example.org", "c@example.org"]
    assert list((outbox / "tmp").iterdir()) == []


def test_a_runaway_template_fails_only_its_own_enrollment(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    body = "{% for i in range(contact.n|int) %}{% for j in range(contact.n|int) %}{% endfor %}{% endfor %}done"
    cli.ok("import", str(write(tmp_path / "s.yaml", ada_sequence(
        f"      - {{id: one, type: email, subject: Hi, body: '{body}'}}\n"))))  # fmt: skip
    cli.ok("contacts", "import", str(write(tmp_path / "c.csv", "email,n\nslow@example.org,99999\nfast@example.org,3\n")))
    cli.ok("enroll", "s", "--email", "slow@example.org", "--email", "fast@example.org", now="2026-11-23T10:00:00Z")
    report = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert (report["sent"], report["failed"]) == (1, 1)
    failed = cli.ok("queue", "--failed", "--json").json()
    assert failed[0]["email"] == "slow@example.org" and "longer than 1 s" in str(failed[0])
    preview = cli.ok("preview", "s", "--email", "slow@example.org", "--json").json()
    assert "longer than 1 s" in preview["steps"][0]["body_error"]


def test_smaller_contract_breaks(cli: Cli, tmp_path: Path) -> None:
    suggestion = cli("tick", "--now", "2026-12-30")
    assert suggestion.code == 2 and "2026-12-30T00:00:00Z" in suggestion.stderr
    assert cli("tick", "--now", "2026-12-30T00:00:00Z").code == 0  # the suggestion works
    huge = "99999999999999999999"  # past a 64-bit integer: refused as input, not an OverflowError
    for args in (["retry", huge], ["task", "done", huge], ["pause", "--id", huge], ["resolve", huge, "--sent"],
                 ["queue", "--limit", huge], ["inbox", "list", "--limit", huge], ["log", "--id", huge]):  # fmt: skip
        result = cli(*args)
        assert result.code == 2 and "OverflowError" not in result.stderr, (args, result)
    typo = tmp_path / "typo.db"
    for command in (["queue"], ["tick"], ["inbox", "list"], ["enroll", "s", "--email", "a@example.org"]):
        result = Cli(f"sqlite:///{typo}", tmp_path)(*command)
        assert result.code == 1 and "no database at" in result.stderr and "seqctl init" in result.stderr
        assert not typo.exists()


def test_a_database_url_with_a_bad_password_is_described_not_echoed(tmp_path: Path) -> None:
    result = Cli("postgresql://user:p@ss:w/rd#x@127.0.0.1:99999/db", tmp_path)("queue")
    assert result.code == 2 and "database URL is not valid" in result.stderr and "rd#x" not in result.stderr


def test_event_files_that_are_too_deep_or_have_huge_numbers_name_their_line(cli: Cli, tmp_path: Path) -> None:
    deep = write(tmp_path / "deep.jsonl", "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    result = cli("events", "import", str(deep))
    assert result.code == 2 and f"{deep}:2: JSON nested too deeply" in result.stderr, result
    huge = write(tmp_path / "huge.json", '[{"event": "open", "email": "a@example.org", "timestamp": 1e300, '
                                         '"sg_message_id": "x", "sg_event_id": "y"}]')  # fmt: skip
    result = cli("events", "import", str(huge), "--format", "sendgrid")
    assert result.code == 2 and f"{huge}:1:" in result.stderr


def test_the_real_binary_leaks_no_secret_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "SEQCTL_SMTP_URL": f"smtp://user:{SECRET}@127.0.0.1:25", "SEQCTL_OUTBOX": str(tmp_path / "o")}
    db = f"sqlite:///{tmp_path / 'seqctl.db'}"
    spec = write(tmp_path / "s.yaml", ada_sequence("      - {id: one, type: email, subject: Hi, body: b}\n"))
    write(tmp_path / "c.csv", "email\na@example.org\n")
    outputs = []
    for args in (["init"], ["import", str(spec)], ["contacts", "import", "c.csv"],
                 ["enroll", "s", "--email", "a@example.org"], ["tick"], ["queue"], ["mailboxes"]):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "seqctl", "--db", db, "--now", "2026-11-23T10:00:00Z", *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, (args, done.stderr)
        outputs.append(done.stdout + done.stderr)
    everything = "\n".join(outputs)
    assert "Sm7pFrag" not in everything and "Traceback" not in everything and "SMTP URL is not valid" in everything
