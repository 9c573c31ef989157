"""Reading a mailbox's folder over IMAP: only what an earlier sync has not seen.

A folder's messages are named by (UIDVALIDITY, UID). UIDs only grow while UIDVALIDITY
stays the same, so "new" is one `UID SEARCH` above the last UID read; when the server
changes UIDVALIDITY (the folder was recreated or rebuilt) every old UID is void and the
caller rescans from the start, recognising what it read before by Message-ID.

Messages are fetched with BODY.PEEK so that reading them does not mark them read for the
person who shares the mailbox. The password lives only in the `ImapTarget`; its repr and
every error leave it out.
"""

from __future__ import annotations

import base64
import imaplib
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from seqctl.delivery.sasl import BearerToken, LoginRefused, bearer_login
from seqctl.errors import InvalidInput, TokenUnavailable
from seqctl.server_urls import parse_server_url
from seqctl.tls import TlsPolicy, TlsRequired, describe_tls_failure

FETCH_CHUNK = 100
TIMEOUT_SECONDS = 60
_UID = re.compile(rb"\bUID (\d+)")


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str
    implicit_tls: bool
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    bearer: BearerToken | None = field(default=None, repr=False, compare=False)  # OAuth instead of the password

    def describe(self) -> str:
        scheme = "imaps" if self.implicit_tls else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


def parse_imap_url(
    url: str, *, where: str, tls: TlsPolicy | None = None, bearer: BearerToken | None = None
) -> ImapTarget:
    """`imaps://user:pass@host:993/INBOX` (implicit TLS) or `imap://…:143/Folder`
    (STARTTLS when the server offers it), with optional `?tls=require&ca_file=/path` over
    the mailbox's `tls`. User and password are percent-decoded. With `bearer` the login is
    XOAUTH2 (or OAUTHBEARER) as the URL's user, else as the token's account, and there is no
    password."""
    parts = parse_server_url(
        url, kind=f"{where}: IMAP URL", ports={"imap": 143, "imaps": 993},
        example="imaps://user:pass@host:993/INBOX",
    )  # fmt: skip
    if bearer is not None:
        if parts.password is not None:
            raise InvalidInput(f"{where}: the IMAP URL holds a password, but the mailbox logs in with oauth")
        if not (parts.username or bearer.account):
            raise InvalidInput(f"{where}: the IMAP URL needs the user to log in as (imaps://user@host/INBOX)")
    elif not parts.username or parts.password is None:
        raise InvalidInput(f"{where}: the IMAP URL needs a user and a password (imaps://user:pass@host/INBOX)")
    return ImapTarget(
        host=parts.host,
        port=parts.port,
        user=parts.username or (bearer.account if bearer else ""),
        password=parts.password or "",
        bearer=bearer,
        folder=parts.path.lstrip("/") or "INBOX",
        implicit_tls=parts.scheme == "imaps",
        tls=(tls or TlsPolicy()).with_query(parts.query, where=where),
    )


class ImapError(Exception):
    """The server could not be reached, refused the login or the folder; never holds the password."""


class ImapFolder:
    """One logged-in, read-only view of a folder."""

    def __init__(self, target: ImapTarget) -> None:
        self.target = target
        self._client: imaplib.IMAP4 | None = None
        self.uidvalidity = 0

    def __enter__(self) -> ImapFolder:
        target = self.target
        try:
            context = target.tls.context()
            if target.implicit_tls:
                client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    target.host, target.port, ssl_context=context, timeout=TIMEOUT_SECONDS
                )
            else:
                client = imaplib.IMAP4(target.host, target.port, timeout=TIMEOUT_SECONDS)
                self._client = client
                if "STARTTLS" in client.capabilities:
                    client.starttls(ssl_context=context)
                elif target.tls.require:
                    raise TlsRequired()
            self._client = client
            if target.bearer is not None:
                offered = {c[5:] for c in client.capabilities if c.upper().startswith("AUTH=")}
                bearer_login(
                    offered, target.bearer, target.user, target.host, target.port, client.authenticate,
                    imaplib.IMAP4.error, "IMAP",
                )  # fmt: skip
            else:
                client.login(target.user, target.password)
            status, _ = client.select(_quoted(target.folder), readonly=True)
            if status != "OK":
                raise ImapError(f"{target.describe()}: no folder {target.folder!r}")
            validity = client.response("UIDVALIDITY")[1]
            if not validity or validity[0] is None:
                raise ImapError(f"{target.describe()}: the server named no UIDVALIDITY")
            self.uidvalidity = int(validity[0])
        except ImapError:
            self.__exit__(None, None, None)
            raise
        except (LoginRefused, TokenUnavailable) as exc:
            self.__exit__(None, None, None)
            raise ImapError(f"{target.describe()}: {exc}") from None
        except (OSError, imaplib.IMAP4.error, ssl.SSLError, ValueError, TlsRequired) as exc:
            self.__exit__(None, None, None)
            if tls_problem := describe_tls_failure(exc, target.describe()):
                raise ImapError(tls_problem) from None
            raise ImapError(f"{target.describe()}: {_without(str(exc), target.password)}") from None
        except InvalidInput as exc:  # an unreadable ca_file
            self.__exit__(None, None, None)
            raise ImapError(f"{target.describe()}: {exc.message}") from None
        except BaseException:  # AuthorisationExpired among them: the caller holds the mailbox
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except (OSError, imaplib.IMAP4.error):
                pass

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending. (`N:*` always includes the highest UID, even
        below N, so the answer is filtered.)"""
        data = self._command("SEARCH", "UID", f"{last_uid + 1}:*")
        found = {int(token) for line in data if line for token in line.split()}
        return sorted(uid for uid in found if uid > last_uid)

    def fetch(self, uids: list[int]) -> Iterator[tuple[int, bytes]]:
        """(uid, raw message) for each of these UIDs still there (ask for FETCH_CHUNK at most)."""
        data = self._command("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and (match := _UID.search(item[0])):
                yield int(match.group(1)), item[1]

    def _command(self, name: str, *args: str) -> list[Any]:
        assert self._client is not None
        try:
            status, data = self._client.uid(name, *args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"{self.target.describe()}: {name}: {exc}") from None
        if status != "OK":
            raise ImapError(f"{self.target.describe()}: {name} refused: {data!r}")
        return list(data)


def _quoted(folder: str) -> str:
    encoded = mailbox_name(folder)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_name(folder: str) -> str:
    """A folder name as IMAP writes it (RFC 3501 §5.1.3, modified UTF-7): printable ASCII
    as is ("&" as "&-"), anything else as "&" + base64 of its UTF-16BE + "-"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in folder:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _without(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
