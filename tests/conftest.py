"""Shared fixtures: a real database per test (a SQLite file, or a Postgres database of its own, both copied from a migrated template when the test needs the schema),
an in-process CLI runner, and the clock as a parameter.

Postgres tests need SEQCTL_TEST_POSTGRES_URL. Without it they skip locally and fail
under CI (CI=true), so CI never silently skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "sequences.example.yaml"
POSTGRES_URL = os.environ.get("SEQCTL_TEST_POSTGRES_URL")


def at(text: str) -> datetime:
    """A UTC instant from compact ISO text, for readable tests."""
    return datetime.fromisoformat(text).astimezone(UTC)


def _postgres_or_skip() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    if os.environ.get("CI"):
        pytest.fail("CI must run the Postgres tests: set SEQCTL_TEST_POSTGRES_URL")
    pytest.skip(
        "Postgres tests need SEQCTL_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
    )


def _postgres_url(database: str) -> str:
    from sqlalchemy.engine import make_url

    from seqctl.store.db import normalise_url

    return make_url(normalise_url(_postgres_or_skip())).set(database=database).render_as_string(hide_password=False)


def _postgres_admin(statement: str) -> None:
    import sqlalchemy

    from seqctl.store.db import normalise_url

    admin = sqlalchemy.create_engine(normalise_url(_postgres_or_skip()), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        admin.dispose()


# Databases whose schema is migrated already are copied from a template made once per
# session (a file copy on SQLite, CREATE DATABASE … TEMPLATE on Postgres): running the
# migrations for each test cost 0.1 s (SQLite) to 0.2 s (Postgres) of every test.
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sqlite3

    from seqctl.store.db import Database
    from seqctl.store.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "seqctl.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    with contextlib.closing(sqlite3.connect(path)) as conn:  # everything into the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    from seqctl.store.db import Database
    from seqctl.store.migrate import upgrade

    name = f"seqctl_template_{uuid.uuid4().hex[:12]}"
    _postgres_admin(f'CREATE DATABASE "{name}"')
    database = Database(_postgres_url(name))
    upgrade(database)
    database.dispose()  # a template must have no connections while it is copied
    yield name
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_database(template: str | None) -> Iterator[str]:
    """A brand-new database (a copy of `template`, else empty), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _postgres_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template or "template0"}" STRATEGY = FILE_COPY')
    try:
        yield _postgres_url(name)
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own for the test: migrated already when the test uses `cli` or
    `db` (which expect `seqctl init` to have run), else empty."""
    migrated = bool({"cli", "db"} & set(request.fixturenames))
    if request.param == "sqlite":
        path = tmp_path / "seqctl.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("postgres_template") if migrated else None
        with postgres_database(template) as url:
            yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Any]:
    from seqctl.store.db import Database

    database = Database(db_url)
    yield database
    database.dispose()


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        import json

        return json.loads(self.stdout)


class Cli:
    """Runs `seqctl` in this process, exactly as the console script does (error boundary included)."""

    def __init__(self, db_url: str, workdir: Path) -> None:
        self.db_url = db_url
        self.workdir = workdir

    def __call__(self, *args: str, now: str | None = None) -> Result:
        from seqctl.cli import main

        argv = ["seqctl", "--db", self.db_url, *(["--now", now] if now else []), *args]
        out, err = io.StringIO(), io.StringIO()
        code = 0
        old_argv, old_cwd = sys.argv, os.getcwd()
        sys.argv = argv
        os.chdir(self.workdir)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = old_argv
            os.chdir(old_cwd)
        return Result(code, out.getvalue(), err.getvalue())

    def ok(self, *args: str, now: str | None = None) -> Result:
        result = self(*args, now=now)
        assert result.code == 0, f"seqctl {' '.join(args)} → {result.code}\n{result.stderr}\n{result.stdout}"
        return result

    def add_contacts_for(self, *enroll_args: str) -> None:
        """Import a contact for every `--email` of these `enroll` arguments (enroll creates none)."""
        emails = [enroll_args[i + 1] for i, arg in enumerate(enroll_args[:-1]) if arg == "--email"]
        csv = self.workdir / f"contacts-{len(list(self.workdir.glob('contacts-*.csv')))}.csv"
        csv.write_text("email\n" + "".join(f"{e}\n" for e in emails))
        self.ok("contacts", "import", str(csv))


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "outbox"
    monkeypatch.setenv("SEQCTL_OUTBOX", str(path))
    monkeypatch.delenv("SEQCTL_SMTP_URL", raising=False)
    return path


@pytest.fixture
def cli(db_url: str, tmp_path: Path, outbox: Path) -> Cli:
    return Cli(db_url, tmp_path)  # migrated already: see db_url


def outbox_messages(path: Path) -> list[Any]:
    """Messages in a Maildir outbox, oldest first (by Date header, then name)."""
    import email
    import email.policy
    from email.utils import parsedate_to_datetime

    new = path / "new"
    if not new.exists():
        return []
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(new.iterdir())
    ]
    return sorted(messages, key=lambda m: parsedate_to_datetime(m["Date"]))


def ada_sequence(steps: str) -> str:
    """A sequence file: mailbox `ada` and sequence `s` with these step lines."""
    header = 'mailboxes:\n  - {key: ada, from: "Ada <ada@example.com>"}\n'
    return header + "sequences:\n  - key: s\n    mailbox: ada\n    steps:\n" + steps


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class RecordingHandler:
    """An aiosmtpd handler that keeps every accepted message and can be told to refuse.

    `reject_rcpt` answers 550 for those addresses; `temporary_failures` answers 451 to that
    many DATA commands first; `drop_after_data` closes the connection after the final dot;
    `data_delay` seconds pass between the final dot and the reply (a busy server).
    """

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.reject_rcpt: set[str] = set()
        self.temporary_failures = 0
        self.drop_after_data = False
        self.connections = 0
        self.data_delay = 0.0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.lower() in self.reject_rcpt:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            return "451 4.3.0 Try again later"
        if self.drop_after_data:
            server.transport.close()
            return "250 OK (never heard)"
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def parsed(self) -> list[Any]:
        import email
        import email.policy

        # The wire form is CRLF; the email parser expects local line endings.
        return [
            email.message_from_bytes(content.replace(b"\r\n", b"\n"), policy=email.policy.default)
            for _, _, content in self.messages
        ]


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHandler]:
    """A real SMTP server on loopback; SEQCTL_SMTP_URL points at it."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SEQCTL_SMTP_URL", f"smtp://127.0.0.1:{port}")
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def tls_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A throwaway CA-signed certificate for 127.0.0.1; the CA is trusted via SSL_CERT_FILE."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    start = datetime.now(UTC) - timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("seqctl test CA")).issuer_name(name("seqctl test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    return cert_file, key_file


MAIL_FIXTURES = ROOT / "tests" / "fixtures" / "mail"


def mail_fixture(name: str, *, original: str, contact: str) -> bytes:
    """A message from tests/fixtures/mail, answering `original` and from/about `contact`."""
    text = (MAIL_FIXTURES / name).read_text(encoding="utf-8")
    return text.replace("{{ORIGINAL}}", original).replace("{{CONTACT}}", contact).encode()


def events_by_email(db_url: str) -> dict[str, list[tuple[str, str | None]]]:
    """Every recorded event as (type, detail), by the contact's address."""
    import sqlalchemy

    from seqctl.store.db import normalise_url

    engine = sqlalchemy.create_engine(normalise_url(db_url))
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT c.email, e.type, e.detail FROM events e JOIN contacts c ON c.id = e.contact_id ORDER BY e.id"
            ).all()
    finally:
        engine.dispose()
    found: dict[str, list[tuple[str, str | None]]] = {}
    for email, kind, detail in rows:
        found.setdefault(email, []).append((kind, detail))
    return found


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, process: Any, *, seconds: float = 20) -> bool:
    """True once something accepts connections on the loopback port; False when the process
    exits or the time runs out first."""
    import socket
    import time

    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


@pytest.fixture
def oauth_server() -> Iterator[Any]:
    """A real OAuth 2.0 authorization server on loopback (`tests/oauth_server.py`)."""
    from tests.oauth_server import OAuthServer, Running

    running = Running(OAuthServer())
    try:
        yield running.app
    finally:
        running.stop()


def text_values(db_url: str) -> list[tuple[str, str, str]]:
    """(table, column, value) for every non-empty value of every table, as text."""
    import json

    import sqlalchemy

    url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sqlalchemy.create_engine(url)
    found = []
    try:
        metadata = sqlalchemy.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(sqlalchemy.select(table)):
                    for column, value in row._mapping.items():
                        if value is not None:
                            text = value if isinstance(value, str) else json.dumps(value, default=str)
                            found.append((table.name, column, text))
    finally:
        engine.dispose()
    return found
