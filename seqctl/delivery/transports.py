"""Where messages go: SMTP for real, a Maildir outbox by default, memory for tests.

Each transport reports a SendResult rather than raising, so the tick can tell apart
"certainly not sent" (retry), "the server refused this recipient" (bounce),
"the mailbox's server is unusable" (pause the mailbox) and "we cannot know" (unknown).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import smtplib
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from seqctl.delivery.sasl import BearerToken, LoginRefused, bearer_login
from seqctl.errors import AuthorisationExpired, InvalidInput, TokenUnavailable
from seqctl.server_urls import parse_server_url
from seqctl.tls import TlsPolicy, TlsRequired, describe_tls_failure

CONNECT_TIMEOUT_S = 30


class SendOutcome(enum.Enum):
    SENT = "sent"
    TRANSIENT = "transient"  # not sent; try again later (4xx, connection trouble before DATA)
    REJECTED = "rejected"  # the server refused the recipient for good (5xx on RCPT)
    FAILED = "failed"  # the server refused this message for good (5xx on DATA)
    MAILBOX_DOWN = "mailbox_down"  # cannot connect or log in: not this message's fault
    MAILBOX_HELD = "mailbox_held"  # its authorisation is gone: hold the mailbox until an operator acts
    UNKNOWN = "unknown"  # the connection broke after the message was handed over


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    detail: str = ""


class Transport:
    """How a mailbox's messages leave. `send` reports what happened instead of raising.

    After a crash the tick asks `recover` what became of a message whose intent was
    committed but whose outcome was not: SENT, TRANSIENT (certainly not delivered) or None
    when nobody can know (SMTP). Only a transport that can always answer may have more
    than one send in flight (`in_flight`): the tick then commits that many intents in one
    durable transaction, having `stage`d each message first.
    """

    in_flight = 1

    def stage(self, message_id: str, attempt: int, raw: str) -> None:
        return None

    def discard(self, message_id: str, attempt: int) -> None:
        return None

    def send(
        self, envelope_from: str, recipient: str, raw: str, *, message_id: str, attempt: int = 1
    ) -> SendResult:
        raise NotImplementedError

    def recover(self, message_id: str, attempt: int) -> SendOutcome | None:
        return None

    def close(self) -> None:
        return None


@dataclass
class MemoryTransport(Transport):
    """Keeps messages in a list; for tests and `--dry-run`-like uses."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(
        self, envelope_from: str, recipient: str, raw: str, *, message_id: str, attempt: int = 1
    ) -> SendResult:
        self.sent.append((envelope_from, recipient, raw))
        return SendResult(SendOutcome.SENT)


class MaildirTransport(Transport):
    """Delivers into a Maildir: each message is written to tmp/ (staged) and renamed into
    new/ (delivered), so a reader never sees half a message.

    A message's file name comes from its Message-ID, and its staged name also carries the
    attempt, which makes every outcome checkable after a crash: staged and never renamed
    means not delivered (and `recover` withdraws the staged file, so a tick that lost its
    claim can no longer deliver it); found in new/ or cur/ means delivered. That is what
    lets the tick commit many intents per durable transaction for this transport.

    Files are not fsynced one by one (that would cost more than the rest of a send); the
    transport flushes the file system once when the tick closes it. A power cut during a
    tick can therefore lose the newest files, never duplicate one.
    """

    in_flight = 50
    STALE_STAGED = 36 * 3600  # Maildir's rule for abandoned tmp/ files

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False
        self._written = 0
        self._stage_errors: dict[tuple[str, int], str] = {}

    @staticmethod
    def file_name(message_id: str) -> str:
        return "seqctl." + hashlib.sha256(message_id.encode()).hexdigest()[:32]

    def _staged(self, message_id: str, attempt: int) -> Path:
        return self.path / "tmp" / f"{self.file_name(message_id)}.{attempt}"

    def _prepare_folders(self) -> None:
        if self._ready:
            return
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - self.STALE_STAGED
        for staged in (self.path / "tmp").glob("seqctl.*"):  # left by a tick killed before its intents
            with contextlib.suppress(OSError):
                if staged.stat().st_mtime < cutoff:
                    staged.unlink()
        self._ready = True

    def stage(self, message_id: str, attempt: int, raw: str) -> None:
        try:
            self._prepare_folders()
            # Maildir files use the local line ending; CRLF is only SMTP's wire form.
            with open(self._staged(message_id, attempt), "wb") as file:
                file.write(raw.replace("\r\n", "\n").encode("utf-8"))
        except OSError as exc:  # reported by `send`
            self._stage_errors[(message_id, attempt)] = f"outbox {self.path}: {exc}"

    def discard(self, message_id: str, attempt: int) -> None:
        with contextlib.suppress(OSError):
            self._staged(message_id, attempt).unlink()

    def send(
        self, envelope_from: str, recipient: str, raw: str, *, message_id: str, attempt: int = 1
    ) -> SendResult:
        """Deliver what `stage` wrote; never writes the message again, because a staged file
        that is gone was withdrawn by the tick that took the claim over."""
        if (error := self._stage_errors.pop((message_id, attempt), None)) is not None:
            return SendResult(SendOutcome.MAILBOX_DOWN, error)
        name = self.file_name(message_id)
        try:
            os.rename(self._staged(message_id, attempt), self.path / "new" / name)
        except FileNotFoundError:
            return SendResult(SendOutcome.TRANSIENT, f"outbox {self.path}: the staged message was withdrawn")
        except OSError as exc:
            return SendResult(SendOutcome.MAILBOX_DOWN, f"outbox {self.path}: {exc}")
        self._written += 1
        return SendResult(SendOutcome.SENT, f"outbox {name}")

    def recover(self, message_id: str, attempt: int) -> SendOutcome | None:
        try:
            self._staged(message_id, attempt).unlink()
            return SendOutcome.TRANSIENT  # withdrawn before anyone renamed it: never delivered
        except FileNotFoundError:
            pass
        except OSError:
            return None
        name = self.file_name(message_id)
        if (self.path / "new" / name).exists() or any((self.path / "cur").glob(name + "*")):
            return SendOutcome.SENT
        return None  # delivered and already taken by a reader, or lost with a power cut

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
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    bearer: BearerToken | None = field(default=None, compare=False)  # OAuth instead of the password

    @classmethod
    def from_url(cls, url: str, tls: TlsPolicy | None = None, *, bearer: BearerToken | None = None) -> SmtpSettings:
        """`smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://…:465`, with
        optional `?tls=require&ca_file=/path` over the mailbox's `tls`. With `bearer`, the
        login is XOAUTH2 as the URL's user, else as the token's account."""
        parts = parse_server_url(
            url, kind="SMTP URL", ports={"smtp": 587, "smtps": 465}, example="smtp://user:pass@host:587"
        )
        return cls(
            host=parts.host,
            port=parts.port,
            username=parts.username or (bearer.account if bearer else None),
            password=parts.password,
            implicit_tls=parts.scheme == "smtps",
            tls=(tls or TlsPolicy()).with_query(parts.query, where="SMTP URL"),
            bearer=bearer,
        )

    def __repr__(self) -> str:  # never show the password
        return f"SmtpSettings({self.host}:{self.port}, user={self.username!r})"


class SmtpTransport(Transport):
    """One connection reused for every message of a tick; reconnects after trouble."""

    def __init__(self, settings: SmtpSettings, local_hostname: str | None = None) -> None:
        self.settings = settings
        self.local_hostname = local_hostname
        self._client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = s.tls.context()
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
            elif s.tls.require:
                client.close()
                raise TlsRequired()
        if s.bearer is not None and s.username:
            try:
                bearer_login(
                    set(client.esmtp_features.get("auth", "").split()), s.bearer, s.username, s.host, s.port,
                    lambda name, exchange: client.auth(
                        name, lambda challenge=None: exchange(challenge).decode("ascii")
                    ),
                    smtplib.SMTPAuthenticationError, "SMTP",
                )  # fmt: skip
            except BaseException:
                client.close()
                raise
        elif s.username:
            client.login(s.username, s.password or "")
        return client

    def send(
        self, envelope_from: str, recipient: str, raw: str, *, message_id: str, attempt: int = 1
    ) -> SendResult:
        if self._client is None:
            try:
                self._client = self._connect()
            except smtplib.SMTPAuthenticationError as exc:
                return SendResult(SendOutcome.MAILBOX_DOWN, f"SMTP login refused: {exc.smtp_code}")
            except AuthorisationExpired as exc:
                return SendResult(SendOutcome.MAILBOX_HELD, exc.message)
            except (TokenUnavailable, LoginRefused) as exc:
                return SendResult(SendOutcome.MAILBOX_DOWN, str(exc))
            except InvalidInput as exc:  # an unreadable ca_file
                return SendResult(SendOutcome.MAILBOX_DOWN, exc.message)
            except (OSError, smtplib.SMTPException, TlsRequired) as exc:
                if tls_problem := describe_tls_failure(exc, f"{self.settings.host}:{self.settings.port}"):
                    return SendResult(SendOutcome.MAILBOX_DOWN, tls_problem)
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
