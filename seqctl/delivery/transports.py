"""Where messages go: SMTP for real, a Maildir outbox by default, memory for tests.

Each transport reports a SendResult rather than raising, so the tick can tell apart
"certainly not sent" (retry), "the server refused this recipient" (bounce),
"the mailbox's server is unusable" (pause the mailbox) and "we cannot know" (unknown).
"""

from __future__ import annotations

import enum
import os
import secrets
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from seqctl.errors import InvalidInput

CONNECT_TIMEOUT_S = 30


class SendOutcome(enum.Enum):
    SENT = "sent"
    TRANSIENT = "transient"  # not sent; try again later (4xx, connection trouble before DATA)
    REJECTED = "rejected"  # the server refused the recipient for good (5xx on RCPT)
    FAILED = "failed"  # the server refused this message for good (5xx on DATA)
    MAILBOX_DOWN = "mailbox_down"  # cannot connect or log in: not this message's fault
    UNKNOWN = "unknown"  # the connection broke after the message was handed over


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    detail: str = ""


class Transport(Protocol):
    def send(self, envelope_from: str, recipient: str, raw: str) -> SendResult: ...

    def close(self) -> None: ...


@dataclass
class MemoryTransport:
    """Keeps messages in a list; for tests and `--dry-run`-like uses."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, envelope_from: str, recipient: str, raw: str) -> SendResult:
        self.sent.append((envelope_from, recipient, raw))
        return SendResult(SendOutcome.SENT)

    def close(self) -> None:
        return None


class MaildirTransport:
    """Writes each message into a Maildir: a file in tmp/, renamed into new/ when complete,
    so a reader never sees half a message.

    Files are not fsynced one by one (that would cost more than the rest of a send); the
    transport flushes the file system once when the tick closes it. A power cut during a
    tick can therefore lose the newest files, never duplicate one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False
        self._written = 0
        self._prefix = f"{int(time.time())}.P{os.getpid()}R{secrets.token_hex(4)}"

    def send(self, envelope_from: str, recipient: str, raw: str) -> SendResult:
        try:
            if not self._ready:
                for sub in ("tmp", "new", "cur"):
                    (self.path / sub).mkdir(parents=True, exist_ok=True)
                self._ready = True
            self._written += 1
            name = f"{self._prefix}Q{self._written}.{socket.gethostname()}"
            temporary = self.path / "tmp" / name
            # Maildir files use the local line ending; CRLF is only SMTP's wire form.
            with open(temporary, "xb") as file:
                file.write(raw.replace("\r\n", "\n").encode("utf-8"))
            os.rename(temporary, self.path / "new" / name)
        except OSError as exc:
            return SendResult(SendOutcome.MAILBOX_DOWN, f"outbox {self.path}: {exc}")
        return SendResult(SendOutcome.SENT, f"outbox {name}")

    def close(self) -> None:
        if self._written:
            os.sync()
            self._written = 0


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """`smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://…:465`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise InvalidInput(
                "an SMTP URL looks like smtp://user:pass@host:587 or smtps://user:pass@host:465"
            )
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
        )

    def __repr__(self) -> str:  # never show the password
        return f"SmtpSettings({self.host}:{self.port}, user={self.username!r})"


class SmtpTransport:
    """One connection reused for every message of a tick; reconnects after trouble."""

    def __init__(self, settings: SmtpSettings, local_hostname: str | None = None) -> None:
        self.settings = settings
        self.local_hostname = local_hostname
        self._client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if s.implicit_tls:
            client = smtplib.SMTP_SSL(
                s.host, s.port, local_hostname=self.local_hostname, timeout=CONNECT_TIMEOUT_S, context=context
            )
            client.ehlo()
        else:
            client = smtplib.SMTP(
                s.host, s.port, local_hostname=self.local_hostname, timeout=CONNECT_TIMEOUT_S
            )
            client.ehlo()
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()  # the session restarts after STARTTLS
        if s.username:
            client.login(s.username, s.password or "")
        return client

    def send(self, envelope_from: str, recipient: str, raw: str) -> SendResult:
        if self._client is None:
            try:
                self._client = self._connect()
            except smtplib.SMTPAuthenticationError as exc:
                return SendResult(SendOutcome.MAILBOX_DOWN, f"SMTP login refused: {exc.smtp_code}")
            except (OSError, smtplib.SMTPException) as exc:
                return SendResult(
                    SendOutcome.MAILBOX_DOWN,
                    f"cannot reach {self.settings.host}:{self.settings.port}: {_describe(exc)}",
                )
        client = self._client
        try:
            code, reply = client.mail(envelope_from)
            if code != 250:
                self._reset()
                return _refused(code, reply, "MAIL FROM", recipient_level=False)
            code, reply = client.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                return _refused(code, reply, "RCPT TO", recipient_level=True)
            code, reply = client.docmd("DATA")
            if code != 354:
                self._reset()
                return _refused(code, reply, "DATA", recipient_level=False)
        except (OSError, smtplib.SMTPException) as exc:
            # Nothing was handed over yet: certainly not sent.
            self._drop()
            return SendResult(SendOutcome.TRANSIENT, f"connection lost before the message: {_describe(exc)}")
        try:
            payload = smtplib.quotedata(raw)
            if not payload.endswith("\r\n"):
                payload += "\r\n"
            client.send((payload + ".\r\n").encode("utf-8"))
            code, reply = client.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            # The message (perhaps with its final dot) left us; whether the server took it is unknowable.
            self._drop()
            return SendResult(
                SendOutcome.UNKNOWN, f"connection lost after the message was sent: {_describe(exc)}"
            )
        if code == 250:
            return SendResult(SendOutcome.SENT, reply.decode(errors="replace"))
        return _refused(code, reply, "end of DATA", recipient_level=False)

    def _reset(self) -> None:
        try:
            if self._client is not None:
                self._client.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}".strip()


def _refused(code: int, reply: bytes, stage: str, *, recipient_level: bool) -> SendResult:
    text = f"{code} {reply.decode(errors='replace')} ({stage})"
    if 400 <= code < 500 or code < 200:
        return SendResult(SendOutcome.TRANSIENT, text)
    if recipient_level:
        return SendResult(SendOutcome.REJECTED, text)
    if stage == "MAIL FROM":
        return SendResult(SendOutcome.MAILBOX_DOWN, text)
    return SendResult(SendOutcome.FAILED, text)
