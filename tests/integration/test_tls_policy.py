"""TLS as an operator sets it: a certificate that does not verify is reported as such (not
"server down"), a private CA can be named with `ca_file`, and `tls: require` never sends
a password to a server that offers no STARTTLS. Real servers: aiosmtpd and Dovecot."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, RecordingHandler, free_port, write
from tests.imap_server import running_dovecot

SEQ = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>", smtp: "${ADA_SMTP_URL}", imap: "${ADA_IMAP_URL}" TLS}
sequences:
  - key: s
    mailbox: ada
    steps:
      - {id: one, type: email, subject: "Hi", body: "b"}
"""


def _start(cli: Cli, tmp_path: Path, mailbox_tls: str = "") -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ.replace(" TLS", mailbox_tls))))
    cli.add_contacts_for("s", "--email", "a@example.com")
    cli.ok("enroll", "s", "--email", "a@example.com", now="2026-11-23T10:00:00Z")


@pytest.fixture
def smtps(tls_files: Any) -> Any:
    from aiosmtpd.controller import Controller

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    handler, port = RecordingHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_an_unverified_certificate_is_named_and_a_ca_file_fixes_it(
    cli: Cli, tmp_path: Path, smtps: Any, tls_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, port = smtps
    monkeypatch.delenv("SSL_CERT_FILE")  # the test CA is no longer trusted by default
    monkeypatch.setenv("ADA_SMTP_URL", f"smtps://127.0.0.1:{port}")
    monkeypatch.setenv("ADA_IMAP_URL", "imaps://u:p@127.0.0.1:1/INBOX")
    _start(cli, tmp_path)
    report = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert report["sent"] == 0 and "certificate problem" in " ".join(report["errors"])
    assert "ca_file" in " ".join(report["errors"]) and handler.messages == []
    ca = tls_files[0].parent / "ca.pem"
    monkeypatch.setenv("ADA_SMTP_URL", f"smtps://127.0.0.1:{port}?ca_file={ca}")
    report = cli.ok("tick", "--now", "2026-11-23T11:00:00Z", "--json").json()
    assert report["sent"] == 1, report["errors"]


def test_tls_require_never_logs_in_without_starttls(
    cli: Cli, tmp_path: Path, smtp_server: RecordingHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    plain = os.environ["SEQCTL_SMTP_URL"]  # the fixture's server offers no STARTTLS
    monkeypatch.setenv("ADA_SMTP_URL", plain.replace("smtp://", "smtp://ada:secret@"))
    monkeypatch.setenv("ADA_IMAP_URL", "imaps://u:p@127.0.0.1:1/INBOX")
    _start(cli, tmp_path, ", tls: require")
    report = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    errors = " ".join(report["errors"])
    assert report["sent"] == 0 and "offers no STARTTLS" in errors and "secret" not in errors
    assert smtp_server.messages == []


def test_imap_certificate_problem_and_required_tls(
    cli: Cli, tmp_path: Path, tls_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADA_SMTP_URL", "smtp://127.0.0.1:1")
    _start(cli, tmp_path)
    with running_dovecot(tls_files) as server:
        monkeypatch.delenv("SSL_CERT_FILE")
        monkeypatch.setenv("ADA_IMAP_URL", server.url())
        result = cli("inbox", "sync", "--json")
        assert result.code == 1 and "certificate problem" in result.stdout
        monkeypatch.setenv("ADA_IMAP_URL", f"{server.url()}?ca_file={tls_files[0].parent / 'ca.pem'}")
        assert cli.ok("inbox", "sync", "--json").json()["errors"] == []
    with running_dovecot() as server:  # plain IMAP, no STARTTLS on offer
        monkeypatch.setenv("ADA_IMAP_URL", f"{server.url()}?tls=require")
        result = cli("inbox", "sync", "--json")
        assert result.code == 1 and "offers no STARTTLS" in result.stdout
