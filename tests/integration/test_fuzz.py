"""Fuzzing every input path (issue 12): sequence YAML, contact CSV, inbound mail, provider
event JSON and server URLs, mutated by hypothesis and driven through the CLI in-process
(and a few through the real binary). Whatever the input, a command ends with exit 0, 1
or 2, never a traceback, never an internal path or a secret in its output; exit 2 leaves
the database as it was, and no command leaves a stray outbox file.

Bounded (examples per test, every render and parse has its own limits) so that the suite
stays within its time on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqctl
from tests.conftest import EXAMPLE, Cli, Result, write
from tests.integration.test_hostile_input import table_snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
SECRET = "Fz9#sEcRet/pa?ss"
PACKAGE = str(Path(seqctl.__file__).resolve().parent)
FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip

# Pieces that break parsers: YAML structure and aliases, template syntax, control and
# line-separator characters, over-long numbers, bad dates and durations, paths.
TOKENS = [
    "&a ", "*a", "*b", "[", "]", "{", "}", ":", ": ", "- ", "\n", "\n  ", "\t", "'", '"', "#", "? ",
    "{{", "}}", "{%", "%}", "{{ 9**99 }}", "{% for i in range(99999) %}", "{% endfor %}", "{{ contact.x }}",
    "${SEQCTL_SMTP_URL}", "\x00", "\x1b[31m", "\x85", "\u2028", "\ufeff", "9" * 40, "999999999bd",
    "2026-13-45", "25:99", "America", "__pycache__", "../../etc/passwd", "!!python/object:os.system",
    "<<: *a", "[/bold]", "é", "𝕏", ",", ";", "\r", "\r\n",
]  # fmt: skip

edits = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**9),
        st.sampled_from(["insert", "delete", "replace", "repeat"]),
        st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)),
    ),
    min_size=1,
    max_size=6,
)


def mutate(data: Any, changes: list[tuple[int, str, Any]]) -> Any:
    """Apply edits to text or bytes: insert, delete, replace, repeat a stretch (as a bad
    merge does), truncate, or (bytes) wrap the whole in many levels of multipart."""
    for position, kind, piece in changes:
        at = position % (len(data) + 1)
        if kind == "insert":
            data = data[:at] + piece + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + len(piece) + 1 :]
        elif kind == "replace":
            data = data[:at] + piece + data[at + len(piece) :]
        elif kind == "repeat":
            data = data[:at] + data[at : at + 40] * 3 + data[at:]
        elif kind == "truncate":
            data = data[:at]
        else:
            data = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(80)) + data
    return data


def assert_clean(result: Result, *, codes: tuple[int, ...] = (0, 1, 2)) -> None:
    """The exit-code contract and what must never be printed."""
    shown = result.stdout + result.stderr
    assert result.code in codes, result
    assert "Traceback" not in shown, result
    assert PACKAGE not in shown and "site-packages" not in shown, result
    assert SECRET not in shown and "sEcRet" not in shown, result


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQCTL_SMTP_URL", f"smtp://user:{SECRET}@127.0.0.1:9")


@FUZZ
@given(changes=edits)
def test_validate_survives_any_mutation_of_the_example(tmp_path: Path, secret_env: None, changes: Any) -> None:
    text = mutate(EXAMPLE.read_text(), changes)
    path = tmp_path / "fuzzed.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = Cli("sqlite:///unused.db", tmp_path)("validate", str(path))
    assert_clean(result, codes=(0, 2))
    if result.code == 2:
        assert result.stderr.startswith(str(path)) or result.stderr.startswith("seqctl: "), result
    assert not (tmp_path / "unused.db").exists()


@settings(FUZZ, max_examples=25)
@given(changes=edits)
def test_import_of_a_mutated_file_applies_whole_or_not_at_all(
    cli: Cli, tmp_path: Path, db_url: str, secret_env: None, changes: Any
) -> None:
    path = write(tmp_path / "fuzzed.yaml", mutate(EXAMPLE.read_text(), changes))
    before = table_snapshot(db_url)
    result = cli("import", str(path))
    assert_clean(result, codes=(0, 2))
    if result.code == 2:
        assert table_snapshot(db_url) == before


cells = st.one_of(
    st.sampled_from([*TOKENS, "a@example.org", "B@Example.COM", "jösé@example.org", "x@exämple.org", '"', '""']),
    st.text(max_size=30),
)


@settings(FUZZ, max_examples=30)
@given(
    header=st.lists(st.sampled_from(["email", "E-mail", "First Name", "timezone", "tags", "x", ""]), min_size=1, max_size=5),
    rows=st.lists(st.lists(cells, max_size=6), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t"]),
    bom=st.booleans(),
)
def test_contacts_import_of_any_csv_imports_good_rows_or_changes_nothing(
    cli: Cli, tmp_path: Path, db_url: str, header: list[str], rows: list[list[str]], delimiter: str, bom: bool
) -> None:
    def quoted(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in f'"\r\n{delimiter}') else cell

    lines = [delimiter.join(map(quoted, row)) for row in [header, *rows]]
    path = tmp_path / "fuzzed.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + "\r\n".join(lines).encode("utf-8", "surrogatepass"))
    before = table_snapshot(db_url)
    result = cli("contacts", "import", str(path), "--json")
    assert_clean(result, codes=(0, 2))
    if result.code == 2:
        assert table_snapshot(db_url) == before
        return
    stored = [row[1] for row in table_snapshot(db_url)["contacts"]]
    assert all(isinstance(email, str) and email.isascii() and email == email.lower() for email in stored)


def _fixture_messages() -> list[bytes]:
    return [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]


byte_edits = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**9),
        st.sampled_from(["insert", "delete", "truncate", "nest"]),
        st.binary(max_size=16) | st.sampled_from([b"\r\n\r\n", b"Content-Type: multipart/mixed; boundary=x\r\n",
                                                  b"--x\r\n", b"=?utf-8?b?", b"\xff\xfe", b"Subject: [/bold]\x1b[2J\r\n",
                                                  b"Content-Transfer-Encoding: base64\r\n", b"charset=\"x-unknown\""]),
    ),
    max_size=6,
)  # fmt: skip


@settings(FUZZ, max_examples=15)
@given(picks=st.lists(st.tuples(st.integers(min_value=0, max_value=10**6), byte_edits), min_size=1, max_size=6))
def test_inbox_sync_reads_every_mutated_message_once_and_never_stops(
    cli: Cli, tmp_path: Path, picks: list[tuple[int, Any]]
) -> None:
    messages = _fixture_messages()
    maildir = tmp_path / f"in-{len(list(tmp_path.glob('in-*')))}"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for number, (pick, changes) in enumerate(picks):
        (maildir / "new" / f"{number}.eml").write_bytes(mutate(messages[pick % len(messages)], changes))
    result = cli("inbox", "sync", "--maildir", str(maildir), "--json", now="2026-11-23T10:00:00Z")
    assert_clean(result, codes=(0,))
    report = result.json()
    assert report["read"] + report["already_read"] == len(picks)
    listing = cli("inbox", "list", "--limit", "1000")
    assert_clean(listing, codes=(0,))
    assert "\x1b" not in listing.stdout


EVENTS = [
    '{"type": "opened", "email": "a@example.org", "at": "2026-11-23T10:00:00Z"}',
    '[{"event": "open", "email": "a@example.org", "timestamp": 1763892000, "sg_event_id": "e1", "sg_message_id": "m1"}]',
    '{"items": [{"event": "failed", "severity": "permanent", "recipient": "a@example.org", "timestamp": 1763892000, '
    '"id": "x", "message": {"headers": {"message-id": "m@x"}}}]}',
]  # fmt: skip


@settings(FUZZ, max_examples=30)
@given(which=st.integers(min_value=0, max_value=2), changes=edits, fmt=st.sampled_from(["jsonl", "sendgrid", "mailgun", "ses"]))
def test_events_import_of_mutated_json_applies_whole_or_not_at_all(
    cli: Cli, tmp_path: Path, db_url: str, which: int, changes: Any, fmt: str
) -> None:
    path = write(tmp_path / "events.json", mutate(EVENTS[which], changes))
    before = table_snapshot(db_url)
    result = cli("events", "import", str(path), "--format", fmt)
    assert_clean(result, codes=(0, 2))
    if result.code == 2:
        assert table_snapshot(db_url) == before


@settings(FUZZ, max_examples=200)
@given(password=st.text(min_size=6, max_size=20).filter(lambda p: "sEcRet" not in p), scheme=st.sampled_from(["smtp", "smtps", "imap", "imaps"]))
def test_a_server_url_is_parsed_right_or_refused_without_its_password(password: str, scheme: str) -> None:
    from seqctl.delivery.transports import SmtpSettings
    from seqctl.errors import InvalidInput
    from seqctl.inbound.imap import parse_imap_url

    url = f"{scheme}://user:{password}@mail.example.com:2525/INBOX"
    try:
        if scheme.startswith("smtp"):
            parsed: Any = SmtpSettings.from_url(url)
        else:
            parsed = parse_imap_url(url, where="mailbox m")
    except InvalidInput as exc:
        assert password not in exc.message and password.strip() not in exc.message
        return
    from urllib.parse import unquote

    assert parsed.password == unquote(password) and parsed.host == "mail.example.com" and parsed.port == 2525


@settings(FUZZ, max_examples=4)
@given(changes=edits)
def test_the_real_binary_keeps_the_contract_on_mutated_files(tmp_path: Path, changes: Any) -> None:
    path = write(tmp_path / "fuzzed.yaml", mutate(EXAMPLE.read_text(), changes))
    env = {**os.environ, "SEQCTL_SMTP_URL": f"smtp://user:{SECRET}@127.0.0.1:9"}
    for args in (["validate", str(path)], ["--db", f"sqlite:///{tmp_path / 'x.db'}", "import", str(path)]):
        done = subprocess.run([sys.executable, "-m", "seqctl", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert_clean(Result(done.returncode, done.stdout, done.stderr))
    assert not (tmp_path / "x.db").exists()  # import needs `seqctl init` first: nothing created


def test_no_command_leaves_a_stray_outbox_file(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    spec = write(tmp_path / "s.yaml", EXAMPLE.read_text())
    cli.ok("import", str(spec))
    csv = write(tmp_path / "c.csv", "email,first_name,company\n" + "".join(
        f"p{i}@example.org,P{i},{'Acme' if i % 3 else ''}\n" for i in range(30)))  # fmt: skip
    cli.ok("contacts", "import", str(csv))
    cli.ok("enroll", "cold-outreach", "--csv", str(csv), now="2026-11-16T14:00:00Z")
    for day in range(16, 26):
        assert_clean(cli("tick", "--now", f"2026-11-{day}T15:00:00Z"))
    assert list((outbox / "tmp").iterdir()) == []
    assert json.loads(cli.ok("queue", "--failed", "--json").stdout) is not None
