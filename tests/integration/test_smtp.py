"""Delivery over a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Cli, RecordingHandler, write

ONE = """\
mailboxes:
  - key: ada
    from: "Ada <ada@example.com>"
    unsubscribe_url: "https://u.example.com/one-click?m={{ message_id }}"
sequences:
  - key: s
    mailbox: ada
    steps:
      - {id: one, type: email, subject: "Hi {{ contact.email }}", body: "b"}
      - {id: two, type: email, wait: 1d, thread: true, body: "again"}
"""


def enroll(cli: Cli, tmp_path: Path, *emails: str) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", ONE)))
    args = [a for e in emails for a in ("--email", e)]
    cli.add_contacts_for(*args)
    cli.ok("enroll", "s", *args, now="2026-11-23T10:00:00Z")


def test_sends_over_one_reused_connection_with_one_click_unsubscribe(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler
) -> None:
    enroll(cli, tmp_path, "a@example.com", "b@example.com", "c@example.com")
    assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["sent"] == 3
    messages = smtp_server.parsed()
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]
    assert {frm for frm, _, _ in smtp_server.messages} == {"ada@example.com"}
    first = messages[0]
    assert first["List-Unsubscribe"].startswith("<https://u.example.com/one-click?m=%3C")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_550_on_rcpt_is_a_hard_bounce_others_still_sent(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler
) -> None:
    smtp_server.reject_rcpt = {"gone@example.com"}
    enroll(cli, tmp_path, "gone@example.com", "ok@example.com")
    report = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert report["sent"] == 1 and report["exited"] == 1
    log = cli.ok("log", "s", "--email", "gone@example.com", "--json").json()[0]
    assert (log["status"], log["exit_reason"]) == ("exited", "bounced")
    cli.add_contacts_for("s", "--email", "gone@example.com", "--json")
    again = cli.ok("enroll", "s", "--email", "gone@example.com", "--json", now="2026-11-24T10:00:00Z").json()
    assert "suppressed" in again["skipped"][0]["reason"]


def test_451_retries_with_backoff_then_sends_once(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler
) -> None:
    smtp_server.temporary_failures = 1
    enroll(cli, tmp_path, "a@example.com")
    first = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert first["retried"] == 1 and first["sent"] == 0
    queue = cli.ok("queue", "--json", now="2026-11-23T10:00:00Z").json()
    assert queue[0]["why"].startswith("retrying after a transient failure (attempt 1: 451")
    assert cli.ok("tick", "--now", "2026-11-23T10:01:00Z", "--json").json()["sent"] == 0  # still backing off
    assert cli.ok("tick", "--now", "2026-11-23T11:00:00Z", "--json").json()["sent"] == 1
    assert len(smtp_server.messages) == 1


def test_connection_dropped_after_data_is_unknown_and_resolvable(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler
) -> None:
    smtp_server.drop_after_data = True
    enroll(cli, tmp_path, "a@example.com")
    assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["unknown"] == 1
    smtp_server.drop_after_data = False
    assert cli.ok("tick", "--now", "2026-11-24T10:00:00Z", "--json").json()["claimed"] == 0
    unknown = cli.ok("queue", "--unknown", "--json").json()
    assert [(u["email"], u["step"]) for u in unknown] == [("a@example.com", "one")]
    cli.ok("resolve", str(unknown[0]["id"]), "--not-sent", now="2026-11-24T10:00:00Z")
    assert cli.ok("tick", "--now", "2026-11-24T10:00:00Z", "--json").json()["sent"] == 1
    [message] = smtp_server.parsed()
    assert message["Message-ID"] == unknown[0]["message_id"]


def test_mailbox_down_defers_without_spending_retries(cli: Cli, tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv("SEQCTL_SMTP_URL", "smtp://127.0.0.1:9")  # nothing listens on the discard port
    try:
        enroll(cli, tmp_path, "a@example.com", "b@example.com")
        report = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
        assert report["deferred"] == 2 and report["retried"] == 0 and report["failed"] == 0
        queue = cli.ok("queue", "--json", now="2026-11-23T10:00:00Z").json()
        assert all(q["why"].startswith("mailbox paused") and q["attempts"] == 0 for q in queue)
    finally:
        mp.undo()


def test_credentials_from_the_url_are_used_to_log_in(cli: Cli, tmp_path: Path, monkeypatch: Any) -> None:
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            seen.append((data.login, data.password))
            return AuthResult(success=data.login == b"ada" and data.password == b"p@ss:word")
        return AuthResult(success=False)

    handler = RecordingHandler()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    controller.start()
    try:
        monkeypatch.setenv("SEQCTL_SMTP_URL", f"smtp://ada:p%40ss%3Aword@127.0.0.1:{port}")
        enroll(cli, tmp_path, "a@example.com")
        tick = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json")
        assert tick.json()["sent"] == 1
        assert seen == [(b"ada", b"p@ss:word")] and len(handler.messages) == 1
        assert "word" not in tick.stdout + tick.stderr
    finally:
        controller.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_starttls_when_offered_and_implicit_tls_for_smtps(
    cli: Cli, tmp_path: Path, tls_files: Any, monkeypatch: Any
) -> None:
    import ssl

    from aiosmtpd.controller import Controller

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    starttls, implicit = RecordingHandler(), RecordingHandler()
    port_a, port_b = _free_port(), _free_port()
    offers_starttls = Controller(
        starttls, hostname="127.0.0.1", port=port_a, tls_context=context, require_starttls=True
    )
    speaks_tls = Controller(implicit, hostname="127.0.0.1", port=port_b, ssl_context=context)
    offers_starttls.start()
    speaks_tls.start()
    try:
        monkeypatch.setenv("SEQCTL_SMTP_URL", f"smtp://127.0.0.1:{port_a}")
        enroll(cli, tmp_path, "a@example.com", "b@example.com")
        assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["sent"] == 2
        # One connection for the whole tick; the server refuses mail before STARTTLS, so both went encrypted.
        assert len(starttls.messages) == 2
        monkeypatch.setenv("SEQCTL_SMTP_URL", f"smtps://127.0.0.1:{port_b}")
        cli.add_contacts_for("s", "--email", "c@example.com")
        cli.ok("enroll", "s", "--email", "c@example.com", now="2026-11-23T10:00:00Z")
        report = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
        assert report["sent"] == 1, report["errors"]
        assert len(implicit.messages) == 1
    finally:
        offers_starttls.stop()
        speaks_tls.stop()


def test_one_connection_is_reused_for_a_whole_tick(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler
) -> None:
    enroll(cli, tmp_path, *(f"r{n}@example.com" for n in range(5)))
    assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["sent"] == 5
    assert smtp_server.connections == 1


def test_mailbox_outage_backs_off_doubling_and_recovers(cli: Cli, tmp_path: Path, monkeypatch: Any) -> None:
    """A server answering 421 at connect pauses the mailbox 1, 2, 4 … minutes; then all goes once."""
    from aiosmtpd.controller import Controller

    class Closed(RecordingHandler):
        refusing = True

        async def handle_EHLO(
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            if self.refusing:
                return ["421 4.3.2 Service not available, closing channel"]
            return await super().handle_EHLO(server, session, envelope, hostname, responses)

    handler = Closed()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("SEQCTL_SMTP_URL", f"smtp://127.0.0.1:{port}")
        enroll(cli, tmp_path, "a@example.com", "b@example.com")
        pauses = []
        for minute in ("10:00", "10:01", "10:03"):
            report = cli.ok("tick", "--now", f"2026-11-23T{minute}:00Z", "--json").json()
            assert (report["deferred"], report["retried"], report["sent"]) == (2, 0, 0)
            pauses.append(cli.ok("queue", "--json", now=f"2026-11-23T{minute}:00Z").json()[0]["next_run_at"])
        assert pauses == [
            "2026-11-23T10:01:00+00:00",
            "2026-11-23T10:03:00+00:00",
            "2026-11-23T10:07:00+00:00",
        ]
        assert (
            cli.ok("tick", "--now", "2026-11-23T10:05:00Z", "--json").json()["claimed"] == 0
        )  # still resting
        handler.refusing = False
        report = cli.ok("tick", "--now", "2026-11-23T10:07:00Z", "--json").json()
        assert report["sent"] == 2 and len(handler.messages) == 2
        queue = cli.ok("queue", "--json", now="2026-11-23T10:07:00Z").json()
        assert all(q["attempts"] == 0 and q["step"] == "two" for q in queue)
    finally:
        controller.stop()


def test_held_back_follow_ups_go_before_new_first_touches(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler
) -> None:
    spec = ONE.replace(
        '    unsubscribe_url: "https://u.example.com/one-click?m={{ message_id }}"\n',
        "    limits: {per_hour: 2}\n",
    )
    spec = spec.replace("wait: 1d, thread: true", "wait: 1m, thread: true")
    cli.ok("import", str(write(tmp_path / "s.yaml", spec)))
    cli.add_contacts_for("s", "--email", "a@example.com", "--email", "b@example.com")
    cli.ok("enroll", "s", "--email", "a@example.com", "--email", "b@example.com", now="2026-11-23T10:00:00Z")
    assert cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()["sent"] == 2
    cli.add_contacts_for("s", "--email", "c@example.com", "--email", "d@example.com")
    cli.ok("enroll", "s", "--email", "c@example.com", "--email", "d@example.com", now="2026-11-23T10:30:00Z")
    held = cli.ok("tick", "--now", "2026-11-23T10:30:00Z", "--json").json()
    assert held["sent"] == 0 and held["claimed"] == 0, held  # the limit holds all four where they are
    assert cli.ok("tick", "--now", "2026-11-23T11:00:00Z", "--json").json()["sent"] == 2
    order = [(m["To"].addresses[0].addr_spec, m["Subject"]) for m in smtp_server.parsed()]
    assert order[2:] == [("a@example.com", "Re: Hi a@example.com"), ("b@example.com", "Re: Hi b@example.com")]


def test_a_send_that_keeps_failing_gives_up_and_says_how_often_it_tried(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler
) -> None:
    smtp_server.temporary_failures = 99
    enroll(cli, tmp_path, "a@example.com")
    for hour in range(10, 20):  # each backoff (2 min … 32 min) has passed by the next hour
        cli.ok("tick", "--now", f"2026-11-23T{hour}:00:00Z")
    [failed] = cli.ok("queue", "--failed", "--json").json()
    assert failed["error"].startswith("gave up after 5 attempts") and failed["attempts"] == 5
